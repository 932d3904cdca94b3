package advisory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rpmscan"
)

const (
	console416Fixed = "sha256:fb32b644069ea9dbd35da2895d9fe9fda94ed50fb0707121645b168c31b57bde"
	console417Fixed = "sha256:1b5f3e45a6778bad18ab5acbca08ee4390cd8b1fdefd2ca3020de7b127f3a54c"
	// The guidance's ose-console-rhel9 v4.16.0-202409181705 build, older
	// than the fix.
	console416Old = "sha256:4a6ea66336fc875f84f24bf9ebfdf5b7c166eb19dd68d88ec6035392162b4c5a"
)

func TestParseCSAFImages(t *testing.T) {
	a := readDoc(t, "oci/rhsa-2099_4160.json").Advisory
	require.NotNil(t, a)
	assert.Equal(t, SeverityCritical, a.Severity)
	require.Len(t, a.Fixes, 1, "the RPM")
	assert.Equal(t, "openshift-clients", a.Fixes[0].Name)
	require.Len(t, a.Images, 4)
	assert.Equal(t, ImageFix{Product: "9Base-RHOSE-4.16", CPE: "cpe:/a:redhat:openshift:4.16::el9", Name: "ose-console-rhel9",
		Repository: "registry.redhat.io/openshift4/ose-console-rhel9", Digest: console416Fixed,
		Tag: "v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9", Arch: "amd64", Severity: SeverityCritical}, a.Images[0])
	assert.Equal(t, console417Fixed, a.Images[2].Digest)
	assert.Equal(t, "cpe:/a:redhat:openshift:4.17::el9", a.Images[2].CPE)
	// Without a purl, the product id names the image.
	assert.Equal(t, ImageFix{Product: "9Base-RHOSE-4.16", CPE: "cpe:/a:redhat:openshift:4.16::el9", Name: "ose-cli",
		Repository: "registry.redhat.io/openshift4/ose-cli", Digest: "sha256:00000000000000000000000000000000000000000000000000000000000000aa",
		Arch: "amd64", Severity: SeverityCritical}, a.Images[3])
}

func TestParseOCIPURL(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		want ImageFix
	}{
		{"pkg:oci/ose-console-rhel9?repository_url=registry.redhat.io/openshift4/ose-console-rhel9", true,
			ImageFix{Name: "ose-console-rhel9", Repository: "registry.redhat.io/openshift4/ose-console-rhel9"}},
		{"pkg:oci/ubi@sha256%3A" + console416Fixed[7:] + "?arch=s390x&repository_url=registry.access.redhat.com%2Fubi9%2Fubi&tag=9.4-1214", true,
			ImageFix{Name: "ubi", Repository: "registry.access.redhat.com/ubi9/ubi", Digest: console416Fixed, Tag: "9.4-1214", Arch: "s390x"}},
		{"pkg:oci/x@sha256:short", false, ImageFix{}},
		{"pkg:oci/x@md5:" + console416Fixed[7:], false, ImageFix{}},
		{"pkg:rpm/redhat/x@1-1", false, ImageFix{}},
		{"pkg:oci/a/b@sha256:" + console416Fixed[7:], false, ImageFix{}},
		{"pkg:oci/x?%zz", false, ImageFix{}},
	} {
		got, ok := parseOCIPURL(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		if tt.ok {
			assert.Equal(t, tt.want, got, tt.in)
		}
	}
}

func FuzzParseOCIPURL(f *testing.F) {
	f.Add("pkg:oci/ose-console-rhel9@sha256%3A" + console416Fixed[7:] + "?arch=amd64&repository_url=registry.redhat.io/openshift4/ose-console-rhel9&tag=v4.16.0")
	f.Add("pkg:oci/ose-console-rhel9?repository_url=registry.redhat.io/openshift4/ose-console-rhel9")
	f.Fuzz(func(t *testing.T, s string) {
		im, ok := parseOCIPURL(s)
		if ok && im.Digest != "" && len(im.Digest) != len("sha256:")+64 {
			t.Fatalf("digest %q", im.Digest)
		}
	})
}

