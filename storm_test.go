package abs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/rebuild"
)

func stormDB(tb testing.TB) *abs.Database {
	db, err := abs.OpenSQLite(context.Background(), filepath.Join(tb.TempDir(), "abs.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func waitStorm(t *testing.T, o *abs.Orchestrator, id string) *abs.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := o.Wait(ctx, id)
	require.NoError(t, err)
	return rep
}

// reportUntil polls a cycle's report until cond holds.
func reportUntil(t *testing.T, o *abs.Orchestrator, id string, cond func(*abs.Report) bool) *abs.Report {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rep, err := o.Report(t.Context(), id)
		require.NoError(t, err)
		if cond(rep) {
			return rep
		}
		require.True(t, time.Now().Before(deadline), "condition not reached; last report: %+v", rep.Rebuilds)
		time.Sleep(50 * time.Millisecond)
	}
}

func allWaiting(n int, prefix string) func(*abs.Report) bool {
	return func(rep *abs.Report) bool {
		if len(rep.Rebuilds) != n {
			return false
		}
		for _, r := range rep.Rebuilds {
			if !strings.HasPrefix(r.Waiting, prefix) {
				return false
			}
		}
		return true
	}
}

func assertAllPublished(t *testing.T, f *stormFleet, rep *abs.Report, n int) {
	t.Helper()
	require.Len(t, rep.Rebuilds, n)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildPublished, r.State, "%s: %s", r.Image, r.Detail)
	}
	b := f.builds()
	assert.Len(t, b, n)
	for img, c := range b {
		assert.Equal(t, 1, c, "%s built once", img)
	}
}

// TestStormBudgets: 40 images in 4 projects, a global budget of 3 and one
// build per project: never more at once (from the recorded start and end
// of each build), every image built once and published.
func TestStormBudgets(t *testing.T) {
	const n, projects = 40, 4
	f := newStormFleet(t, n, projects, 30*time.Millisecond)
	f.publishAdvisories(t, demo.OpenSSL)
	o := f.start(t, stormDB(t), abs.WithWorkers(4, 8),
		abs.WithStorm(abs.Storm{Budgets: abs.Budgets{Global: 3, PerProject: 1}}))
	id, err := o.StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	rep := waitStorm(t, o, id)
	assertAllPublished(t, f, rep, n)
	peak := f.maxConcurrent(projectOf(projects))
	assert.LessOrEqual(t, peak[""], 3, "global budget")
	t.Logf("peak concurrent builds: %d (budget 3)", peak[""])
	for p := range projects {
		key := projectOf(projects)(imageName(p))
		assert.LessOrEqual(t, peak[key], 1, key)
	}
	q, err := o.Queue(t.Context())
	require.NoError(t, err)
	assert.Equal(t, abs.QueueDepth{}, q, "nothing left queued")
}

func imageName(i int) string { return fmt.Sprintf("app-%04d", i) }

// TestStormBudgetsTwoReplicasPostgres: two orchestrators on one
// PostgreSQL database, each with more build workers than the global
// budget of 4: together they never run more than 4 builds at once.
func TestStormBudgetsTwoReplicasPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	const n = 30
	f := newStormFleet(t, n, 3, 40*time.Millisecond)
	f.publishAdvisories(t, demo.OpenSSL)
	var per [2]atomic.Int32
	var orch []*abs.Orchestrator
	for i := range 2 {
		db, err := abs.OpenPostgres(t.Context(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		orch = append(orch, f.start(t, db, abs.WithWorkers(4, 6),
			abs.WithStorm(abs.Storm{Budgets: abs.Budgets{Global: 4}}),
			abs.WithRebaser(buildFunc(func(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
				per[i].Add(1)
				return f.build(ctx, req)
			}))))
	}
	id, err := orch[0].StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	rep := waitStorm(t, orch[1], id)
	assertAllPublished(t, f, rep, n)
	assert.LessOrEqual(t, f.maxConcurrent(nil)[""], 4, "global budget across replicas")
	t.Logf("builds per replica: %d, %d; peak %d", per[0].Load(), per[1].Load(), f.maxConcurrent(nil)[""])
	assert.Positive(t, per[0].Load(), "replica 0 built")
	assert.Positive(t, per[1].Load(), "replica 1 built")
}

// TestPauseAndResume: a paused project's rebuilds wait, reported as
// paused, and run once resumed; nothing is lost.
func TestPauseAndResume(t *testing.T) {
	f := newStormFleet(t, 4, 2, 0)
	f.publishAdvisories(t, demo.OpenSSL)
	o := f.start(t, stormDB(t))
	require.ErrorIs(t, o.Pause(t.Context(), "no-such-project"), abs.ErrUnknownProject)
	require.NoError(t, o.Pause(t.Context(), "team-00"))
	require.NoError(t, o.Pause(t.Context(), abs.AllProjects))
	paused, err := o.Paused(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"", "team-00"}, paused)
	id, err := o.StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	rep := reportUntil(t, o, id, allWaiting(4, "paused (all projects)"))
	for _, s := range rep.Summary().Images {
		assert.Equal(t, "paused (all projects)", s.Waiting, s.Name)
	}
	assert.Empty(t, f.builds())

	// The global switch off: team-01 runs, team-00 stays paused.
	require.NoError(t, o.Resume(t.Context(), abs.AllProjects))
	rep = reportUntil(t, o, id, func(rep *abs.Report) bool {
		for _, r := range rep.Rebuilds {
			p := projectOf(2)(r.Image)
			if p == "team-01" && r.State != abs.RebuildPublished || p == "team-00" && r.Waiting != "paused (project team-00)" {
				return false
			}
		}
		return true
	})
	assert.Len(t, f.builds(), 2)

	require.NoError(t, o.Resume(t.Context(), "team-00"))
	rep = waitStorm(t, o, id)
	assertAllPublished(t, f, rep, 4)
}

