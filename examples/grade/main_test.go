package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/testutil"
)

// csafDoc writes a minimal Red Hat CSAF advisory fixing one package in one
// product.
func csafDoc(t *testing.T, dir, id, severity, issued, product, cpe, nevra string) {
	t.Helper()
	doc := fmt.Sprintf(`{
  "document": {"category": "csaf_security_advisory", "csaf_version": "2.0",
    "aggregate_severity": {"text": %[2]q},
    "tracking": {"id": %[1]q, "initial_release_date": %[3]q, "current_release_date": %[3]q}},
  "product_tree": {"branches": [{"category": "product_name", "name": %[4]q,
    "product": {"name": %[4]q, "product_id": %[4]q, "product_identification_helper": {"cpe": %[5]q}}}]},
  "vulnerabilities": [{"cve": "CVE-2099-%[6]s", "product_status": {"fixed": [%[4]q ":" %[7]q]}}]
}`, id, severity, issued, product, cpe, strings.ReplaceAll(id[5:], ":", ""), nevra)
	doc = strings.Replace(doc, `" ":" "`, ":", 1)
	file := strings.ToLower(strings.ReplaceAll(id, ":", "_")) + ".json"
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(doc), 0o644))
}

type fixture struct {
	advisories, repoCPE, demo, empty string
}

// newFixture writes advisories for packages of the demo image (built from
// the repository's fixture rpmdb: RHEL 9.3 content sets, openssl-libs
// 1:3.0.7-24.el9, glibc 2.34-60.el9, bash 5.1.8-6.el9_1), a
// repository-to-cpe.json, the demo image and an image without rpmdb.
func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{
		advisories: filepath.Join(dir, "csaf"),
		repoCPE:    filepath.Join(dir, "repository-to-cpe.json"),
		demo:       filepath.Join(dir, "demo.tar"),
		empty:      filepath.Join(dir, "empty.tar"),
	}
	require.NoError(t, os.Mkdir(f.advisories, 0o755))
	const baseos, cpe = "BaseOS-9.3.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos"
	csafDoc(t, f.advisories, "RHSA-2099:0101", "Important", "2024-01-10T00:00:00Z", baseos, cpe, "openssl-libs-1:3.0.7-25.el9_3.x86_64")
	csafDoc(t, f.advisories, "RHSA-2099:0102", "Critical", "2024-03-01T00:00:00Z", baseos, cpe, "glibc-0:2.34-83.el9_3.x86_64")
	csafDoc(t, f.advisories, "RHSA-2099:0103", "Moderate", "2020-01-01T00:00:00Z", baseos, cpe, "bash-0:5.1.8-9.el9.x86_64")
	csafDoc(t, f.advisories, "RHSA-2099:0104", "Critical", "2023-01-01T00:00:00Z", baseos, cpe, "openssl-libs-1:3.0.7-20.el9.x86_64") // already applied

	require.NoError(t, os.WriteFile(f.repoCPE, []byte(`{"data": {
		"rhel-9-for-x86_64-baseos-rpms": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos"]},
		"rhel-9-for-x86_64-appstream-rpms": {"cpes": ["cpe:/a:redhat:enterprise_linux:9::appstream"]}}}`), 0o644))

	db, err := os.ReadFile(filepath.Join("..", "..", "rpmscan", "testdata", "rpmdb", "sqlite", "rpmdb.sqlite"))
	require.NoError(t, err)
	demo, err := testutil.DemoImage(db)
	require.NoError(t, err)
	writeTar(t, f.demo, demo)
	writeTar(t, f.empty, testutil.MustImage(t, testutil.Config{}, []testutil.Entry{
		testutil.File("etc/os-release", []byte("ID=debian\nVERSION_ID=12\n")),
	}))
	return f
}

func writeTar(t *testing.T, path string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag("localhost/openabs/test:latest")
	require.NoError(t, err)
	require.NoError(t, tarball.WriteToFile(path, tag, img))
}

