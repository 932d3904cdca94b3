package sbom

import (
	"fmt"
	"io"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

const noAssertion = "NOASSERTION"

// SPDX element ids of the image and its base.
const (
	SPDXImageID = "Image"
	SPDXBaseID  = "Base"
)

// SPDX returns the document as an SPDX 2.3 document: the image (purpose
// CONTAINER) described by the document, each RPM contained in it, and the
// base image it descends from.
func (d *Document) SPDX() *spdx.Document {
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    common.ElementID("DOCUMENT"),
		DocumentName:      d.Image.Repository + "@" + d.Image.Digest,
		DocumentNamespace: d.Namespace,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: d.Creator}},
			Created:  d.Created.Format(time.RFC3339),
		},
	}
	doc.Packages = append(doc.Packages, imagePackage(SPDXImageID, d.Image))
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA:         common.MakeDocElementID("", "DOCUMENT"),
		RefB:         common.MakeDocElementID("", SPDXImageID),
		Relationship: common.TypeRelationshipDescribe,
	})
	if d.Base != nil {
		doc.Packages = append(doc.Packages, imagePackage(SPDXBaseID, *d.Base))
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", SPDXImageID),
			RefB:         common.MakeDocElementID("", SPDXBaseID),
			Relationship: common.TypeRelationshipDescendantOf,
		})
	}
	for _, p := range d.Packages {
		id := elementID("Package-rpm", p.Name, p.PURL)
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   common.ElementID(id),
			PackageVersion:          p.VersionString(),
			PackageSupplier:         &common.Supplier{Supplier: noAssertion},
			PackageDownloadLocation: noAssertion,
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  noAssertion,
			PackageCopyrightText:    noAssertion,
			PackageExternalReferences: []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager,
				RefType:  common.TypePackageManagerPURL,
				Locator:  p.PURL,
			}},
		}
		if p.Vendor != "" {
			sp.PackageSupplier = &common.Supplier{SupplierType: "Organization", Supplier: p.Vendor}
		}
		if p.SourceRPM != "" {
			sp.PackageSourceInfo = "built package from: " + p.SourceRPM
		}
		if p.Module != "" {
			sp.PackageComment = "module: " + p.Module
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", SPDXImageID),
			RefB:         common.MakeDocElementID("", id),
			Relationship: common.TypeRelationshipContains,
		})
	}
	return doc
}

func imagePackage(id string, img Image) *spdx.Package {
	p := &spdx.Package{
		PackageName:             img.Name(),
		PackageSPDXIdentifier:   common.ElementID(id),
		PackageVersion:          img.Digest,
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
		PrimaryPackagePurpose:   "CONTAINER",
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager,
			RefType:  common.TypePackageManagerPURL,
			Locator:  img.PackageURL(),
		}},
	}
	if alg, hex, ok := strings.Cut(img.Digest, ":"); ok && alg == "sha256" {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: hex}}
	}
	return p
}

// WriteSPDX writes the SPDX 2.3 JSON form of the document to w, indented
// with two spaces.
func (d *Document) WriteSPDX(w io.Writer) error {
	if err := spdxjson.Write(d.SPDX(), w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return fmt.Errorf("sbom: write SPDX: %w", err)
	}
	return nil
}
