// Package sbom writes the software bill of materials of a container image
// from its RPM inventory (an [rpmscan.Inventory]): SPDX 2.3 JSON, and
// CycloneDX 1.6 JSON as an option.
//
// A [Document] lists the image itself (an OCI package URL with its
// manifest digest), its base image when known, and every installed RPM with
// the package URL Red Hat writes in its advisories and SBOMs:
//
//	pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1
//
// The formats are produced with the SPDX project's Go module
// (github.com/spdx/tools-golang) and CycloneDX's (github.com/CycloneDX/cyclonedx-go);
// package URLs with github.com/package-url/packageurl-go. The caller may
// keep working with those types ([Document.SPDX], [Document.CycloneDX]) or
// write JSON directly ([Document.WriteSPDX], [Document.WriteCycloneDX]).
//
// Output is deterministic: packages are sorted, identifiers derive from
// the content, and the creation time comes from the clock given with
// [WithClock] (time.Now by default), so that the same image scanned twice
// yields the same bytes.
//
//	doc, err := sbom.New(inv, sbom.Image{
//		Repository: "registry.example.com/team/app",
//		Digest:     res.Digest, // the published digest
//		Tag:        "1.2.3-5",
//	})
//	if err != nil { ... }
//	var buf bytes.Buffer
//	err = doc.WriteSPDX(&buf) // SPDX 2.3 JSON, for cosign's "spdxjson" attestations
//
// The predicate types under which the two formats are attested are
// [PredicateSPDX] and [PredicateCycloneDX].
package sbom
