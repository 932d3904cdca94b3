package healthindex_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

// TestExplainUntil: for random findings and instants, Explain at any
// instant before the returned until equals the explanation but for At,
// and until is the first later instant at which some finding's grade
// changes.
func TestExplainUntil(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	sevs := []advisory.Severity{advisory.SeverityLow, advisory.SeverityModerate, advisory.SeverityImportant, advisory.SeverityCritical}
	forever := 0
	for n := range 500 {
		var fs []advisory.Finding
		for k := range rng.IntN(6) {
			f := finding(sevs[rng.IntN(len(sevs))], start.Add(time.Duration(rng.IntN(600))*24*time.Hour))
			f.Advisory, f.Package = fmt.Sprintf("RHSA-2024:%04d", k), fmt.Sprintf("pkg-%d", rng.IntN(3))
			fs = append(fs, f)
		}
		at := start.Add(time.Duration(rng.IntN(900*24)) * time.Hour)
		e, until := healthindex.ExplainUntil(nil, fs, at)
		require.Equal(t, healthindex.Explain(nil, fs, at), e, "case %d", n)
		if until.IsZero() {
			forever++
			until = at.Add(3 * 365 * 24 * time.Hour) // check a long way on
		} else {
			require.True(t, until.After(at), "case %d: until %s not after %s", n, until, at)
			// At until, some finding's own grade is another.
			before, after := until.Add(-time.Nanosecond), until
			changed := false
			for _, f := range fs {
				one := []advisory.Finding{f}
				if healthindex.GradeAt(nil, one, before) != healthindex.GradeAt(nil, one, after) {
					changed = true
				}
			}
			assert.True(t, changed, "case %d: nothing changes at until %s", n, until)
		}
		for _, t0 := range []time.Time{at, at.Add(time.Duration(rng.Int64N(int64(until.Sub(at))))), until.Add(-time.Nanosecond)} {
			want := e
			want.At = t0
			assert.Equal(t, want, healthindex.Explain(nil, fs, t0), "case %d at %s", n, t0)
		}
	}
	assert.Greater(t, forever, 10)
	assert.Less(t, forever, 490)
}
