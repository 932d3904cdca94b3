package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/healthindex"
)

// writeCSAF writes a minimal Red Hat CSAF advisory fixing one package in
// one product.
func writeCSAF(t *testing.T, dir, id, severity, issued, product, cpe, nevra string) {
	t.Helper()
	doc := fmt.Sprintf(`{
  "document": {"category": "csaf_security_advisory", "csaf_version": "2.0",
    "aggregate_severity": {"text": %q},
    "tracking": {"id": %q, "initial_release_date": %q}},
  "product_tree": {"branches": [{"category": "product_name", "name": %q,
    "product": {"name": %q, "product_id": %q, "product_identification_helper": {"cpe": %q}}}]},
  "vulnerabilities": [{"cve": "CVE-2099-0001", "product_status": {"fixed": [%q]}}]
}`, severity, id, issued, product, product, product, cpe, product+":"+nevra)
	file := strings.ToLower(strings.ReplaceAll(id, ":", "_")) + ".json"
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(doc), 0o644))
}

// gradeFixture writes the demo image and advisories for two of its
// packages (openssl-libs 1:3.0.7-24.el9 and nodejs 1:18.14.2-2 from module
// nodejs:18), and a repository-to-cpe.json for its content sets.
func gradeFixture(t *testing.T) (image, advisories, repoCPE string) {
	t.Helper()
	dir := t.TempDir()
	tar := filepath.Join(dir, "demo.tar")
	code, _, stderr := runCmd(t, "-demo", tar, "-demo-rpmdb", fixtureDB)
	require.Equal(t, 0, code, stderr)

	advisories = filepath.Join(dir, "csaf")
	require.NoError(t, os.Mkdir(advisories, 0o755))
	writeCSAF(t, advisories, "RHSA-2099:0201", "Important", "2024-01-10T00:00:00Z",
		"BaseOS-9.3.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos", "openssl-libs-1:3.0.7-25.el9_3.x86_64")
	writeCSAF(t, advisories, "RHSA-2099:0202", "Moderate", "2023-06-01T00:00:00Z",
		"AppStream-9.3.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::appstream", "nodejs-1:18.18.2-2.module+el9.3.0+20000+aaaaaaaa.x86_64::nodejs:18")

	// A VEX document: bash is affected in RHEL 9 BaseOS and has no fix yet.
	require.NoError(t, os.WriteFile(filepath.Join(advisories, "cve-2099-0300.json"), []byte(`{
  "document": {"category": "csaf_vex", "csaf_version": "2.0", "aggregate_severity": {"text": "Moderate"},
    "tracking": {"id": "CVE-2099-0300", "initial_release_date": "2024-02-01T00:00:00Z"}},
  "product_tree": {
    "branches": [
      {"category": "product_name", "name": "Red Hat Enterprise Linux 9",
       "product": {"name": "Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9",
                   "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9"}}},
      {"category": "product_version", "name": "bash",
       "product": {"name": "bash", "product_id": "bash", "product_identification_helper": {"purl": "pkg:rpm/redhat/bash"}}}],
    "relationships": [
      {"category": "default_component_of", "full_product_name": {"name": "bash as a component of RHEL 9", "product_id": "red_hat_enterprise_linux_9:bash"},
       "product_reference": "bash", "relates_to_product_reference": "red_hat_enterprise_linux_9"}]},
  "vulnerabilities": [{"cve": "CVE-2099-0300", "product_status": {"known_affected": ["red_hat_enterprise_linux_9:bash"]},
    "threats": [{"category": "impact", "details": "Moderate", "product_ids": ["red_hat_enterprise_linux_9:bash"]}]}]
}`), 0o644))

	repoCPE = filepath.Join(dir, "repository-to-cpe.json")
	require.NoError(t, os.WriteFile(repoCPE, []byte(`{"data": {
		"rhel-9-for-x86_64-baseos-rpms": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos"]},
		"rhel-9-for-x86_64-appstream-rpms": {"cpes": ["cpe:/a:redhat:enterprise_linux:9::appstream"]}}}`), 0o644))
	return "docker-archive:" + tar, advisories, repoCPE
}

