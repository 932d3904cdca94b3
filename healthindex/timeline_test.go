package healthindex_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

func ptr[T any](v T) *T { return &v }

func TestTimeline(t *testing.T) {
	from := ts(t, "2024-01-10T15:30:00Z")
	tests := []struct {
		name     string
		findings []advisory.Finding
		want     healthindex.Timeline
		drop     string // "" for none
	}{
		{
			name: "no findings",
			want: healthindex.Timeline{{Grade: healthindex.GradeA, Start: from}},
		},
		{
			name: "moderate only",
			findings: []advisory.Finding{
				finding(advisory.SeverityModerate, ts(t, "2020-01-01T00:00:00Z")),
				finding(advisory.SeverityLow, from),
			},
			want: healthindex.Timeline{{Grade: healthindex.GradeA, Start: from}},
		},
		{
			name:     "critical issued now walks B to F",
			findings: []advisory.Finding{finding(advisory.SeverityCritical, from)},
			want: healthindex.Timeline{
				{Grade: healthindex.GradeB, Start: from, End: ptr(ts(t, "2024-01-17T15:30:00Z"))},
				{Grade: healthindex.GradeC, Start: ts(t, "2024-01-17T15:30:00Z"), End: ptr(ts(t, "2024-02-09T15:30:00Z"))},
				{Grade: healthindex.GradeD, Start: ts(t, "2024-02-09T15:30:00Z"), End: ptr(ts(t, "2024-04-09T15:30:00Z"))},
				{Grade: healthindex.GradeE, Start: ts(t, "2024-04-09T15:30:00Z"), End: ptr(ts(t, "2025-01-10T15:30:00Z"))},
				{Grade: healthindex.GradeF, Start: ts(t, "2025-01-10T15:30:00Z")},
			},
			drop: "2024-01-17T15:30:00Z",
		},
		{
			name:     "important issued now skips E",
			findings: []advisory.Finding{finding(advisory.SeverityImportant, from)},
			want: healthindex.Timeline{
				{Grade: healthindex.GradeB, Start: from, End: ptr(ts(t, "2024-02-09T15:30:00Z"))},
				{Grade: healthindex.GradeC, Start: ts(t, "2024-02-09T15:30:00Z"), End: ptr(ts(t, "2024-04-09T15:30:00Z"))},
				{Grade: healthindex.GradeD, Start: ts(t, "2024-04-09T15:30:00Z"), End: ptr(ts(t, "2025-01-10T15:30:00Z"))},
				{Grade: healthindex.GradeF, Start: ts(t, "2025-01-10T15:30:00Z")},
			},
			drop: "2024-02-09T15:30:00Z",
		},
		{
			name: "history replay: A until the advisory is issued",
			findings: []advisory.Finding{
				finding(advisory.SeverityImportant, ts(t, "2024-03-01T00:00:00Z")),
			},
			want: healthindex.Timeline{
				{Grade: healthindex.GradeA, Start: from, End: ptr(ts(t, "2024-03-01T00:00:00Z"))},
				{Grade: healthindex.GradeB, Start: ts(t, "2024-03-01T00:00:00Z"), End: ptr(ts(t, "2024-03-31T00:00:00Z"))},
				{Grade: healthindex.GradeC, Start: ts(t, "2024-03-31T00:00:00Z"), End: ptr(ts(t, "2024-05-30T00:00:00Z"))},
				{Grade: healthindex.GradeD, Start: ts(t, "2024-05-30T00:00:00Z"), End: ptr(ts(t, "2025-03-01T00:00:00Z"))},
				{Grade: healthindex.GradeF, Start: ts(t, "2025-03-01T00:00:00Z")},
			},
			drop: "2024-03-01T00:00:00Z",
		},
		{
			name: "two findings: steps hidden by a worse one vanish",
			findings: []advisory.Finding{
				finding(advisory.SeverityImportant, ts(t, "2023-12-01T15:30:00Z")), // C at from, D on 2024-02-29, F on 2024-12-01
				finding(advisory.SeverityCritical, ts(t, "2024-01-05T15:30:00Z")),  // B at from, C 01-12, D 02-04, E 04-04, F 2025-01-05
			},
			want: healthindex.Timeline{
				{Grade: healthindex.GradeC, Start: from, End: ptr(ts(t, "2024-02-04T15:30:00Z"))},
				{Grade: healthindex.GradeD, Start: ts(t, "2024-02-04T15:30:00Z"), End: ptr(ts(t, "2024-04-04T15:30:00Z"))},
				{Grade: healthindex.GradeE, Start: ts(t, "2024-04-04T15:30:00Z"), End: ptr(ts(t, "2024-12-01T15:30:00Z"))},
				{Grade: healthindex.GradeF, Start: ts(t, "2024-12-01T15:30:00Z")},
			},
			drop: "2024-02-04T15:30:00Z",
		},
		{
			name:     "already F: no drop",
			findings: []advisory.Finding{finding(advisory.SeverityImportant, ts(t, "2020-01-01T00:00:00Z"))},
			want:     healthindex.Timeline{{Grade: healthindex.GradeF, Start: from}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := healthindex.NewTimeline(nil, tt.findings, from)
			require.NoError(t, got.Validate())
			assert.Equal(t, tt.want, got)
			drop, ok := got.NextDrop()
			if tt.drop == "" {
				assert.False(t, ok)
				assert.True(t, drop.IsZero())
			} else {
				require.True(t, ok)
				assert.Equal(t, ts(t, tt.drop), drop)
			}
			assertConsistent(t, nil, tt.findings, got)
		})
	}
}

