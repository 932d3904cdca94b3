// Package publish makes rebuilt images available: it pushes them to OCI
// registries and asks certification catalogs to publish them.
//
// Publisher is the extension point. Registry pushes with
// go-containerregistry, Catalog files a publish request with a catalog
// client (such as partnerapi) and waits for it, and Chain runs several in
// order:
//
//	reg := publish.NewRegistry(publish.WithBasicAuth("bot", secret.New(pw)))
//	p := publish.Chain(reg, publish.NewCatalog(pyxis)) // pyxis is a *partnerapi.Client
//	res, err := p.Publish(ctx, publish.Request{
//		Repository:   "registry.example.com/team/app",
//		Image:        img,
//		VersionTag:   "1.2.3-5",
//		FloatingTags: []string{"latest", "1", "1.2"},
//	})
//	log.Println(res.Moved(), err)
//
// # Tag policy
//
// Each rebuild gets an immutable version tag (VersionTag builds
// "VERSION-RELEASE"; Registry.NextRelease gives the next release that no
// tag of the repository holds yet) and the floating
// tags its owner lists. The content is pushed by digest and read back
// before any tag moves; an index is pushed whole before any tag names it.
// An immutable tag that points at another digest is never overwritten
// (ErrImmutableTag, nothing is pushed); one that already points at the
// digest is left as it is, so publishing again after a crash is a no-op
// that succeeds. The Result records every tag (created, moved, unchanged,
// refused, failed, skipped), also when Publish fails part way.
//
// Request.DryRun reports what would be pushed and tagged and changes
// nothing.
//
// # Credentials
//
// Credentials come from a keychain (the docker config file by default),
// from WithBasicAuth (the password kept in a redacting Secret), or none
// (WithAnonymous). Plain HTTP is refused unless WithPlainHTTP allows it
// for loopback registries.
package publish