func TestScanWithAdvisories(t *testing.T) {
	image, advisories, repoCPE := gradeFixture(t)
	code, stdout, stderr := runCmd(t, "-format", "json", "-now", "2024-03-05T00:00:00Z",
		"-advisories", advisories, "-repo-to-cpe", repoCPE, image)
	require.Equal(t, 0, code, stderr)

	var got struct {
		Packages []json.RawMessage `json:"packages"`
		Findings []struct {
			Advisory   string    `json:"advisory"`
			Severity   string    `json:"severity"`
			Issued     time.Time `json:"issued"`
			CVEs       []string  `json:"cves"`
			Package    string    `json:"package"`
			Installed  string    `json:"installed"`
			Fixed      string    `json:"fixed"`
			ProductCPE string    `json:"product_cpe"`
			Match      string    `json:"match"`
			ContentSet string    `json:"content_set"`
			ImageCPE   string    `json:"image_cpe"`
		} `json:"findings"`
		Grade           string               `json:"grade"`
		NextDrop        *time.Time           `json:"next_drop"`
		FreshnessGrades healthindex.Timeline `json:"freshness_grades"`
		Unfixed         []struct {
			CVE      string `json:"cve"`
			Severity string `json:"severity"`
			State    string `json:"state"`
			Package  string `json:"package"`
		} `json:"unfixed"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	require.Len(t, got.Unfixed, 1, "the VEX known_affected bash is reported apart from the findings")
	assert.Equal(t, "CVE-2099-0300", got.Unfixed[0].CVE)
	assert.Equal(t, "bash", got.Unfixed[0].Package)
	assert.Equal(t, "Moderate", got.Unfixed[0].Severity)
	assert.Len(t, got.Packages, 7, "the inventory is still there")
	require.Len(t, got.Findings, 2, stdout)
	byID := map[string]int{}
	for i, f := range got.Findings {
		byID[f.Advisory] = i
	}
	require.Contains(t, byID, "RHSA-2099:0201")
	ssl := got.Findings[byID["RHSA-2099:0201"]]
	assert.Equal(t, "Important", ssl.Severity)
	assert.Equal(t, "2024-01-10T00:00:00Z", ssl.Issued.Format(time.RFC3339))
	assert.Equal(t, []string{"CVE-2099-0001"}, ssl.CVEs)
	assert.Equal(t, "openssl-libs", ssl.Package)
	assert.Equal(t, "1:3.0.7-24.el9.x86_64", ssl.Installed)
	assert.Equal(t, "1:3.0.7-25.el9_3.x86_64", ssl.Fixed)
	assert.Equal(t, "cpe:/o:redhat:enterprise_linux:9::baseos", ssl.ProductCPE)
	assert.Equal(t, "content_set", ssl.Match)
	assert.Equal(t, "rhel-9-for-x86_64-baseos-rpms", ssl.ContentSet)
	assert.Equal(t, "cpe:/o:redhat:enterprise_linux:9::baseos", ssl.ImageCPE)
	require.Contains(t, byID, "RHSA-2099:0202", "the modular fix applies to the modular package")

	// Important, 55 days old: C until 90 days (2024-04-09), then D; the
	// Moderate nodejs erratum does not count.
	assert.Equal(t, "C", got.Grade)
	require.NotNil(t, got.NextDrop)
	assert.Equal(t, "2024-04-09T00:00:00Z", got.NextDrop.Format(time.RFC3339))
	require.NoError(t, got.FreshnessGrades.Validate())
	require.Len(t, got.FreshnessGrades, 3)
	assert.Equal(t, "2024-03-05T00:00:00Z", got.FreshnessGrades[0].Start.Format(time.RFC3339))
	assert.Equal(t, healthindex.GradeF, got.FreshnessGrades[2].Grade)
	assert.Equal(t, "2025-01-10T00:00:00Z", got.FreshnessGrades[2].Start.Format(time.RFC3339))
	assert.NotContains(t, stdout, `"end_date": null`, "the last interval is open")

	// Table output names the grade and why.
	code, stdout, stderr = runCmd(t, "-now", "2024-03-05T00:00:00Z", "-advisories", advisories, "-repo-to-cpe", "none", image)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `RHSA-2099:0201\s+Important\s+2024-01-10\s+openssl-libs\s+1:3.0.7-24.el9.x86_64\s+1:3.0.7-25.el9_3.x86_64\s+os_release`, stdout)
	assert.Contains(t, stdout, "RHSA-2099:0201 openssl-libs: os-release → cpe:/o:redhat:enterprise_linux:9 → BaseOS-9.3.0.Z.MAIN (cpe:/o:redhat:enterprise_linux:9::baseos) → 1:3.0.7-25.el9_3.x86_64 [os_release]")
	assert.Contains(t, stdout, "grade C at 2024-03-05T00:00:00Z, set by:")
	assert.Contains(t, stdout, "drops to D at 2024-04-09T00:00:00Z")

	// Much later the same image is F and will not drop further: next_drop is null.
	code, stdout, stderr = runCmd(t, "-format", "json", "-now", "2026-01-01T00:00:00Z", "-advisories", advisories, "-repo-to-cpe", repoCPE, image)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"grade": "F"`)
	assert.Contains(t, stdout, `"next_drop": null`)
}

