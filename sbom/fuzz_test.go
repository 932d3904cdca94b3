package sbom_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/package-url/packageurl-go"

	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/sbom"
)

// Package names, versions and vendors come from the rpmdb of an image:
// outside input. Whatever they hold, the purl parses back to the same
// fields and both documents are valid JSON.
func FuzzPackage(f *testing.F) {
	f.Add("openssl-libs", 1, "3.0.7", "27.el9", "x86_64", "Red Hat, Inc.", "rhel")
	f.Add("libstdc++", 0, "11.4.1", "1.module+el9.4.0+21731+46b5c7a9", "noarch", "", "")
	f.Add("we/ird name?&=#", 2, "1:2", "a b", "x86_64&epoch=3", "Fedora Project", "fedora")
	f.Add("", 0, "", "", "", "\x00", "\xff")
	f.Fuzz(func(t *testing.T, name string, epoch int, version, release, arch, vendor, osID string) {
		if name == "" {
			return // rpmdbs have no nameless packages; purls require a name
		}
		p := rpmscan.Package{Name: name, Epoch: epoch, Version: version, Release: release, Arch: arch, Vendor: vendor}
		os := rpmscan.OS{ID: osID}
		purl := sbom.PackageURL(p, sbom.Namespace(p, os))
		u, err := packageurl.FromString(purl)
		if err != nil {
			t.Fatalf("%q does not parse: %v", purl, err)
		}
		if u.Name != name || u.Qualifiers.Map()["arch"] != arch {
			t.Fatalf("%q parses to name %q arch %q", purl, u.Name, u.Qualifiers.Map()["arch"])
		}
		doc, err := sbom.New(&rpmscan.Inventory{OS: os, Packages: []rpmscan.Package{p}},
			sbom.Image{Repository: "reg.example/app", Digest: "sha256:" + string(bytes.Repeat([]byte("a"), 64))})
		if err != nil {
			t.Fatal(err)
		}
		var s, c bytes.Buffer
		if err := doc.WriteSPDX(&s); err != nil {
			t.Fatal(err)
		}
		if err := doc.WriteCycloneDX(&c); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(s.Bytes()) || !json.Valid(c.Bytes()) {
			t.Fatal("invalid JSON")
		}
	})
}