func runGrade(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGradeJSON(t *testing.T) {
	f := newFixture(t)
	code, out, errOut := runGrade(t, "", "-json", "-now", "2024-03-05T00:00:00Z",
		"-advisories", f.advisories, "-repo-to-cpe", f.repoCPE,
		"docker-archive:"+f.empty, "docker-archive:"+f.demo)
	require.Equal(t, 0, code, errOut)

	var got struct {
		Now    time.Time `json:"now"`
		Images []struct {
			Image           string               `json:"image"`
			Digest          string               `json:"digest"`
			Grade           string               `json:"grade"`
			NextDrop        *time.Time           `json:"next_drop"`
			NextGrade       *string              `json:"next_grade"`
			FreshnessGrades healthindex.Timeline `json:"freshness_grades"`
			Findings        []struct {
				Advisory, Severity, Package, Installed, Fixed, Match, ProductCPE string
				Issued                                                           time.Time
			} `json:"findings"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got.Images, 2)

	demo := got.Images[0] // worst first
	assert.Equal(t, "docker-archive:"+f.demo, demo.Image)
	assert.True(t, strings.HasPrefix(demo.Digest, "sha256:"))
	// openssl-libs Important, 55 days old: C; glibc Critical, 4 days old: B;
	// bash Moderate: ignored. The Critical reaches 30 days (D) on 2024-03-31,
	// before the Important reaches 90 days on 2024-04-09.
	assert.Equal(t, "C", demo.Grade)
	require.NotNil(t, demo.NextDrop)
	assert.Equal(t, "2024-03-31T00:00:00Z", demo.NextDrop.Format(time.RFC3339))
	assert.Equal(t, "D", *demo.NextGrade)
	require.NoError(t, demo.FreshnessGrades.Validate())
	assert.Equal(t, []healthindex.Grade{healthindex.GradeC, healthindex.GradeD, healthindex.GradeE, healthindex.GradeF},
		grades(demo.FreshnessGrades))
	var ids []string
	for _, fd := range demo.Findings {
		ids = append(ids, fd.Advisory)
		assert.Equal(t, "content_set", fd.Match)
	}
	assert.ElementsMatch(t, []string{"RHSA-2099:0101", "RHSA-2099:0102", "RHSA-2099:0103"}, ids)

	empty := got.Images[1]
	assert.Equal(t, "A", empty.Grade)
	assert.Nil(t, empty.NextDrop, "next_drop is null")
	assert.Nil(t, empty.NextGrade)
	assert.Empty(t, empty.Findings)
	assert.Contains(t, out, `"next_drop": null`)
}

func grades(tl healthindex.Timeline) []healthindex.Grade {
	var gs []healthindex.Grade
	for _, iv := range tl {
		gs = append(gs, iv.Grade)
	}
	return gs
}

func TestGradeTableFromList(t *testing.T) {
	f := newFixture(t)
	list := "# images to grade\n\ndocker-archive:" + f.empty + "\ndocker-archive:" + filepath.Join(t.TempDir(), "missing.tar") +
		"\n  docker-archive:" + f.demo + "  \n"
	code, out, errOut := runGrade(t, list, "-f", "-", "-now", "2024-03-05T00:00:00Z", "-explain",
		"-advisories", f.advisories, "-repo-to-cpe", "none")
	assert.Equal(t, 1, code, "one image could not be graded")
	assert.Contains(t, errOut, "missing.tar")

	lines := strings.Split(out, "\n")
	require.GreaterOrEqual(t, len(lines), 4, out)
	assert.Regexp(t, `^GRADE\s+NEXT DROP\s+TO\s+FINDINGS\s+IMAGE$`, lines[0])
	assert.Regexp(t, `^C\s+2024-03-31T00:00:00Z\s+D\s+3\s+docker-archive:.*demo\.tar$`, lines[1])
	assert.Regexp(t, `^A\s+-\s+-\s+0\s+docker-archive:.*empty\.tar$`, lines[2])
	assert.Regexp(t, `^\?\s+-\s+-\s+error\s+docker-archive:.*missing\.tar$`, lines[3])
	assert.Contains(t, out, "grade C at 2024-03-05T00:00:00Z, set by:\n  RHSA-2099:0101 (Important, issued 2024-01-10, 55 days old) openssl-libs")
	assert.Contains(t, out, "drops to D at 2024-03-31T00:00:00Z, because of:\n  RHSA-2099:0102 (Critical")
}

func TestGradeUsage(t *testing.T) {
	tests := map[string][]string{
		"no images": {"-advisories", "x"},
		"bad now":   {"-now", "yesterday", "img"},
		"bad j":     {"-j", "0", "img"},
		"bad flag":  {"-nope"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runGrade(t, "", args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, "usage: grade")
		})
	}
	code, _, errOut := runGrade(t, "", "-f", filepath.Join(t.TempDir(), "nope"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such file")
}

func TestGradeCustomPolicy(t *testing.T) {
	f := newFixture(t)
	// Moderate errata count: the bash erratum, four years old, makes the image E.
	policy := filepath.Join(t.TempDir(), "policy.json")
	require.NoError(t, os.WriteFile(policy, []byte(`{
		"Critical": [{"after": {}, "grade": "B"}],
		"Moderate": [{"after": {"months": 12}, "grade": "E"}]}`), 0o644))
	code, out, errOut := runGrade(t, "", "-policy", policy, "-now", "2024-03-05T00:00:00Z",
		"-advisories", f.advisories, "-repo-to-cpe", f.repoCPE, "docker-archive:"+f.demo)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `\nE\s+-\s+-\s+3\s+docker-archive:`, out)

	require.NoError(t, os.WriteFile(policy, []byte(`{"Critical": [{"after": {}, "grade": "Z"}]}`), 0o644))
	code, _, errOut = runGrade(t, "", "-policy", policy, "-advisories", f.advisories, "docker-archive:"+f.demo)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "invalid")
}

// multiLayout writes an OCI layout holding a two-platform index: the demo
// image for linux/amd64 and an image without rpmdb for linux/arm64.
func multiLayout(t *testing.T, f fixture) string {
	t.Helper()
	open := func(path string, arch string) v1.Image {
		img, err := tarball.ImageFromPath(path, nil)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		img, err = mutate.ConfigFile(img, cf)
		require.NoError(t, err)
		return img
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: open(f.demo, "amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: open(f.empty, "arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	dir := filepath.Join(t.TempDir(), "multi")
	p, err := layout.Write(dir, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendIndex(idx))
	return dir
}

func TestGradeEveryPlatform(t *testing.T) {
	f := newFixture(t)
	dir := multiLayout(t, f)
	args := []string{"-now", "2024-03-05T00:00:00Z", "-advisories", f.advisories, "-repo-to-cpe", f.repoCPE}

	code, out, errOut := runGrade(t, "", append(args, "-json", "-platform", "all", "oci:"+dir, "docker-archive:"+f.empty)...)
	require.Equal(t, 0, code, errOut)
	var got struct {
		Images []struct{ Image, Platform, Grade string } `json:"images"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got.Images, 3)
	assert.Equal(t, []string{"oci:" + dir, "linux/amd64", "C"}, []string{got.Images[0].Image, got.Images[0].Platform, got.Images[0].Grade}, "worst platform first")
	assert.Equal(t, []string{"docker-archive:" + f.empty, "linux/amd64", "A"}, []string{got.Images[1].Image, got.Images[1].Platform, got.Images[1].Grade})
	assert.Equal(t, []string{"oci:" + dir, "linux/arm64", "A"}, []string{got.Images[2].Image, got.Images[2].Platform, got.Images[2].Grade})

	code, out, errOut = runGrade(t, "", append(args, "-platform", "linux/arm64", "oci:"+dir)...)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(out, "\n")
	assert.Regexp(t, `^GRADE\s+NEXT DROP\s+TO\s+FINDINGS\s+PLATFORM\s+IMAGE$`, lines[0])
	assert.Regexp(t, `^A\s+-\s+-\s+0\s+linux/arm64\s+oci:`, lines[1])
	assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, "a header and one row")

	code, _, errOut = runGrade(t, "", append(args, "-platform", "all", "oci:"+filepath.Join(t.TempDir(), "nope"))...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "[all]")
}
