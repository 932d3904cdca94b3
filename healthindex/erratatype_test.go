package healthindex_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

// TestBugFixAndEnhancementNeverLowerTheGrade: Red Hat's index counts
// security errata only. A bug fix or enhancement erratum that carries a
// severity (RHBAs sometimes fix a CVE too) or an old issue date leaves the
// grade alone, whether its Type is set or only its id says so; a base image
// finding of an RHSA grades like any other.
func TestBugFixAndEnhancementNeverLowerTheGrade(t *testing.T) {
	now := ts(t, "2025-06-01T00:00:00Z")
	old := ts(t, "2023-01-01T00:00:00Z")
	for _, tt := range []struct {
		name string
		f    advisory.Finding
		want healthindex.Grade
	}{
		{"RHBA by type", advisory.Finding{Advisory: "RHBA-2023:0001", Type: advisory.TypeBugFix, Severity: advisory.SeverityCritical, Issued: old}, healthindex.GradeA},
		{"RHEA by type", advisory.Finding{Advisory: "RHEA-2023:0002", Type: advisory.TypeEnhancement, Severity: advisory.SeverityImportant, Issued: old}, healthindex.GradeA},
		{"RHBA by id only", advisory.Finding{Advisory: "RHBA-2023:0003", Severity: advisory.SeverityCritical, Issued: old}, healthindex.GradeA},
		{"RHSA", advisory.Finding{Advisory: "RHSA-2023:0004", Type: advisory.TypeSecurity, Severity: advisory.SeverityCritical, Issued: old}, healthindex.GradeF},
		{"RHSA of the base image", advisory.Finding{Advisory: "RHSA-2023:0005", Type: advisory.TypeSecurity, Severity: advisory.SeverityCritical,
			Issued: old, Match: advisory.MatchBaseImage, Package: "registry.redhat.io/openshift4/ose-cli"}, healthindex.GradeF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, healthindex.GradeAt(nil, []advisory.Finding{tt.f}, now))
			assert.Equal(t, tt.want, healthindex.NewTimeline(nil, []advisory.Finding{tt.f}, now).Grade())
			assert.Equal(t, tt.want, healthindex.Explain(nil, []advisory.Finding{tt.f}, now).Grade)
		})
	}
}

// TestExplainShowsThePath: Explain's text shows, per cause, the path from
// content set through CPE and product to the fixed build.
func TestExplainShowsThePath(t *testing.T) {
	f := advisory.Finding{Advisory: "RHSA-2099:7001", Type: advisory.TypeSecurity, Severity: advisory.SeverityImportant,
		Issued: ts(t, "2025-01-01T00:00:00Z"), Package: "libxml2", Installed: "0:2.9.7-13.el8_6.1.x86_64", Fixed: "0:2.9.7-18.el8_10.1.x86_64",
		Match: advisory.MatchMainStream, ContentSet: "rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6", ImageCPE: "cpe:/o:redhat:rhel_eus:8.6::baseos",
		Product: "BaseOS-8.10.0.Z.MAIN", ProductCPE: "cpe:/o:redhat:enterprise_linux:8::baseos", MainStream: true}
	s := healthindex.Explain(nil, []advisory.Finding{f}, ts(t, "2025-06-01T00:00:00Z")).String()
	assert.Contains(t, s, "    via rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6 → cpe:/o:redhat:rhel_eus:8.6::baseos → BaseOS-8.10.0.Z.MAIN (cpe:/o:redhat:enterprise_linux:8::baseos) → 0:2.9.7-18.el8_10.1.x86_64 [main_stream]\n")
}
