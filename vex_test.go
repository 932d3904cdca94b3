package abs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
)

// unfixedCurl is a CSAF VEX document (DEMO DATA) saying curl on RHEL 9 is
// affected by CVE-2099-7777 and has no fix yet.
const unfixedCurl = `{
  "document": {"aggregate_severity": {"text": "Critical"}, "category": "csaf_vex", "csaf_version": "2.0",
    "title": "DEMO curl: unfixed flaw",
    "tracking": {"current_release_date": "2099-01-10T12:00:00+00:00", "id": "CVE-2099-7777",
      "initial_release_date": "2099-01-01T00:00:00+00:00", "status": "final", "version": "1"}},
  "product_tree": {"branches": [{"category": "vendor", "name": "Red Hat", "branches": [
    {"category": "product_family", "name": "Red Hat Enterprise Linux 9", "branches": [
      {"category": "product_name", "name": "Red Hat Enterprise Linux 9",
       "product": {"name": "Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9",
         "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9"}}}]},
    {"category": "product_version", "name": "curl",
     "product": {"name": "curl", "product_id": "curl", "product_identification_helper": {"purl": "pkg:rpm/redhat/curl"}}}]}],
    "relationships": [{"category": "default_component_of",
      "full_product_name": {"name": "curl as a component of Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9:curl"},
      "product_reference": "curl", "relates_to_product_reference": "red_hat_enterprise_linux_9"}]},
  "vulnerabilities": [{"cve": "CVE-2099-7777",
    "product_status": {"known_affected": ["red_hat_enterprise_linux_9:curl"]},
    "threats": [{"category": "impact", "details": "Critical", "product_ids": ["red_hat_enterprise_linux_9:curl"]}]}]
}`

// TestVEXUnfixedReported: a synced VEX document is stored, and the report
// lists the CVE it says affects the images with no fix yet, apart from
// the findings; the grade does not change and nothing is rebuilt for it.
func TestVEXUnfixedReported(t *testing.T) {
	e := newEnv(t) // no advisories: the images grade A
	require.NoError(t, os.WriteFile(filepath.Join(e.advDir, "cve-2099-7777.json"), []byte(unfixedCurl), 0o600))
	o, err := abs.New(t.Context(), e.sqlite("abs.db"), e.projects, e.options()...)
	require.NoError(t, err)
	rep, err := o.Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Images, len(e.fleet.Apps))
	for _, img := range rep.Images {
		assert.Equal(t, "A", img.Grade.String(), "an unfixed CVE is never graded")
		assert.Empty(t, img.Findings)
		require.Len(t, img.Unfixed, 1, img.Name)
		assert.Equal(t, "CVE-2099-7777", img.Unfixed[0].CVE)
		assert.Equal(t, "curl", img.Unfixed[0].Package)
	}
	assert.Empty(t, rep.Plan, "an unfixed CVE causes no rebuild")

	// The stored report says the same.
	again, err := o.Report(t.Context(), rep.Cycle)
	require.NoError(t, err)
	assert.Equal(t, rep.Images[0].Unfixed, again.Images[0].Unfixed)
}
