package healthindex_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return v
}

func finding(sev advisory.Severity, issued time.Time) advisory.Finding {
	return advisory.Finding{
		Advisory:  "RHSA-2024:0001",
		Severity:  sev,
		Issued:    issued,
		Package:   "openssl-libs",
		Installed: "1:3.0.7-16.el9_2.x86_64",
		Fixed:     "1:3.0.7-18.el9_2.x86_64",
	}
}

// TestBoundaries checks every threshold of Red Hat's index for both
// severities: the day before the limit, the last instant before it, the
// limit itself and the day after. The limits are written out as dates, not
// derived from the table under test.
func TestBoundaries(t *testing.T) {
	const issued = "2024-01-10T15:30:00Z" // 2024 is a leap year: 12 months is 366 days here
	type limit struct {
		at            string
		before, after healthindex.Grade
	}
	rows := map[string]struct {
		sev    advisory.Severity
		limits []limit
	}{
		"Critical": {advisory.SeverityCritical, []limit{
			{issued, healthindex.GradeA, healthindex.GradeB},                 // published
			{"2024-01-17T15:30:00Z", healthindex.GradeB, healthindex.GradeC}, // 7 days
			{"2024-02-09T15:30:00Z", healthindex.GradeC, healthindex.GradeD}, // 30 days
			{"2024-04-09T15:30:00Z", healthindex.GradeD, healthindex.GradeE}, // 90 days
			{"2025-01-10T15:30:00Z", healthindex.GradeE, healthindex.GradeF}, // 12 months
		}},
		"Important": {advisory.SeverityImportant, []limit{
			{issued, healthindex.GradeA, healthindex.GradeB},
			{"2024-02-09T15:30:00Z", healthindex.GradeB, healthindex.GradeC}, // 30 days
			{"2024-04-09T15:30:00Z", healthindex.GradeC, healthindex.GradeD}, // 90 days
			{"2025-01-10T15:30:00Z", healthindex.GradeD, healthindex.GradeF}, // 12 months: D straight to F
		}},
	}
	for name, row := range rows {
		f := []advisory.Finding{finding(row.sev, ts(t, issued))}
		for _, l := range row.limits {
			at := ts(t, l.at)
			cases := []struct {
				name string
				at   time.Time
				want healthindex.Grade
			}{
				{"day before", at.Add(-24 * time.Hour), l.before},
				{"last instant before", at.Add(-time.Nanosecond), l.before},
				{"on", at, l.after},
				{"day after", at.Add(24 * time.Hour), l.after},
			}
			for _, c := range cases {
				t.Run(name+"/"+l.at+"/"+c.name, func(t *testing.T) {
					assert.Equal(t, c.want, healthindex.GradeAt(nil, f, c.at))
					assert.Equal(t, c.want, healthindex.GradeAt(healthindex.RedHat(), f, c.at))
					assert.Equal(t, c.want, healthindex.NewTimeline(nil, f, c.at).Grade())
					assert.Equal(t, c.want, healthindex.Explain(nil, f, c.at).Grade)
				})
			}
		}
	}
}

// TestTwelveMonths pins what "12 months" means: calendar months in UTC, so
// it is 365 or 366 days, and 29 February rolls to 1 March.
func TestTwelveMonths(t *testing.T) {
	tests := []struct {
		name, issued, at string
		want             healthindex.Grade
	}{
		{"365 days across a leap day is not yet 12 months", "2023-03-01T00:00:00Z", "2024-02-29T00:00:00Z", healthindex.GradeD},
		{"366 days across a leap day is 12 months", "2023-03-01T00:00:00Z", "2024-03-01T00:00:00Z", healthindex.GradeF},
		{"365 days without a leap day is 12 months", "2024-03-01T00:00:00Z", "2025-03-01T00:00:00Z", healthindex.GradeF},
		{"29 February: 28 February next year is not yet 12 months", "2024-02-29T12:00:00Z", "2025-02-28T23:59:59Z", healthindex.GradeD},
		{"29 February: 12 months is 1 March", "2024-02-29T12:00:00Z", "2025-03-01T12:00:00Z", healthindex.GradeF},
		{"issue time zone does not matter", "2024-01-10T23:30:00-05:00", "2025-01-11T04:29:59Z", healthindex.GradeD},
		{"issue time zone does not matter, on the limit", "2024-01-10T23:30:00-05:00", "2025-01-11T04:30:00Z", healthindex.GradeF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := []advisory.Finding{finding(advisory.SeverityImportant, ts(t, tt.issued))}
			assert.Equal(t, tt.want, healthindex.GradeAt(nil, f, ts(t, tt.at)))
		})
	}
}

