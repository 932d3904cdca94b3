// Package certify runs the certification checks of Red Hat's container
// policy on an image, on every platform, and decides whether a rebuild
// may replace a certified image.
//
// The checks re-implement the container policy of Red Hat's preflight
// tool: HasLicense, HasUniqueTag, LayerCountAcceptable,
// HasNoProhibitedPackages, HasRequiredLabel, HasNoProhibitedLabels,
// RunAsNonRoot, HasModifiedFiles, BasedOnUbi and
// HasProhibitedContainerName. Each gives a [Result]: [Passed], [Failed] or
// [Error], with a reason. [New] returns a [Policy] for one of preflight's
// variants ([Container], [RootException], [ScratchNonRoot],
// [ScratchRoot], [Konflux]).
//
// [Check] is the extension point: a user adds a rule of their own by
// implementing it and calling [Policy.With].
//
//	p, err := certify.New(certify.Container,
//		certify.WithCatalog(client),    // *partnerapi.Client: BasedOnUbi asks the catalog
//		certify.WithFileLister(lister), // HasModifiedFiles: files each RPM installed
//	)
//	rep, err := p.CertifyIndex(ctx, idx, certify.Subject{
//		Repository: "quay.io/acme/widget",
//		Tags:       []string{"1.2-3"},
//	})
//	if d := certify.Gate(current, rep); !d.Allowed {
//		return d.Err() // a *GateError naming each check that blocked
//	}
//
// # What is read
//
// The package reads an image's layers itself, once per platform, with a
// bounded tar walk ([ReadFS]) that honours whiteouts and opaque
// directories and keeps, for every file, its type, mode, size and the
// layer that wrote it; file content is not kept, except small files under
// /root/buildinfo. The RPM inventory comes from rpmscan (an
// [rpmscan.Scanner], or inventories the caller already has in
// [Subject.Inventories]). Tags and the repository come from the caller
// ([Subject]), since an image does not know where it is published.
//
// # The rebuild gate
//
// [Gate] compares the results on the image customers have now with the
// results on its rebuild: every check that passed on a platform must
// still pass there; for a first certification every check must pass.
//
// # Differences from preflight
//
// HasUniqueTag reads the tags given in [Subject] rather than listing the
// registry. BasedOnUbi looks the base up by manifest digest in the catalog
// and requires the catalog's layers to begin the image, where preflight
// asks the catalog for images by uncompressed top layer; without a
// catalog it trusts the /root/buildinfo record that Red Hat's build
// system leaves in its images. HasModifiedFiles decides whether a package
// is Red Hat's by its vendor alone; preflight also compares the
// distribution tag of the release ("el9") with os-release's PLATFORM_ID.
// RunAsNonRoot also treats "0:GROUP" and "root:GROUP" as root. "for Red
// Hat" is allowed at each occurrence rather than once.
package certify
