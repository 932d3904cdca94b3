package abs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
)

// TestNewAdvisoryToPublishedImage goes from "a new advisory appears in the
// feed" to "rebuilt images pushed, grade A, one email", on real parts: a
// registry and an SMTP server on loopback, the rebase builder, the real
// scanner and advisory index.
func TestNewAdvisoryToPublishedImage(t *testing.T) {
	e := newEnv(t, demo.Curl) // only a Moderate advisory at first
	o := e.start(e.sqlite("abs.db"))
	ctx := t.Context()

	first, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	for _, img := range first.Images {
		assert.Equal(t, healthindex.GradeA, img.Grade, "a Moderate advisory does not lower the grade")
	}
	assert.Empty(t, first.Plan)
	assert.Empty(t, e.smtp.Messages())

	// The vendor fixes openssl in the base and publishes the advisory.
	require.NoError(t, demo.UpdateBase(ctx, e.fleet))
	e.publish(demo.OpenSSL)
	id, err := o.Trigger(ctx, demo.OpenSSL.ID)
	require.NoError(t, err)
	rep := wait(t, o, id)

	assert.Equal(t, []string{"demo/api", "demo/app"}, rep.Affected[demo.OpenSSL.ID])
	sum := byName(rep)
	require.Len(t, sum, 2)
	for _, a := range e.fleet.Apps {
		s := sum[a.Name]
		assert.Equal(t, healthindex.GradeC, s.BeforeGrade, a.Name)
		assert.Equal(t, healthindex.GradeA, s.AfterGrade, a.Name)
		assert.True(t, s.Published, a.Name)
		assert.Equal(t, a.Digest, s.OldDigest)
		assert.NotEqual(t, s.OldDigest, s.NewDigest)
		assert.Equal(t, []string{demo.OpenSSL.ID}, s.Advisories)
	}
	for _, r := range rep.Rebuilds {
		assert.Equal(t, []abs.RebuildState{abs.RebuildPlanned, abs.RebuildBuilding, abs.RebuildBuilt, abs.RebuildPublished}, r.History, r.Image)
		assert.Equal(t, abs.MethodRebase, r.Method)
	}
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "api:1.0-2": 1, "api:latest": 1}, e.tagPushes())
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1, "one message for the one owner")
	assert.Equal(t, []string{demo.Owner}, msgs[0].To)

	// The next cycle finds nothing to do: no rebuild, no push, no mail.
	again, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, again.Plan)
	for _, img := range again.Images {
		assert.Equal(t, healthindex.GradeA, img.Grade)
	}
	assert.Len(t, e.tagPushes(), 4)
	assert.Len(t, e.smtp.Messages(), 1)
}

// TestDryRun plans with explanations and touches nothing.
func TestDryRun(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, abs.CycleDryRun, rep.State)
	require.Len(t, rep.Plan, 2)
	for _, st := range rep.Plan {
		assert.Equal(t, abs.ReasonAffected, st.Reason)
		assert.Contains(t, st.Why, demo.OpenSSL.ID)
		assert.Equal(t, healthindex.GradeC, st.BeforeGrade)
	}
	for _, img := range rep.Images {
		assert.NotEmpty(t, img.Explanation)
	}
	assert.Empty(t, rep.Rebuilds)
	assert.Empty(t, e.tagPushes())
	assert.Empty(t, e.smtp.Messages())

	// A real cycle afterwards still rebuilds: the dry run reserved nothing.
	real, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Len(t, real.Rebuilds, 2)
}

// TestPlanRunsNoQueuedWork: Plan needs no workers and runs none, so a real
// cycle queued before it stays queued: nothing is built, pushed or mailed.
func TestPlanRunsNoQueuedWork(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o, err := abs.New(t.Context(), e.sqlite("abs.db"), e.projects, e.options()...)
	require.NoError(t, err)
	queued, err := o.StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)

	rep, err := o.Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Equal(t, abs.CycleDryRun, rep.State)
	assert.True(t, rep.DryRun)
	assert.Len(t, rep.Plan, 2)
	assert.Empty(t, rep.Rebuilds)
	assert.Empty(t, e.tagPushes())
	assert.Empty(t, e.smtp.Messages())

	q, err := o.Report(t.Context(), queued)
	require.NoError(t, err)
	assert.Equal(t, abs.CycleQueued, q.State)
}

// TestDryRunChangesNoState: a dry run stores no advisory and moves no
// feed cursor, so the real run after it finds the same new advisories
// and the same affected images.
func TestDryRunChangesNoState(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	dry, err := o.Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, dry.Synced, "the dry run sees the new advisories")
	require.NotEmpty(t, dry.Affected[demo.OpenSSL.ID])
	again, err := o.RunCycle(t.Context(), abs.CycleOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, dry.Synced, again.Synced, "a second dry run finds them again")

	real, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Equal(t, dry.Synced, real.Synced, "the real run finds the same new advisories")
	assert.Equal(t, dry.Affected, real.Affected, "and the same affected images")
	assert.Len(t, real.Rebuilds, 2)
	after, err := o.Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, after.Synced, "after the real run nothing is new")
}