func TestWorstFindingSetsGrade(t *testing.T) {
	now := ts(t, "2024-06-01T00:00:00Z")
	tests := []struct {
		name     string
		findings []advisory.Finding
		want     healthindex.Grade
	}{
		{"none", nil, healthindex.GradeA},
		{"moderate only, however old", []advisory.Finding{
			finding(advisory.SeverityModerate, ts(t, "2019-01-01T00:00:00Z")),
			finding(advisory.SeverityModerate, now.Add(-time.Hour)),
		}, healthindex.GradeA},
		{"low and none never count", []advisory.Finding{
			finding(advisory.SeverityLow, ts(t, "2010-01-01T00:00:00Z")),
			finding(advisory.SeverityNone, ts(t, "2010-01-01T00:00:00Z")),
		}, healthindex.GradeA},
		{"moderate does not lower an important", []advisory.Finding{
			finding(advisory.SeverityModerate, ts(t, "2019-01-01T00:00:00Z")),
			finding(advisory.SeverityImportant, ts(t, "2024-05-20T00:00:00Z")),
		}, healthindex.GradeB},
		{"old important beats young critical", []advisory.Finding{
			finding(advisory.SeverityCritical, ts(t, "2024-05-30T00:00:00Z")),  // B
			finding(advisory.SeverityImportant, ts(t, "2024-01-01T00:00:00Z")), // D
		}, healthindex.GradeD},
		{"critical at 100 days is E, important at 100 days is D", []advisory.Finding{
			finding(advisory.SeverityImportant, now.AddDate(0, 0, -100)),
			finding(advisory.SeverityCritical, now.AddDate(0, 0, -100)),
		}, healthindex.GradeE},
		{"not yet issued does not count", []advisory.Finding{
			finding(advisory.SeverityCritical, now.Add(time.Second)),
		}, healthindex.GradeA},
		{"unknown issue date counts as oldest", []advisory.Finding{
			finding(advisory.SeverityImportant, time.Time{}),
		}, healthindex.GradeF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, healthindex.GradeAt(nil, tt.findings, now))
			e := healthindex.Explain(nil, tt.findings, now)
			assert.Equal(t, tt.want, e.Grade)
			if tt.want == healthindex.GradeA {
				assert.Empty(t, e.Causes)
			}
		})
	}
}