func TestBaseFindings(t *testing.T) {
	a := readDoc(t, "oci/rhsa-2099_4160.json").Advisory
	ix := NewIndex([]Advisory{*a})
	x86 := map[string]string{"architecture": "x86_64"}
	tests := []struct {
		name      string
		base      rpmscan.BaseImage
		labels    map[string]string
		buildinfo []rpmscan.BuildInfo
		fixed     string // "" = not affected
		tag       string
		imageCPE  string
		pkg       string
	}{
		{name: "older 4.16 base from its annotation", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.16", Digest: console416Old, Source: "annotation"},
			labels: x86, fixed: console416Fixed, tag: "v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9", imageCPE: "cpe:/a:redhat:openshift:4.16"},
		{name: "older 4.16 base on registry.access.redhat.com, by digest reference", base: rpmscan.BaseImage{Name: "registry.access.redhat.com/openshift4/ose-console-rhel9:v4.16.0@" + console416Old},
			labels: x86, fixed: console416Fixed, tag: "v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9", imageCPE: "cpe:/a:redhat:openshift:4.16"},
		{name: "arm64 image gets the arm64 fix", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.16", Digest: console416Old},
			labels: map[string]string{"architecture": "aarch64"}, fixed: "sha256:00000000000000000000000000000000000000000000000000000000000000bb",
			tag: "v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9", imageCPE: "cpe:/a:redhat:openshift:4.16"},
		{name: "base is the fixed 4.16 image", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.16", Digest: console416Fixed}, labels: x86},
		{name: "base is the fixed 4.17 image", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.17", Digest: console417Fixed}, labels: x86},
		{name: "4.15 base: the advisory's products are 4.16 and 4.17", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.15", Digest: console416Old}, labels: x86},
		{name: "buildinfo names the fixed build", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9", Digest: console416Old}, labels: x86,
			buildinfo: []rpmscan.BuildInfo{{NVR: "openshift-enterprise-console-container-v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9", LayerIndex: 3}, {NVR: "rhel-els-container-9.2-483", LayerIndex: 0}}},
		{name: "buildinfo names a build newer than the advisory", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9", Digest: console416Old}, labels: x86,
			buildinfo: []rpmscan.BuildInfo{{NVR: "openshift-enterprise-console-container-v4.16.1-202411020000.p0.gabcdef0.assembly.stream.el9", LayerIndex: 3}}},
		{name: "buildinfo names the older build: its version decides", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9", Digest: console416Old}, labels: x86,
			buildinfo: []rpmscan.BuildInfo{{NVR: "openshift-enterprise-console-container-v4.16.0-202409181705.p0.g0b1616c.assembly.stream.el9", LayerIndex: 3}},
			fixed:     console416Fixed, tag: "v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9", imageCPE: "cpe:/a:redhat:openshift:4.16"},
		{name: "version unknown: the repository and digest decide", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9", Digest: console416Old}, labels: x86,
			fixed: console416Fixed, tag: "v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9"},
		{name: "image listed by product id only", base: rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-cli:v4.16", Digest: console416Old}, labels: x86,
			fixed: "sha256:00000000000000000000000000000000000000000000000000000000000000aa", imageCPE: "cpe:/a:redhat:openshift:4.16", pkg: "registry.redhat.io/openshift4/ose-cli"},
		{name: "another registry", base: rpmscan.BaseImage{Name: "quay.io/openshift4/ose-console-rhel9:v4.16", Digest: console416Old}, labels: x86},
		{name: "another repository", base: rpmscan.BaseImage{Name: "registry.redhat.io/ubi9/ubi:9.4", Digest: console416Old}, labels: x86},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.base
			inv := &rpmscan.Inventory{Image: rpmscan.ImageInfo{Labels: tt.labels}, Base: &b, BuildInfo: tt.buildinfo}
			got := ix.Match(inv)
			if tt.fixed == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1, "%+v", got)
			f := got[0]
			pkg := tt.pkg
			if pkg == "" {
				pkg = "registry.redhat.io/openshift4/ose-console-rhel9"
			}
			assert.Equal(t, "RHSA-2099:4160", f.Advisory)
			assert.Equal(t, SeverityCritical, f.Severity)
			assert.Equal(t, MatchBaseImage, f.Match)
			assert.Equal(t, pkg, f.Package)
			assert.Equal(t, console416Old, f.Installed)
			assert.Equal(t, tt.fixed, f.Fixed)
			assert.Equal(t, tt.tag, f.FixedTag)
			assert.Equal(t, tt.imageCPE, f.ImageCPE)
			assert.Equal(t, "cpe:/a:redhat:openshift:4.16::el9", f.ProductCPE)
			assert.Equal(t, []string{"CVE-2024-24791"}, f.CVEs)
			r := ix.Report(inv)
			assert.Equal(t, got, r.Findings)
			assert.Empty(t, r.Updates, "a base finding calls for a rebase, not a package update")
		})
	}
	assert.Equal(t, []string{"registry.redhat.io/openshift4/ose-cli", "registry.redhat.io/openshift4/ose-console-rhel9"}, ix.ImageRepositories("RHSA-2099:4160"))
	assert.Equal(t, []string{"openshift-clients"}, ix.PackageNames("RHSA-2099:4160"))
	assert.Nil(t, ix.ImageRepositories("RHSA-1999:0001"))
	t.Run("no base", func(t *testing.T) {
		assert.Empty(t, ix.Match(&rpmscan.Inventory{}))
	})
}