func TestTimelineJSON(t *testing.T) {
	from := ts(t, "2016-02-02T12:12:00Z")
	tl := healthindex.Timeline{
		{Grade: healthindex.GradeE, Start: from, End: ptr(ts(t, "2016-07-22T18:43:00Z"))},
		{Grade: healthindex.GradeF, Start: ts(t, "2016-07-22T18:43:00Z")},
	}
	b, err := json.Marshal(tl)
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"grade":"E","start_date":"2016-02-02T12:12:00Z","end_date":"2016-07-22T18:43:00Z"},
		{"grade":"F","start_date":"2016-07-22T18:43:00Z"}]`, string(b))

	// The catalog's own spelling decodes into the same timeline.
	var back healthindex.Timeline
	require.NoError(t, json.Unmarshal([]byte(`[
		{"creation_date":"2019-04-20T06:02:02.865000+00:00","end_date":"2016-07-22T18:43:00+00:00","grade":"E","start_date":"2016-02-02T12:12:00+00:00"},
		{"creation_date":"2019-04-20T06:02:02.865000+00:00","grade":"F","start_date":"2016-07-22T18:43:00+00:00"}]`), &back))
	require.NoError(t, back.Validate())
	require.Len(t, back, 2)
	assert.True(t, back[0].Start.Equal(tl[0].Start))
	assert.True(t, back[0].End.Equal(*tl[0].End))
	assert.Nil(t, back[1].End)
	assert.Equal(t, healthindex.GradeF, back[1].Grade)
}

func TestTimelineValidate(t *testing.T) {
	a, b, c := ts(t, "2024-01-01T00:00:00Z"), ts(t, "2024-02-01T00:00:00Z"), ts(t, "2024-03-01T00:00:00Z")
	tests := map[string]healthindex.Timeline{
		"empty":         nil,
		"invalid grade": {{Grade: 0, Start: a}},
		"last closed":   {{Grade: healthindex.GradeA, Start: a, End: &b}},
		"open middle":   {{Grade: healthindex.GradeA, Start: a}, {Grade: healthindex.GradeB, Start: b}},
		"gap": {
			{Grade: healthindex.GradeA, Start: a, End: &b},
			{Grade: healthindex.GradeB, Start: c},
		},
		"overlap": {
			{Grade: healthindex.GradeA, Start: a, End: &c},
			{Grade: healthindex.GradeB, Start: b},
		},
		"empty interval": {
			{Grade: healthindex.GradeA, Start: a, End: &a},
			{Grade: healthindex.GradeB, Start: a},
		},
	}
	for name, tl := range tests {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, tl.Validate(), healthindex.ErrInvalidTimeline)
		})
	}
	assert.Zero(t, healthindex.Timeline(nil).Grade())
	assert.Zero(t, healthindex.Timeline(nil).At(a))
	one := healthindex.Timeline{{Grade: healthindex.GradeB, Start: b}}
	assert.Zero(t, one.At(a), "before the start")
	assert.Equal(t, healthindex.GradeB, one.At(c))
}

// randomFindings returns n findings issued around base, of every severity.
func randomFindings(r *rand.Rand, n int, base time.Time) []advisory.Finding {
	sevs := []advisory.Severity{advisory.SeverityLow, advisory.SeverityModerate,
		advisory.SeverityImportant, advisory.SeverityCritical}
	fs := make([]advisory.Finding, n)
	for i := range fs {
		issued := base.Add(time.Duration(r.Int64N(int64(800*24*time.Hour))) - 600*24*time.Hour)
		if r.IntN(4) == 0 { // whole days, so steps of several findings coincide
			issued = issued.Truncate(24 * time.Hour)
		}
		fs[i] = finding(sevs[r.IntN(len(sevs))], issued)
	}
	return fs
}

// assertConsistent checks a timeline against GradeAt at and around every
// boundary, and its continuity.
func assertConsistent(t *testing.T, p healthindex.Policy, fs []advisory.Finding, tl healthindex.Timeline) {
	t.Helper()
	require.NoError(t, tl.Validate())
	for i, iv := range tl {
		assert.Equal(t, iv.Grade, healthindex.GradeAt(p, fs, iv.Start), "interval %d start", i)
		if i > 0 {
			assert.NotEqual(t, tl[i-1].Grade, iv.Grade, "adjacent intervals %d and %d have the same grade", i-1, i)
			assert.Equal(t, tl[i-1].Grade, healthindex.GradeAt(p, fs, iv.Start.Add(-time.Nanosecond)), "just before interval %d", i)
		}
		if iv.End != nil {
			mid := iv.Start.Add(iv.End.Sub(iv.Start) / 2)
			assert.Equal(t, iv.Grade, healthindex.GradeAt(p, fs, mid), "middle of interval %d", i)
		}
	}
	last := tl[len(tl)-1]
	far := last.Start.AddDate(5, 0, 0)
	assert.Equal(t, last.Grade, healthindex.GradeAt(p, fs, far), "the last interval is open")
	assert.Equal(t, last.Grade, tl.At(far))
}

func TestTimelineProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := ts(t, "2024-06-01T08:00:00Z")
	for i := range 300 {
		fs := randomFindings(r, r.IntN(12), base)
		from := base.Add(time.Duration(r.Int64N(int64(400*24*time.Hour))) - 200*24*time.Hour)
		tl := healthindex.NewTimeline(nil, fs, from)
		require.Equal(t, from.UTC(), tl[0].Start, "case %d", i)
		assertConsistent(t, nil, fs, tl)
		for j := 1; j < len(tl); j++ {
			require.Greater(t, tl[j].Grade, tl[j-1].Grade, "case %d: Red Hat's grades never improve with time", i)
		}
		e := healthindex.Explain(nil, fs, from)
		require.Equal(t, tl.Grade(), e.Grade)
		drop, ok := tl.NextDrop()
		require.Equal(t, drop, e.NextDrop)
		if ok {
			require.Equal(t, tl[1].Start, drop)
			require.Equal(t, tl[1].Grade, e.NextGrade)
			require.NotEmpty(t, e.NextCauses)
		}
	}
}

// FuzzTimeline builds findings from fuzz input and checks the timeline's
// invariants under both the default and a custom policy.
func FuzzTimeline(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(3), int64(0))
	f.Add(uint64(7), uint64(7), uint8(0), int64(-1<<40))
	f.Add(uint64(99), uint64(3), uint8(20), int64(1<<50))
	custom := healthindex.RedHat()
	custom[advisory.SeverityModerate] = []healthindex.Threshold{{After: healthindex.Days(1), Grade: healthindex.GradeC}}
	f.Fuzz(func(t *testing.T, s1, s2 uint64, n uint8, offset int64) {
		r := rand.New(rand.NewPCG(s1, s2))
		base := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
		fs := randomFindings(r, int(n%32), base)
		from := base.Add(time.Duration(offset))
		for _, p := range []healthindex.Policy{nil, custom} {
			assertConsistent(t, p, fs, healthindex.NewTimeline(p, fs, from))
		}
	})
}

func BenchmarkNewTimeline(b *testing.B) {
	base := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, n := range []int{50, 2000} {
		fs := randomFindings(rand.New(rand.NewPCG(1, 2)), n, base)
		b.Run(strconv.Itoa(n)+"findings", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = healthindex.NewTimeline(nil, fs, base)
			}
		})
	}
}

func BenchmarkExplain(b *testing.B) {
	base := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	fs := randomFindings(rand.New(rand.NewPCG(1, 2)), 50, base)
	b.ReportAllocs()
	for b.Loop() {
		_ = healthindex.Explain(nil, fs, base)
	}
}

func TestByUrgency(t *testing.T) {
	now := ts(t, "2024-06-01T00:00:00Z")
	tl := func(fs ...advisory.Finding) healthindex.Timeline { return healthindex.NewTimeline(nil, fs, now) }
	clean := tl()
	moderate := tl(finding(advisory.SeverityModerate, now.AddDate(-3, 0, 0)))
	failing := tl(finding(advisory.SeverityImportant, now.AddDate(-2, 0, 0)))         // F, never drops
	bSoon := tl(finding(advisory.SeverityCritical, now.AddDate(0, 0, -6)))            // B, C tomorrow
	bLater := tl(finding(advisory.SeverityImportant, now.AddDate(0, 0, -6)))          // B, C in 24 days
	bSoonImportant := tl(finding(advisory.SeverityImportant, now.AddDate(0, 0, -29))) // B, C tomorrow
	dNow := tl(finding(advisory.SeverityImportant, now.AddDate(0, 0, -100)))          // D
	got := []healthindex.Timeline{clean, bLater, dNow, moderate, bSoonImportant, failing, bSoon}
	slices.SortStableFunc(got, healthindex.ByUrgency)
	assert.Equal(t, []healthindex.Timeline{failing, dNow, bSoonImportant, bSoon, bLater, clean, moderate}, got)
	assert.Zero(t, healthindex.ByUrgency(bSoon, bSoonImportant), "same grade, same drop, same next grade")
	assert.Zero(t, healthindex.ByUrgency(clean, moderate))
	assert.Negative(t, healthindex.ByUrgency(failing, clean))
	assert.Positive(t, healthindex.ByUrgency(clean, failing))
}
