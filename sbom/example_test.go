package sbom_test

import (
	"fmt"
	"log"
	"time"

	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/sbom"
)

// Describe a rebuilt image from its inventory and write the SPDX document
// (here: the package URLs it lists).
func ExampleNew() {
	inv := &rpmscan.Inventory{
		OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"},
		Packages: []rpmscan.Package{
			{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: "27.el9", Arch: "x86_64", Vendor: "Red Hat, Inc."},
			{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64", Vendor: "Red Hat, Inc."},
		},
	}
	doc, err := sbom.New(inv, sbom.Image{
		Repository: "registry.example.com/team/app",
		Digest:     "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
		Tag:        "1.2.3-5",
	}, sbom.WithClock(func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc.Image.PackageURL())
	for _, p := range doc.Packages {
		fmt.Println(p.PURL)
	}
	spdx := doc.SPDX()
	fmt.Println(spdx.SPDXVersion, len(spdx.Packages), "packages", spdx.CreationInfo.Created)
	// Output:
	// pkg:oci/app@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0?repository_url=registry.example.com%2Fteam%2Fapp&tag=1.2.3-5
	// pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64
	// pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1
	// SPDX-2.3 3 packages 2026-12-01T00:00:00Z
}
