// Package partnerapitest provides an in-memory fake of the catalog API that
// package partnerapi talks to, for tests of code that uses the client.
//
// Start serves a Fake on loopback for the length of a test and hands out
// clients wired to it:
//
//	srv := partnerapitest.Start(t)
//	p, _ := srv.AddProject(partnerapi.Project{Name: "widget",
//		Container: partnerapi.ProjectContainer{AutoRebuild: true, AutoPublish: true}})
//	img, _ := srv.AddImage(partnerapi.Image{CertProject: p.ID,
//		DockerImageDigest: "sha256:…", Architecture: "amd64"})
//	c := srv.Client(t)
//	req, _ := c.CreateImageRequest(ctx, p.ID, partnerapi.ImageRequest{
//		ImageID: img.ID, Operation: partnerapi.OperationPublish})
//	req, _ = c.WaitImageRequest(ctx, req.ID) // pending, in progress, completed
//	srv.ImageRequests()                      // what the code under test asked for
//
// The Fake is an http.Handler, so it can also be mounted on a server of
// the test's own. Seed it with AddProject, AddImage, AddRepository,
// SetRPMManifest and SetVulnerabilities; steer it with SetRequestOutcome
// (image requests that fail) and FailNext (transient errors); inspect it
// with Project, Image, ImageRequests, ScanRequests, BuildRequests and
// Calls.
package partnerapitest
