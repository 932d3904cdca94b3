// Package advisory turns published security advisories into exact
// findings for an image's RPMs.
//
// It owns:
//   - the model: Advisory (an erratum and the package builds it ships, each
//     a Fix for one product and CPE), VEX (one CVE's fixed, affected and
//     not-affected components) and Finding (an advisory not applied to an
//     installed package);
//   - parsers: ParseCSAF for Red Hat CSAF v2 advisories and VEX documents,
//     ParseOSV for OSV records of other RPM distributions, Parse for either;
//   - sources, behind the Source extension point: NewCSAF (Red Hat's feed,
//     synced incrementally from a Cursor the caller stores), NewDir (a local
//     directory) and NewOSV (a directory or an osv.dev-style bucket), merged
//     with Combine and kept in memory by a Store;
//   - RepoCPE, Red Hat's repository-to-CPE map (LoadRepoCPE), and CPEMatch;
//   - Index, built once from advisories and queried many times with Match,
//     Unfixed and Report.
//
// Matching follows RPM rules (same package name, compatible arch, installed
// EVR strictly older than the fixed EVR under rpmvercmp ordering, the same
// module stream) and Red Hat's "Technical Guidance for Vulnerability
// Scanning Vendors" for products. Each Finding's Match names the rule that
// made its product apply, and Finding.Path shows the way from content set
// to fixed build:
//
//  1. the image's content sets map to CPEs through repository-to-cpe.json
//     (MatchContentSet);
//  2. CPEs compare on their first five segments: the part (/o or /a) is
//     kept and the channel ("::baseos") dropped, so a BaseOS-only image
//     never gets AppStream fixes (CPEMatch);
//  3. a product CPE with the major version only, as unfixed entries carry
//     it, applies to an image CPE of that major with a minor
//     ("openshift:4" to "openshift:4.16", MatchMajorVersion);
//  4. an image built from an extended-support stream (EUS, AUS, E4S, TUS)
//     also checks its main stream, but only for a CVE that is unfixed or
//     has no fix released to the image's own stream (MatchMainStream): an
//     8.6 EUS image holding its stream's firefox build is not reported for
//     the main stream's newer build of the same CVEs;
//  5. container-first content checks the product CPEs of its version: a
//     container-image advisory (products "pkg:oci/…", Advisory.Images)
//     fixing the image's Red Hat base (rpmscan.Inventory.Base, with its
//     version from the base's tag or buildinfo) is a finding of the base
//     unless the base is one of its fixed images or newer than it
//     (MatchBaseImage).
//
// Without content sets the map knows, the RHEL major from os-release or
// the packages' .elN suffix decides (MatchOSRelease), checking both parts
// up to RHEL 9 and every minor from RHEL 10 on.
//
// An advisory often ships one build per stream (say 9.0 EUS, 9.2 EUS and
// the main stream). The builds for the image's own streams decide whether
// it is applied: an EUS image holding its stream's build has applied the
// advisory though the main stream's build is newer. When the image's
// content sets name several streams and the installed package lies
// between their builds, the package's ".elN_M" release tag tells which
// stream it came from; without that evidence the advisory is reported,
// since a missed finding costs more than a superfluous one.
//
// Typical use:
//
//	st, skipped, err := advisory.Load(ctx, []string{advisory.DefaultCSAFURL})
//	repo, err := advisory.LoadRepoCPE(ctx, advisory.DefaultRepoCPEURL, advisory.WithCacheDir(dir))
//	ix := st.Index(advisory.WithRepoCPE(repo))
//	for _, f := range ix.Match(inventory) {
//		fmt.Println(f.Advisory, f.Severity, f.Package, f.Installed, "->", f.Fixed)
//	}
//
// A long-running service instead calls Source.Fetch with the Cursor it
// stored last time, applies the Batch to its own storage, and rebuilds the
// Index; Index.PackageNames lists the packages an advisory fixes, for a
// reverse index from advisories to images.
package advisory
