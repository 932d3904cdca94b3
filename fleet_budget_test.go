package abs_test

import (
	"os"
	"testing"
	"time"
)

// BenchBudgetsEnv opts in to TestFleetBudgets. The budgets are timings
// of this machine's run, so the test is for a person checking a change
// on a quiet machine, never for CI (.ci/run does not set it) and never
// with -race.
const BenchBudgetsEnv = "ABS_BENCH_BUDGETS"

// TestFleetBudgets runs the fleet benchmarks (2,000 images, 500 of them
// four-platform indexes, 3,000 advisories) with testing.Benchmark and
// fails when one is over the budget the design promises: the affected
// set of a new advisory under 50 ms, a full regrade under 1 s. Run it
// with
//
//	ABS_BENCH_BUDGETS=1 go test -run TestFleetBudgets -v .
func TestFleetBudgets(t *testing.T) {
	if os.Getenv(BenchBudgetsEnv) != "1" {
		t.Skip(BenchBudgetsEnv + "=1 not set: timing budgets are opt-in, never run in CI")
	}
	for _, c := range []struct {
		name   string
		bench  func(*testing.B)
		budget time.Duration
	}{
		{"FleetAffected", BenchmarkFleetAffected, 50 * time.Millisecond},
		{"FleetRegrade", BenchmarkFleetRegrade, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := testing.Benchmark(c.bench)
			if r.N == 0 {
				t.Fatalf("Benchmark%s did not run (it failed or was skipped)", c.name)
			}
			got := time.Duration(r.NsPerOp())
			t.Logf("Benchmark%s: %v/op over %d runs, %d allocs/op (budget %v)", c.name, got, r.N, r.AllocsPerOp(), c.budget)
			if got > c.budget {
				t.Errorf("Benchmark%s takes %v/op, over its budget of %v", c.name, got, c.budget)
			}
		})
	}
}
