package abs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
)

func chainEnv(t *testing.T, advs ...demo.Advisory) *env {
	e := newEnv(t, advs...)
	_, err := demo.SeedChild(t.Context(), e.reg.Host, e.fleet, e.fleet.Apps[0], "demo/plugin")
	require.NoError(t, err)
	child := e.fleet.Apps[len(e.fleet.Apps)-1]
	e.projects[0].Images = append(e.projects[0].Images, abs.Image{Name: child.Name, Repository: child.Repository,
		Tag: child.Tag, AutoRebuild: true})
	e.mu.Lock()
	clear(e.tagPuts)
	e.mu.Unlock()
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	return e
}

// TestParentsBeforeChildren: demo/plugin is built on demo/app, which is
// built on the base. Both are rebuilt; the child waits for its parent and
// is rebased onto the parent's new digest.
func TestParentsBeforeChildren(t *testing.T) {
	e := chainEnv(t, demo.Advisories...)
	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	batch := map[string]int{}
	for _, st := range rep.Plan {
		batch[st.Image] = st.Batch
	}
	assert.Less(t, batch["demo/app"], batch["demo/plugin"], "the parent is planned first")
	var app, plugin abs.RebuildReport
	for _, r := range rep.Rebuilds {
		switch r.Image {
		case "demo/app":
			app = r
		case "demo/plugin":
			plugin = r
		}
		assert.Equal(t, abs.RebuildPublished, r.State, r.Image+": "+r.Detail)
		assert.Equal(t, healthindex.GradeA, r.AfterGrade, r.Image)
	}
	require.NotEmpty(t, app.NewDigest)
	got, err := remoteBase(t, e, "demo/plugin", plugin.NewDigest)
	require.NoError(t, err)
	assert.Equal(t, app.NewDigest, got, "the child is built on its parent's new digest")
	assert.Len(t, e.smtp.Messages(), 1, "one owner, one message")
}

// TestParentFailureSkipsChildren: the parent's rebuild fails verification,
// so its child is skipped with that reason and nothing is published.
func TestParentFailureSkipsChildren(t *testing.T) {
	future := demo.Advisory{ID: "RHSA-2099:9100", Severity: "Critical", Title: "glibc update not in any base yet",
		CVE: "CVE-2099-9100", Age: 3 * 24 * time.Hour, Packages: []demo.Package{{Name: "glibc", Version: "2.34", Release: "200.el9_4", Arch: "x86_64"}}}
	e := chainEnv(t, future)
	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	states := map[string]abs.RebuildState{}
	for _, r := range rep.Rebuilds {
		states[r.Image] = r.State
		if r.Image == "demo/plugin" {
			assert.Contains(t, r.Detail, "parent demo/app failed")
		}
	}
	assert.Equal(t, map[string]abs.RebuildState{"demo/app": abs.RebuildFailed, "demo/api": abs.RebuildFailed, "demo/plugin": abs.RebuildSkipped}, states)
	assert.Empty(t, e.tagPushes())
	assert.Len(t, e.smtp.Messages(), 1)
}