func TestScanWithoutAdvisoriesHasNoGrade(t *testing.T) {
	image, _, _ := gradeFixture(t)
	code, stdout, stderr := runCmd(t, "-format", "json", image)
	require.Equal(t, 0, code, stderr)
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	for _, k := range []string{"findings", "grade", "next_drop", "freshness_grades"} {
		assert.NotContains(t, got, k)
	}
}

func TestScanGradeErrors(t *testing.T) {
	image, advisories, _ := gradeFixture(t)
	code, _, stderr := runCmd(t, "-now", "tomorrow", image)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "-now")

	code, stdout, stderr := runCmd(t, "-advisories", advisories, "-repo-to-cpe", filepath.Join(t.TempDir(), "nope.json"), image)
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "nope.json")
}

// TestScanBaseImageAdvisory: a container-image advisory fixing the image's
// configured Red Hat base is a finding of the base, graded like any other,
// and both outputs say the base_image rule matched.
func TestScanBaseImageAdvisory(t *testing.T) {
	image, _, repoCPE := gradeFixture(t)
	oci, err := os.ReadFile(filepath.Join("..", "..", "advisory", "testdata", "oci", "rhsa-2099_4160.json"))
	require.NoError(t, err)
	advisories := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(advisories, "rhsa-2099_4160.json"), oci, 0o644))
	old := "registry.redhat.io/openshift4/ose-console-rhel9:v4.16@sha256:4a6ea66336fc875f84f24bf9ebfdf5b7c166eb19dd68d88ec6035392162b4c5a"

	code, stdout, stderr := runCmd(t, "-format", "json", "-now", "2024-11-01T00:00:00Z",
		"-advisories", advisories, "-repo-to-cpe", repoCPE, "-base", old, image)
	require.Equal(t, 0, code, stderr)
	var got struct {
		Base     struct{ Name, Digest, Source string } `json:"base"`
		Findings []struct {
			Advisory, Severity, Package, Installed, Fixed, Match string
			FixedTag                                             string `json:"fixed_tag"`
			ImageCPE                                             string `json:"image_cpe"`
		} `json:"findings"`
		Grade string `json:"grade"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	assert.Equal(t, "config", got.Base.Source)
	var base []int
	for i, f := range got.Findings {
		if f.Match == "base_image" {
			base = append(base, i)
		}
	}
	require.Len(t, base, 1, stdout)
	f := got.Findings[base[0]]
	assert.Equal(t, "RHSA-2099:4160", f.Advisory)
	assert.Equal(t, "Critical", f.Severity)
	assert.Equal(t, "registry.redhat.io/openshift4/ose-console-rhel9", f.Package)
	assert.Equal(t, "sha256:fb32b644069ea9dbd35da2895d9fe9fda94ed50fb0707121645b168c31b57bde", f.Fixed)
	assert.Equal(t, "cpe:/a:redhat:openshift:4.16", f.ImageCPE)
	// Critical, 9 days old: C (7 to 30 days).
	assert.Equal(t, "C", got.Grade)

	// Without the base, nothing to grade.
	code, stdout, stderr = runCmd(t, "-format", "json", "-now", "2024-11-01T00:00:00Z", "-advisories", advisories, "-repo-to-cpe", repoCPE, image)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"grade": "A"`)

	code, stdout, stderr = runCmd(t, "-now", "2024-11-01T00:00:00Z", "-advisories", advisories, "-repo-to-cpe", repoCPE, "-base", old, image)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "base image registry.redhat.io/openshift4/ose-console-rhel9 has RHSA-2099:4160; fixed in sha256:fb32b644069ea9dbd35da2895d9fe9fda94ed50fb0707121645b168c31b57bde")
	assert.Regexp(t, `RHSA-2099:4160\s+Critical\s+2024-10-23\s+registry.redhat.io/openshift4/ose-console-rhel9\s+sha256:4a6ea663\S+\s+sha256:fb32b644\S+\s+base_image`, stdout)
}
