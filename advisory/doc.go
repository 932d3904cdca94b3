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
// Matching follows RPM and Red Hat rules: same package name, compatible
// arch, installed EVR strictly older than the fixed EVR under rpmvercmp
// ordering, the same module stream, and a product that applies to the
// image (the CPEs of its content sets, extended-support streams also
// matching the main stream; without content sets, the RHEL major from
// os-release or the packages' .elN suffix).
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