// TestFreezeHoldsPublishes: on a weekend freeze the rebuilds are built and
// staged but wait to be published, reported as frozen until Monday; on
// Monday they are published.
func TestFreezeHoldsPublishes(t *testing.T) {
	f := newStormFleet(t, 3, 1, 0)
	sat := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC) // a Saturday
	f.setClock(sat)
	f.publishAdvisories(t, demo.OpenSSL)
	o := f.start(t, stormDB(t), abs.WithStorm(abs.Storm{Freeze: []abs.FreezeWindow{{Days: []time.Weekday{time.Saturday, time.Sunday}}}}))
	id, err := o.StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	rep := reportUntil(t, o, id, allWaiting(3, "frozen until 2026-12-07T00:00:00Z"))
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildBuilt, r.State, r.Image)
	}
	assert.Empty(t, f.published)
	f.setClock(sat.Add(38 * time.Hour)) // Monday 00:00
	require.NoError(t, o.Recheck(t.Context()))
	rep = waitStorm(t, o, id)
	assertAllPublished(t, f, rep, 3)
}

// TestSoak: a fresh Important advisory soaks before rebuilding; a
// Critical one does not.
func TestSoak(t *testing.T) {
	fresh := demo.OpenSSL
	fresh.ID, fresh.Age = "RHSA-2099:9101", time.Hour
	critical := fresh
	critical.ID, critical.Severity = "RHSA-2099:9102", "Critical"
	for _, tc := range []struct {
		adv  demo.Advisory
		soak bool
	}{{fresh, true}, {critical, false}} {
		t.Run(tc.adv.Severity, func(t *testing.T) {
			f := newStormFleet(t, 2, 1, 0)
			f.publishAdvisories(t, tc.adv)
			o := f.start(t, stormDB(t), abs.WithStorm(abs.Storm{Soak: 72 * time.Hour}))
			id, err := o.StartCycle(t.Context(), abs.CycleOptions{})
			require.NoError(t, err)
			if !tc.soak {
				assertAllPublished(t, f, waitStorm(t, o, id), 2)
				return
			}
			until := f.clock().Add(-time.Hour + 72*time.Hour).UTC().Truncate(time.Second)
			reportUntil(t, o, id, allWaiting(2, "soaking until "+until.Format("2006-01-02T15:04")))
			assert.Empty(t, f.builds())
			f.setClock(f.clock().Add(72 * time.Hour))
			require.NoError(t, o.Recheck(t.Context()))
			assertAllPublished(t, f, waitStorm(t, o, id), 2)
		})
	}
}

// TestBatchWindow: two advisories released a moment apart, each
// triggering a cycle, give one rebuild per image that fixes both.
func TestBatchWindow(t *testing.T) {
	f := newStormFleet(t, 3, 1, 0)
	second := demo.OpenSSL
	second.ID = "RHSA-2099:9103"
	second.Packages = []demo.Package{{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: "26.el9", Arch: "x86_64"}}
	o := f.start(t, stormDB(t), abs.WithClock(time.Now), abs.WithStorm(abs.Storm{BatchWindow: 3 * time.Second}))
	f.publishAdvisories(t, demo.OpenSSL)
	first, err := o.Trigger(t.Context(), demo.OpenSSL.ID)
	require.NoError(t, err)
	reportUntil(t, o, first, func(rep *abs.Report) bool { return rep.State == abs.CycleRunning })
	f.publishAdvisories(t, second)
	next, err := o.Trigger(t.Context(), second.ID)
	require.NoError(t, err)
	var rebuilds []abs.RebuildReport
	for _, id := range []string{first, next} {
		rebuilds = append(rebuilds, waitStorm(t, o, id).Rebuilds...)
	}
	require.Len(t, rebuilds, 3, "one rebuild per image across both cycles")
	for _, r := range rebuilds {
		assert.ElementsMatch(t, []string{demo.OpenSSL.ID, second.ID}, r.Advisories, r.Image)
		assert.Equal(t, abs.RebuildPublished, r.State)
	}
	for img, c := range f.builds() {
		assert.Equal(t, 1, c, img)
	}
}
