package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver"
	"github.com/openabs/abs/sbom"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	imgDigest  = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	baseDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

var fixed = time.Date(2026, 12, 1, 10, 30, 15, 123, time.UTC)

func inventory() *rpmscan.Inventory {
	return &rpmscan.Inventory{
		Image: rpmscan.ImageInfo{
			Digest: imgDigest,
			Labels: map[string]string{
				sbom.LabelBaseName:   "registry.access.redhat.com/ubi9/ubi-minimal:9.4-1123",
				sbom.LabelBaseDigest: baseDigest,
			},
		},
		OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"},
		Packages: []rpmscan.Package{
			{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: "27.el9", Arch: "x86_64", SourceRPM: "openssl-3.0.7-27.el9.src.rpm", Vendor: "Red Hat, Inc."},
			{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64", SourceRPM: "bash-5.1.8-9.el9.src.rpm", Vendor: "Red Hat, Inc."},
			{Name: "nodejs", Epoch: 1, Version: "18.20.2", Release: "1.module+el9.4.0+21731+46b5c7a9", Arch: "x86_64", Vendor: "Red Hat, Inc.", Module: "nodejs:18:9040020240408170722:rhel9"},
			{Name: "gpg-pubkey", Version: "fd431d51", Release: "4ae0493b"},
			// an exact duplicate is listed once
			{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64", SourceRPM: "bash-5.1.8-9.el9.src.rpm", Vendor: "Red Hat, Inc."},
		},
	}
}

func image() sbom.Image {
	return sbom.Image{Repository: "registry.example.com/team/app", Digest: imgDigest, Tag: "1.2.3-5", Arch: "amd64"}
}

func newDoc(t *testing.T, opts ...sbom.Option) *sbom.Document {
	t.Helper()
	doc, err := sbom.New(inventory(), image(), append([]sbom.Option{sbom.WithClock(func() time.Time { return fixed })}, opts...)...)
	require.NoError(t, err)
	return doc
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./sbom/ -update to create %s", path)
	assert.Equal(t, string(want), string(got), "%s differs; rerun with -update if the change is intended", path)
}

func TestSPDXGolden(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, newDoc(t).WriteSPDX(&buf))
	golden(t, "app.spdx.json", buf.Bytes())

	// The SPDX tools read it back as a valid 2.3 document.
	doc, err := spdxjson.Read(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.NoError(t, spdxlib.ValidateDocument(doc))
	assert.Equal(t, "SPDX-2.3", doc.SPDXVersion)
	described, err := spdxlib.GetDescribedPackageIDs(doc)
	require.NoError(t, err)
	require.Len(t, described, 1)
	assert.EqualValues(t, sbom.SPDXImageID, described[0])
	require.Len(t, doc.Packages, 2+4, "image, base and four distinct RPMs")
	purls := map[string]bool{}
	for _, p := range doc.Packages {
		for _, r := range p.PackageExternalReferences {
			purls[r.Locator] = true
		}
	}
	for _, want := range []string{
		"pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1",
		"pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64",
		"pkg:rpm/redhat/gpg-pubkey@fd431d51-4ae0493b",
	} {
		assert.True(t, purls[want], "missing %s", want)
	}
	for _, want := range []struct{ name, digest, repo, tag string }{
		{"app", imgDigest, "registry.example.com/team/app", "1.2.3-5"},
		{"ubi-minimal", baseDigest, "registry.access.redhat.com/ubi9/ubi-minimal", "9.4-1123"},
	} {
		found := false
		for s := range purls {
			u, err := packageurl.FromString(s)
			require.NoError(t, err, s)
			q := u.Qualifiers.Map()
			if u.Type == "oci" && u.Name == want.name && u.Version == want.digest && q["repository_url"] == want.repo && q["tag"] == want.tag {
				found = true
			}
		}
		assert.True(t, found, "no oci purl for %s", want.name)
	}
}

func TestCycloneDXGolden(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, newDoc(t).WriteCycloneDX(&buf))
	golden(t, "app.cdx.json", buf.Bytes())

	var bom cdx.BOM
	require.NoError(t, cdx.NewBOMDecoder(bytes.NewReader(buf.Bytes()), cdx.BOMFileFormatJSON).Decode(&bom))
	assert.Equal(t, cdx.SpecVersion1_6, bom.SpecVersion)
	require.NotNil(t, bom.Metadata.Component)
	assert.Equal(t, cdx.ComponentTypeContainer, bom.Metadata.Component.Type)
	require.NotNil(t, bom.Metadata.Component.Pedigree)
	assert.Equal(t, baseDigest, (*bom.Metadata.Component.Pedigree.Ancestors)[0].Version)
	require.Len(t, *bom.Components, 4)
	assert.Contains(t, buf.String(), `"specVersion": "1.6"`)
	assert.Contains(t, buf.String(), "http://cyclonedx.org/schema/bom-1.6.schema.json")
}

// The same input gives the same bytes; another clock or another package
// set gives another namespace and serial number.
func TestDeterministic(t *testing.T) {
	write := func(d *sbom.Document) (string, string) {
		var s, c bytes.Buffer
		require.NoError(t, d.WriteSPDX(&s))
		require.NoError(t, d.WriteCycloneDX(&c))
		return s.String(), c.String()
	}
	s1, c1 := write(newDoc(t))
	s2, c2 := write(newDoc(t))
	assert.Equal(t, s1, s2)
	assert.Equal(t, c1, c2)

	later, err := sbom.New(inventory(), image(), sbom.WithClock(func() time.Time { return fixed.Add(time.Hour) }))
	require.NoError(t, err)
	assert.NotEqual(t, newDoc(t).Namespace, later.Namespace)
	assert.NotEqual(t, newDoc(t).CycloneDX().SerialNumber, later.CycloneDX().SerialNumber)
}

func TestBase(t *testing.T) {
	explicit := sbom.Image{Repository: "quay.io/org/base", Digest: baseDigest}
	assert.Equal(t, &explicit, newDoc(t, sbom.WithBase(explicit)).Base)

	inv := inventory()
	inv.Image.Labels = nil
	doc, err := sbom.New(inv, image())
	require.NoError(t, err)
	assert.Nil(t, doc.Base)
	s := doc.SPDX()
	assert.Len(t, s.Packages, 1+4)
	for _, r := range s.Relationships {
		assert.NotEqual(t, "DESCENDANT_OF", r.Relationship)
	}

	inv.Image.Labels = map[string]string{sbom.LabelBaseName: "localhost:5000/base@sha256:ignored", sbom.LabelBaseDigest: baseDigest}
	doc, err = sbom.New(inv, image())
	require.NoError(t, err)
	assert.Equal(t, &sbom.Image{Repository: "localhost:5000/base", Digest: baseDigest}, doc.Base)

	// The scanner's (or the caller's) Base wins over the labels.
	inv.Base = &rpmscan.BaseImage{Name: "registry.redhat.io/ubi9/ubi:9.4", Digest: imgDigest, Source: "annotation"}
	doc, err = sbom.New(inv, image())
	require.NoError(t, err)
	assert.Equal(t, &sbom.Image{Repository: "registry.redhat.io/ubi9/ubi", Tag: "9.4", Digest: imgDigest}, doc.Base)
	inv.Base = &rpmscan.BaseImage{Name: "registry.redhat.io/ubi9/ubi:9.4"} // no digest: labels again
	doc, err = sbom.New(inv, image())
	require.NoError(t, err)
	assert.Equal(t, "localhost:5000/base", doc.Base.Repository)
}

func TestInvalidInput(t *testing.T) {
	badBase := inventory()
	badBase.Image.Labels[sbom.LabelBaseDigest] = "sha256:short"
	for name, tc := range map[string]struct {
		inv   *rpmscan.Inventory
		img   sbom.Image
		field string
	}{
		"no inventory":   {nil, image(), "inventory"},
		"no repository":  {inventory(), sbom.Image{Digest: imgDigest}, "image.repository"},
		"bad repository": {inventory(), sbom.Image{Repository: "reg/app@sha256", Digest: imgDigest}, "image.repository"},
		"no digest":      {inventory(), sbom.Image{Repository: "reg/app"}, "image.digest"},
		"bad digest":     {inventory(), sbom.Image{Repository: "reg/app", Digest: "md5:abc"}, "image.digest"},
		"bad base":       {badBase, image(), "base.digest"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sbom.New(tc.inv, tc.img)
			require.ErrorIs(t, err, sbom.ErrInvalid)
			var ie *sbom.InputError
			require.True(t, errors.As(err, &ie))
			assert.Equal(t, tc.field, ie.Field)
		})
	}
}