func TestCustomTable(t *testing.T) {
	strict := healthindex.RedHat()
	strict[advisory.SeverityCritical][1].After = healthindex.Days(3)
	strict[advisory.SeverityModerate] = []healthindex.Threshold{
		{After: healthindex.Days(30), Grade: healthindex.GradeB},
		{After: healthindex.Months(6), Grade: healthindex.GradeC},
	}
	require.NoError(t, strict.Validate())

	issued := ts(t, "2024-01-10T00:00:00Z")
	crit := []advisory.Finding{finding(advisory.SeverityCritical, issued)}
	mod := []advisory.Finding{finding(advisory.SeverityModerate, issued)}
	tests := []struct {
		name     string
		p        healthindex.Policy
		findings []advisory.Finding
		at       string
		want     healthindex.Grade
	}{
		{"stricter critical: C after 3 days", strict, crit, "2024-01-13T00:00:00Z", healthindex.GradeC},
		{"default critical: still B after 3 days", nil, crit, "2024-01-13T00:00:00Z", healthindex.GradeB},
		{"stricter critical: B just before 3 days", strict, crit, "2024-01-12T23:59:59Z", healthindex.GradeB},
		{"moderate counted: A before 30 days", strict, mod, "2024-02-08T23:59:59Z", healthindex.GradeA},
		{"moderate counted: B after 30 days", strict, mod, "2024-02-09T00:00:00Z", healthindex.GradeB},
		{"moderate counted: C after 6 months", strict, mod, "2024-07-10T00:00:00Z", healthindex.GradeC},
		{"default ignores moderate", nil, mod, "2030-01-01T00:00:00Z", healthindex.GradeA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := ts(t, tt.at)
			assert.Equal(t, tt.want, healthindex.GradeAt(tt.p, tt.findings, at))
			assert.Equal(t, tt.want, healthindex.NewTimeline(tt.p, tt.findings, at).Grade())
		})
	}
	// RedHat returns a copy: changing one did not change the default.
	assert.Equal(t, healthindex.Days(7), healthindex.RedHat()[advisory.SeverityCritical][1].After)
}

func TestPolicyFunc(t *testing.T) {
	// Anything unapplied for a week fails outright; nothing else counts.
	p := healthindex.PolicyFunc(func(f advisory.Finding) []healthindex.Step {
		return []healthindex.Step{{At: healthindex.Days(7).From(f.Issued), Grade: healthindex.GradeF}}
	})
	issued := ts(t, "2024-01-10T00:00:00Z")
	f := []advisory.Finding{finding(advisory.SeverityLow, issued)}
	assert.Equal(t, healthindex.GradeA, healthindex.GradeAt(p, f, issued.AddDate(0, 0, 6)))
	assert.Equal(t, healthindex.GradeF, healthindex.GradeAt(p, f, issued.AddDate(0, 0, 7)))
	tl := healthindex.NewTimeline(p, f, issued)
	require.NoError(t, tl.Validate())
	drop, ok := tl.NextDrop()
	require.True(t, ok)
	assert.Equal(t, ts(t, "2024-01-17T00:00:00Z"), drop)
}

func TestPolicyFuncUnsortedAndInvalid(t *testing.T) {
	// Steps out of order are sorted; an invalid grade counts as A (no effect).
	base := ts(t, "2024-01-01T00:00:00Z")
	p := healthindex.PolicyFunc(func(advisory.Finding) []healthindex.Step {
		return []healthindex.Step{
			{At: base.AddDate(0, 0, 20), Grade: 0},
			{At: base.AddDate(0, 0, 10), Grade: healthindex.GradeD},
		}
	})
	f := []advisory.Finding{finding(advisory.SeverityLow, base)}
	tl := healthindex.NewTimeline(p, f, base)
	require.NoError(t, tl.Validate())
	require.Len(t, tl, 3)
	assert.Equal(t, []healthindex.Grade{healthindex.GradeA, healthindex.GradeD, healthindex.GradeA},
		[]healthindex.Grade{tl[0].Grade, tl[1].Grade, tl[2].Grade})
}

func TestTableValidate(t *testing.T) {
	require.NoError(t, healthindex.RedHat().Validate())
	tests := map[string]healthindex.Table{
		"invalid grade": {advisory.SeverityCritical: {{After: healthindex.Days(0), Grade: 0}}},
		"negative age":  {advisory.SeverityCritical: {{After: healthindex.Days(-1), Grade: healthindex.GradeB}}},
		"not increasing": {advisory.SeverityImportant: {
			{After: healthindex.Days(30), Grade: healthindex.GradeB},
			{After: healthindex.Days(7), Grade: healthindex.GradeC},
		}},
		"equal ages": {advisory.SeverityImportant: {
			{After: healthindex.Months(1), Grade: healthindex.GradeB},
			{After: healthindex.Days(31), Grade: healthindex.GradeC}, // from 31 January both reach 3 March
		}},
	}
	for name, table := range tests {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, table.Validate(), healthindex.ErrInvalidPolicy)
		})
	}
}

