package sbom_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/sbom"
)

// BenchmarkWrite writes both formats for an image of 400 RPMs (a UBI
// image has about 200, a full RHEL image about 400).
//
//	go test ./sbom/ -run XXX -bench Write
func BenchmarkWrite(b *testing.B) {
	inv := &rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel"}}
	for i := range 400 {
		inv.Packages = append(inv.Packages, rpmscan.Package{
			Name: fmt.Sprintf("pkg-%03d", i), Epoch: i % 3, Version: "1.0", Release: "1.el9", Arch: "x86_64",
			Vendor: "Red Hat, Inc.", SourceRPM: fmt.Sprintf("pkg-%03d-1.0-1.el9.src.rpm", i),
		})
	}
	img := sbom.Image{Repository: "registry.example.com/team/app", Digest: imgDigest}
	for _, format := range []string{"spdx", "cyclonedx"} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				doc, err := sbom.New(inv, img)
				if err != nil {
					b.Fatal(err)
				}
				if format == "spdx" {
					err = doc.WriteSPDX(io.Discard)
				} else {
					err = doc.WriteCycloneDX(io.Discard)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
