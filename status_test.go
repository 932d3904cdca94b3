package abs_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
)

// TestRebuildNowUnaffected: nothing affects the images (no advisories, the
// base did not move), auto-rebuild is off, and RebuildNow still plans and
// runs a rebuild of the one image asked for, in a cycle of its own, each
// time it is asked.
func TestRebuildNowUnaffected(t *testing.T) {
	e := newEnv(t)
	app, other := e.fleet.Apps[0].Name, e.fleet.Apps[1].Name
	for i := range e.projects[0].Images {
		e.projects[0].Images[i].AutoRebuild, e.projects[0].Images[i].BuildService = false, true
	}
	o := e.start(e.sqlite("abs.db"))
	rep := wait(t, o, must(o.StartCycle(t.Context(), abs.CycleOptions{})))
	require.Empty(t, rep.Plan, "nothing is due")

	for run := 1; run <= 2; run++ {
		id, err := o.RebuildNow(t.Context(), app)
		require.NoError(t, err)
		rep = wait(t, o, id)
		require.Len(t, rep.Plan, 1, "only the image asked for")
		assert.Equal(t, app, rep.Plan[0].Image)
		assert.Equal(t, abs.ReasonManual, rep.Plan[0].Reason)
		require.Len(t, rep.Rebuilds, 1)
		assert.True(t, rep.Rebuilds[0].State.Final(), rep.Rebuilds[0].State)
		assert.NotEqual(t, abs.RebuildSkipped, rep.Rebuilds[0].State, "a manual rebuild runs with auto-rebuild off: %s", rep.Rebuilds[0].Detail)

		hist, total, err := o.RebuildHistory(t.Context(), app, 0, 10)
		require.NoError(t, err)
		assert.Equal(t, run, total, "a manual rebuild is never deduplicated against the last one")
		// The test's clock stands still, so "newest first" cannot be told
		// apart here; the api tests check the order on a running clock.
		assert.True(t, slices.ContainsFunc(hist, func(r abs.RebuildReport) bool { return r.ID == rep.Rebuilds[0].ID }))
	}
	_, total, err := o.RebuildHistory(t.Context(), other, 0, 10)
	require.NoError(t, err)
	assert.Zero(t, total)

	cs, total, err := o.Cycles(t.Context(), 0, 2)
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	require.Len(t, cs, 2)
	all, _, err := o.Cycles(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, all, 3)
	causes := map[string]int{}
	for _, c := range all {
		causes[c.Cause] += c.Rebuilds
		ci, err := o.Cycle(t.Context(), c.ID)
		require.NoError(t, err)
		assert.Equal(t, c, ci)
	}
	assert.Equal(t, map[string]int{"manual": 0, "rebuild": 2}, causes, "each of the two manual cycles has its rebuild")

	_, err = o.RebuildNow(t.Context(), "no/such/image")
	require.ErrorIs(t, err, abs.ErrNotFound)
	_, err = o.Cycle(t.Context(), "no-such-cycle")
	require.ErrorIs(t, err, abs.ErrUnknownCycle)
	_, _, err = o.Cycles(t.Context(), -1, 10)
	require.ErrorIs(t, err, abs.ErrConfig)
}

// TestImageStatusAndStats reads an image's status and the fleet's stats
// after a cycle rebased both images onto the fixed base.
func TestImageStatusAndStats(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	st, err := o.ImageStatus(t.Context(), e.fleet.Apps[0].Name)
	require.NoError(t, err)
	assert.Empty(t, st.Digest, "never resolved")
	assert.Empty(t, st.Grade)

	rep := wait(t, o, must(o.StartCycle(t.Context(), abs.CycleOptions{})))
	require.Len(t, rep.Rebuilds, 2)
	st, err = o.ImageStatus(t.Context(), e.fleet.Apps[0].Name)
	require.NoError(t, err)
	require.NotNil(t, st.LastRebuild)
	assert.Equal(t, st.LastRebuild.NewDigest, st.Digest, "the published rebuild is what the tag points at")
	assert.Equal(t, "A", st.Grade)
	assert.Empty(t, st.Findings)

	stats, err := o.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, stats.Images)
	assert.Equal(t, map[string]int{"A": 2}, stats.Grades, "the grades ImageStatus gives: the published rebuilds'")
	assert.Empty(t, stats.NextDrops, "an image with no finding has no drop ahead")
	assert.Equal(t, []abs.RebuildCount{{State: abs.RebuildPublished, Method: abs.MethodRebase, Count: 2}}, stats.Rebuilds)
	assert.False(t, stats.NewestAdvisory.IsZero())
	assert.Equal(t, 1, stats.Notifications[abs.NotificationSent])
	require.Len(t, stats.Cycles, 1)
	assert.Equal(t, abs.CyclePlanned, stats.Cycles[0].State)

	rep2, err := o.Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, rep2.Plan, "nothing left to do")

	// The status before a rebuild (a fresh registry, the build service
	// off, so the tag stays on the old digest): the old digest's findings,
	// each with the rule that matched, the next drop, and a timeline that
	// starts at its first grade.
	e = newEnv(t, demo.Advisories...)
	for i := range e.projects {
		for j := range e.projects[i].Images {
			im := &e.projects[i].Images[j]
			im.AutoRebuild, im.AutoPublish, im.BuildService = false, false, false
		}
	}
	off := e.start(e.sqlite("off.db"))
	require.Empty(t, wait(t, off, must(off.StartCycle(t.Context(), abs.CycleOptions{}))).Rebuilds)
	st, err = off.ImageStatus(t.Context(), e.fleet.Apps[0].Name)
	require.NoError(t, err)
	assert.Nil(t, st.LastRebuild)
	assert.Equal(t, "C", st.Grade)
	require.NotEmpty(t, st.Findings)
	for _, f := range st.Findings {
		assert.NotEmpty(t, f.Match, f.Advisory)
	}
	require.NotNil(t, st.NextDrop)
	assert.Equal(t, "D", st.NextGrade)
	require.NotEmpty(t, st.Timeline)
	assert.Equal(t, "C", st.Timeline[0].Grade)
	require.NotNil(t, st.Timeline[0].Until)
	assert.True(t, st.Timeline[0].From.Before(*st.NextDrop))
	assert.Equal(t, *st.NextDrop, st.Timeline[0].Until.UTC(), "the first step ends at the next drop")
	stats, err = off.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"C": 2}, stats.Grades)
	assert.Len(t, stats.NextDrops, 2)
}
