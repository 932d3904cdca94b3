package healthindex_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

func TestExplain(t *testing.T) {
	at := ts(t, "2024-03-01T00:00:00Z")
	oldImportant := finding(advisory.SeverityImportant, ts(t, "2023-12-01T00:00:00Z")) // C since 2023-12-31, D on 2024-02-29
	oldImportant.Advisory, oldImportant.Package = "RHSA-2023:7000", "tigervnc-server"
	sameAge := oldImportant
	sameAge.Advisory, sameAge.Package = "RHSA-2023:6999", "curl"
	youngCritical := finding(advisory.SeverityCritical, ts(t, "2024-02-20T00:00:00Z")) // C since 02-27, D on 03-21
	youngCritical.Advisory = "RHSA-2024:1000"
	moderate := finding(advisory.SeverityModerate, ts(t, "2020-01-01T00:00:00Z"))

	e := healthindex.Explain(nil, []advisory.Finding{youngCritical, moderate, oldImportant, sameAge}, at)
	assert.Equal(t, healthindex.GradeD, e.Grade)
	require.Len(t, e.Causes, 2, "both Important errata of the same age set D")
	assert.Equal(t, "RHSA-2023:6999", e.Causes[0].Finding.Advisory, "ties ordered by advisory id")
	assert.Equal(t, "RHSA-2023:7000", e.Causes[1].Finding.Advisory)
	assert.Equal(t, ts(t, "2024-02-29T00:00:00Z"), e.Causes[0].Since)
	assert.Equal(t, healthindex.GradeD, e.Causes[0].Grade)

	// The Critical reaches E first (90 days: 2024-05-20), before the Important reaches F.
	assert.Equal(t, ts(t, "2024-05-20T00:00:00Z"), e.NextDrop)
	assert.Equal(t, healthindex.GradeE, e.NextGrade)
	require.Len(t, e.NextCauses, 1)
	assert.Equal(t, "RHSA-2024:1000", e.NextCauses[0].Finding.Advisory)
	assert.Equal(t, e.NextDrop, e.NextCauses[0].Since)

	s := e.String()
	assert.Contains(t, s, "grade D at 2024-03-01T00:00:00Z, set by:")
	assert.Contains(t, s, "RHSA-2023:7000 (Important, issued 2023-12-01, 91 days old) tigervnc-server")
	assert.Contains(t, s, "drops to E at 2024-05-20T00:00:00Z, because of:")
	assert.Contains(t, s, "RHSA-2024:1000 (Critical, issued 2024-02-20, 90 days old)")
	assert.NotContains(t, s, "Moderate")

	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"grade":"D"`)
	assert.Contains(t, string(b), `"next_drop":"2024-05-20T00:00:00Z"`)
}

func TestExplainNothing(t *testing.T) {
	at := ts(t, "2024-03-01T00:00:00Z")
	e := healthindex.Explain(nil, []advisory.Finding{finding(advisory.SeverityModerate, at)}, at)
	assert.Equal(t, healthindex.GradeA, e.Grade)
	assert.Empty(t, e.Causes)
	assert.True(t, e.NextDrop.IsZero())
	assert.Zero(t, e.NextGrade)
	assert.Equal(t, "grade A at 2024-03-01T00:00:00Z: no unapplied errata that the policy counts\nno further drop\n", e.String())
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"at":"2024-03-01T00:00:00Z","grade":"A"}`, string(b))
}

func TestExplainUnknownIssueDate(t *testing.T) {
	at := ts(t, "2024-03-01T00:00:00Z")
	e := healthindex.Explain(nil, []advisory.Finding{finding(advisory.SeverityCritical, ts(t, "0001-01-01T00:00:00Z"))}, at)
	assert.Equal(t, healthindex.GradeF, e.Grade)
	assert.Contains(t, e.String(), "issue date unknown")
}