func TestFindingPath(t *testing.T) {
	ix := guidanceIndex()
	got := ix.Match(&rpmscan.Inventory{ContentSets: eus86, Packages: []rpmscan.Package{pkg("libxml2", "2.9.7-13.el8_6.1", "x86_64")}})
	require.Len(t, got, 1)
	assert.Equal(t, "rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6 → cpe:/o:redhat:rhel_eus:8.6::baseos → BaseOS-8.10.0.Z.MAIN (cpe:/o:redhat:enterprise_linux:8::baseos) → 0:2.9.7-18.el8_10.1.x86_64 [main_stream]", got[0].Path())
	got = ix.Match(&rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel", VersionID: "8.10"}, Packages: []rpmscan.Package{pkg("tomcat", "1:9.0.87-1.el8_10", "noarch")}})
	require.Len(t, got, 1)
	assert.Equal(t, "os-release → cpe:/a:redhat:enterprise_linux:8 → AppStream-8.10.0.Z.MAIN (cpe:/a:redhat:enterprise_linux:8::appstream) → 1:9.0.87-1.el8_10.1.noarch [os_release]", got[0].Path())

	a := readDoc(t, "oci/rhsa-2099_4160.json").Advisory
	got = NewIndex([]Advisory{*a}).Match(&rpmscan.Inventory{Image: rpmscan.ImageInfo{Labels: map[string]string{"architecture": "x86_64"}},
		Base: &rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.16", Digest: console416Old}})
	require.Len(t, got, 1)
	assert.Equal(t, "base image registry.redhat.io/openshift4/ose-console-rhel9 has RHSA-2099:4160; fixed in "+console416Fixed+
		" (tag v4.16.0-202410180404.p0.g95b8916.assembly.stream.el9) for 9Base-RHOSE-4.16 [base_image]", got[0].Path())
}

// TestBaseUnfixed: a VEX document's unfixed container images (major-only
// "openshift:4" products, no digest) concern a base of any 4.x version
// (rules 3 and 5) and are reported apart from the findings.
func TestBaseUnfixed(t *testing.T) {
	v := readDoc(t, "oci/cve-2099-24791.json").VEX
	require.NotNil(t, v)
	require.Len(t, v.UnfixedImages, 2)
	assert.Equal(t, UnfixedImage{ImageFix: ImageFix{Product: "red_hat_openshift_container_platform_4", CPE: "cpe:/a:redhat:openshift:4",
		Name: "ose-console-rhel9", Repository: "registry.redhat.io/openshift4/ose-console-rhel9", Severity: SeverityModerate}, State: StateAffected}, v.UnfixedImages[0])
	assert.Equal(t, StateUnderInvestigation, v.UnfixedImages[1].State)
	assert.Equal(t, "registry.redhat.io/openshift4/ose-cli", v.UnfixedImages[1].Repository)

	ix := NewIndex(nil, WithVEX([]VEX{*v}))
	for _, tt := range []struct {
		name, base, imageCPE string
		want                 bool
	}{
		{"4.16 base", "registry.redhat.io/openshift4/ose-console-rhel9:v4.16", "cpe:/a:redhat:openshift:4.16", true},
		{"4.12 base", "registry.redhat.io/openshift4/ose-console-rhel9:v4.12.0-202301010000.p0", "cpe:/a:redhat:openshift:4.12", true},
		{"version unknown", "registry.redhat.io/openshift4/ose-console-rhel9", "", true},
		{"another repository", "registry.redhat.io/ubi9/ubi:9.4", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := &rpmscan.Inventory{Base: &rpmscan.BaseImage{Name: tt.base, Digest: console416Old}}
			got := ix.Unfixed(inv)
			if !tt.want {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, Unfixed{CVE: "CVE-2099-24791", Severity: SeverityModerate, State: StateAffected,
				Package: "registry.redhat.io/openshift4/ose-console-rhel9", Installed: console416Old,
				Product: "red_hat_openshift_container_platform_4", ProductCPE: "cpe:/a:redhat:openshift:4",
				Match: MatchBaseImage, ImageCPE: tt.imageCPE}, got[0])
			assert.Equal(t, got, ix.Report(inv).Unfixed)
			assert.Empty(t, ix.Match(inv), "unfixed entries are no findings")
		})
	}
}
