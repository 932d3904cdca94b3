// Package partnerapi is a client for the Red Hat Partner Connect catalog
// API (Pyxis, https://catalog.redhat.com/api/containers/v1): the service
// that records certification projects, their container images, the
// images' RPMs, vulnerabilities and health grades, and that publishes
// images on request.
//
// The package owns the wire types (Project, Image, RPMManifest,
// Vulnerability, Repository, ImageRequest, ScanRequest, BuildRequest),
// which keep the catalog's own JSON field names, and the Client that reads
// and changes them.
//
//	c, err := partnerapi.New(secret.New(os.Getenv("PARTNERAPI_KEY")))
//	if err != nil { ... }
//	p, err := c.Project(ctx, projectID)
//	if errors.Is(err, partnerapi.ErrNotFound) { ... }
//	for img, err := range c.ProjectImages(ctx, projectID, &partnerapi.ListOptions{
//		Filter: partnerapi.Eq("repositories.tags.name", "1.0"),
//	}) {
//		if err != nil { ... }
//		fmt.Println(img.ID, img.GradeAt(time.Now()))
//	}
//	req, err := c.CreateImageRequest(ctx, projectID, partnerapi.ImageRequest{
//		ImageID: imageID, Operation: partnerapi.OperationPublish,
//	})
//	req, err = c.WaitImageRequest(ctx, req.ID)
//
// Lists are iterators (iter.Seq2) that fetch one page at a time as the
// loop advances. Filters are built with Eq, Ne, In, NotIn, And and Or,
// which quote values so that user input cannot change the expression.
//
// Errors answered by the API are *Error values carrying the RFC 7807 body
// (status, title, detail, trace id); errors.Is matches ErrNotFound (404),
// ErrConflict (409) and ErrUnauthorized (401, 403). Requests answered 408,
// 429 or 5xx are retried with exponential backoff, honouring Retry-After.
// The API key is an APIKey, which never prints its value: it cannot leak
// into an error, a log line or a JSON dump.
//
// Package partnerapitest provides an in-memory fake of the API for tests.
package partnerapi