func TestNamespace(t *testing.T) {
	for _, tc := range []struct {
		vendor, osID, want string
	}{
		{"Red Hat, Inc.", "rhel", "redhat"},
		{"Red Hat, Inc.", "centos", "redhat"},
		{"", "rhel", "redhat"},
		{"", "", "redhat"},
		{"Fedora Project", "fedora", "fedora"},
		{"CentOS", "centos", "centos"},
		{"", "almalinux", "almalinux"},
		{"Acme", "Rocky", "rocky"},
		{"", "we/ird id", "redhat"},
	} {
		got := sbom.Namespace(rpmscan.Package{Vendor: tc.vendor}, rpmscan.OS{ID: tc.osID})
		assert.Equal(t, tc.want, got, "vendor %q os %q", tc.vendor, tc.osID)
	}
}

func TestPackageURL(t *testing.T) {
	for _, tc := range []struct {
		p    rpmscan.Package
		want string
	}{
		{rpmscan.Package{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64"}, "pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64"},
		{rpmscan.Package{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: "27.el9", Arch: "x86_64"}, "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"},
		{rpmscan.Package{Name: "libstdc++", Version: "11.4.1", Release: "3.el9", Arch: "noarch"}, "pkg:rpm/redhat/libstdc%2B%2B@11.4.1-3.el9?arch=noarch"},
		{rpmscan.Package{Name: "x", Version: "1"}, "pkg:rpm/redhat/x@1"},
	} {
		assert.Equal(t, tc.want, sbom.PackageURL(tc.p, "redhat"))
	}
}

// A real scan of the rpmscan fixture image: every package gets a purl
// that parses back to its name, version-release, arch and epoch.
func TestFromRealScan(t *testing.T) {
	db, err := os.ReadFile("../rpmscan/testdata/rpmdb/sqlite/rpmdb.sqlite")
	require.NoError(t, err)
	img, err := crane.Image(map[string][]byte{
		"etc/os-release":           []byte("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n"),
		"var/lib/rpm/rpmdb.sqlite": db,
	})
	require.NoError(t, err)
	inv, err := rpmscan.New().Scan(context.Background(), img)
	require.NoError(t, err)
	require.NotEmpty(t, inv.Packages)
	doc, err := sbom.New(inv, sbom.Image{Repository: "registry.example.com/team/app", Digest: inv.Image.Digest})
	require.NoError(t, err)
	require.NotEmpty(t, doc.Packages)
	for _, p := range doc.Packages {
		u, err := packageurl.FromString(p.PURL)
		require.NoError(t, err, p.PURL)
		assert.Equal(t, p.Name, u.Name)
		assert.Equal(t, p.Version+"-"+p.Release, u.Version)
		assert.Equal(t, p.Arch, u.Qualifiers.Map()["arch"])
	}
	var buf bytes.Buffer
	require.NoError(t, doc.WriteSPDX(&buf))
	var raw map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	assert.Len(t, raw["packages"], len(doc.Packages)+1)
	assert.True(t, strings.HasPrefix(raw["documentNamespace"].(string), sbom.DefaultNamespaceBase+"app-"))
}