func TestAgeString(t *testing.T) {
	assert.Equal(t, "0 days", healthindex.Days(0).String())
	assert.Equal(t, "1 day", healthindex.Days(1).String())
	assert.Equal(t, "12 months", healthindex.Months(12).String())
	assert.Equal(t, "1 month 2 days", healthindex.Age{Months: 1, Days: 2}.String())
}

func TestParseTable(t *testing.T) {
	// The default table survives a JSON round trip.
	b, err := json.Marshal(healthindex.RedHat())
	require.NoError(t, err)
	assert.Contains(t, string(b), `"Critical":[{"after":{},"grade":"B"},{"after":{"days":7},"grade":"C"}`)
	back, err := healthindex.ParseTable(b)
	require.NoError(t, err)
	assert.Equal(t, healthindex.RedHat(), back)

	custom, err := healthindex.ParseTable([]byte(`{
		"critical": [{"after": {}, "grade": "C"}],
		"Moderate": [{"after": {"months": 6}, "grade": "b"}, {"after": {"months": 12, "days": 1}, "grade": "D"}]}`))
	require.NoError(t, err)
	issued := ts(t, "2024-01-10T00:00:00Z")
	f := []advisory.Finding{finding(advisory.SeverityModerate, issued)}
	assert.Equal(t, healthindex.GradeB, healthindex.GradeAt(custom, f, ts(t, "2024-07-10T00:00:00Z")))
	assert.Equal(t, healthindex.GradeB, healthindex.GradeAt(custom, f, ts(t, "2025-01-10T23:59:59Z")))
	assert.Equal(t, healthindex.GradeD, healthindex.GradeAt(custom, f, ts(t, "2025-01-11T00:00:00Z")))
	assert.Equal(t, healthindex.GradeA, healthindex.GradeAt(custom, []advisory.Finding{finding(advisory.SeverityImportant, issued)}, ts(t, "2030-01-01T00:00:00Z")),
		"a table without Important ignores it")

	for name, in := range map[string]string{
		"not json":         `{`,
		"null":             `null`,
		"unknown severity": `{"Severe": []}`,
		"unknown field":    `{"Critical": [{"after": {"weeks": 1}, "grade": "B"}]}`,
		"bad grade":        `{"Critical": [{"after": {}, "grade": "G"}]}`,
		"missing grade":    `{"Critical": [{"after": {}}]}`,
		"not increasing":   `{"Critical": [{"after": {"days": 9}, "grade": "B"}, {"after": {"days": 8}, "grade": "C"}]}`,
		"trailing data":    `{} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := healthindex.ParseTable([]byte(in))
			require.ErrorIs(t, err, healthindex.ErrInvalidPolicy)
		})
	}
}

func FuzzParseTable(f *testing.F) {
	b, err := json.Marshal(healthindex.RedHat())
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`{"Moderate": [{"after": {"months": 6}, "grade": "C"}]}`))
	f.Add([]byte(`{"Low": [{"after": {"days": -1}, "grade": "A"}]}`))
	f.Add([]byte(`{}`))
	at := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := healthindex.ParseTable(data)
		if err != nil {
			require.ErrorIs(t, err, healthindex.ErrInvalidPolicy)
			return
		}
		require.NoError(t, table.Validate())
		fs := []advisory.Finding{
			finding(advisory.SeverityCritical, at.AddDate(0, -2, 0)),
			finding(advisory.SeverityModerate, at.AddDate(-1, 0, 0)),
		}
		assertConsistent(t, table, fs, healthindex.NewTimeline(table, fs, at))
	})
}
