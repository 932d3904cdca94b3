package sbom

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
)

// CycloneDX returns the document as a CycloneDX BOM: the image is the
// metadata component (type container, with its base as pedigree
// ancestor), the RPMs are library components it depends on. The serial
// number is a name-based UUID of the document's content, so the same
// input gives the same BOM.
func (d *Document) CycloneDX() *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewHash(sha256.New(), uuid.NameSpaceURL, []byte(d.Namespace), 5).String()
	img := imageComponent(d.Image)
	if d.Base != nil {
		img.Pedigree = &cdx.Pedigree{Ancestors: &[]cdx.Component{imageComponent(*d.Base)}}
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: d.Created.Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication,
			Name: d.Creator,
		}}},
		Component: &img,
	}
	comps := make([]cdx.Component, 0, len(d.Packages))
	refs := make([]string, 0, len(d.Packages))
	for _, p := range d.Packages {
		c := cdx.Component{
			BOMRef:     p.PURL,
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.VersionString(),
			PackageURL: p.PURL,
		}
		if p.Vendor != "" {
			c.Supplier = &cdx.OrganizationalEntity{Name: p.Vendor}
		}
		var props []cdx.Property
		if p.SourceRPM != "" {
			props = append(props, cdx.Property{Name: "openabs:rpm:sourceRPM", Value: p.SourceRPM})
		}
		if p.Module != "" {
			props = append(props, cdx.Property{Name: "openabs:rpm:module", Value: p.Module})
		}
		if len(props) > 0 {
			c.Properties = &props
		}
		comps = append(comps, c)
		refs = append(refs, p.PURL)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: img.BOMRef, Dependencies: &refs}}
	return bom
}

func imageComponent(img Image) cdx.Component {
	purl := img.PackageURL()
	c := cdx.Component{
		BOMRef:     purl,
		Type:       cdx.ComponentTypeContainer,
		Name:       img.Repository,
		Version:    img.Digest,
		PackageURL: purl,
	}
	if alg, hex, ok := strings.Cut(img.Digest, ":"); ok && alg == "sha256" {
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex}}
	}
	return c
}

// WriteCycloneDX writes the CycloneDX 1.6 JSON form of the document to w,
// indented.
func (d *Document) WriteCycloneDX(w io.Writer) error {
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(d.CycloneDX(), cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("sbom: write CycloneDX: %w", err)
	}
	return nil
}
