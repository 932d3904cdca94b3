package abs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

func TestDecide(t *testing.T) {
	important := []advisory.Finding{{Advisory: "RHSA-2099:1", Severity: advisory.SeverityImportant}}
	moderate := []advisory.Finding{{Advisory: "RHSA-2099:2", Severity: advisory.SeverityModerate}}
	img := func(name string, auto bool) *Image {
		return &Image{Name: name, Repository: "reg.example/" + name, Tag: "latest", AutoRebuild: auto}
	}
	type want struct {
		image  string
		reason Reason
		method Method
		parent string
		batch  int
	}
	for _, tc := range []struct {
		name      string
		states    []*imageState
		canRebase bool
		want      []want
	}{
		{"nothing affected", []*imageState{{img: img("a", true), digest: "sha256:a", findings: moderate}}, true, nil},
		{"affected, packages in the image: build", []*imageState{{img: img("a", true), digest: "sha256:a", findings: important,
			baseName: "reg.example/base:1"}}, true,
			[]want{{"a", ReasonAffected, MethodBuild, "", 0}}},
		{"affected, packages in the base: rebase", []*imageState{{img: img("a", true), digest: "sha256:a", findings: important,
			baseName: "reg.example/base:1", rpmdbInBase: true}}, true,
			[]want{{"a", ReasonAffected, MethodRebase, "", 0}}},
		{"no rebaser: build", []*imageState{{img: img("a", true), digest: "sha256:a", findings: important,
			baseName: "reg.example/base:1", rpmdbInBase: true}}, false,
			[]want{{"a", ReasonAffected, MethodBuild, "", 0}}},
		{"auto-rebuild off", []*imageState{{img: img("a", false), digest: "sha256:a", findings: important}}, true, nil},
		{"unreadable image", []*imageState{{img: img("a", true), findings: important, err: errors.New("gone")}}, true, nil},
		{"base moved", []*imageState{{img: img("a", true), digest: "sha256:a", baseName: "reg.example/base:1",
			baseDigest: "sha256:old", baseNow: "sha256:new"}}, true,
			[]want{{"a", ReasonBaseMoved, MethodRebase, "", 0}}},
		{"base unchanged", []*imageState{{img: img("a", true), digest: "sha256:a", baseName: "reg.example/base:1",
			baseDigest: "sha256:same", baseNow: "sha256:same"}}, true, nil},
		{"child of a rebuilt parent, parents first", []*imageState{
			{img: img("child", true), digest: "sha256:c", baseName: "reg.example/app:latest"},
			{img: img("app", true), digest: "sha256:p", findings: important, baseName: "reg.example/base:1"},
		}, true, []want{{"app", ReasonAffected, MethodBuild, "", 0}, {"child", ReasonDependency, MethodRebase, "app", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := decide(tc.states, DefaultRebuildPolicy, tc.canRebase)
			require.NoError(t, err)
			require.Len(t, steps, len(tc.want))
			ids := map[string]string{}
			for i, w := range tc.want {
				st := steps[i]
				assert.Equal(t, w.image, st.Image)
				assert.Equal(t, w.reason, st.Reason)
				assert.Equal(t, w.method, st.Method)
				assert.Equal(t, w.parent, st.Parent)
				assert.Equal(t, w.batch, st.Batch)
				if w.parent != "" {
					assert.Equal(t, ids[w.parent], st.ParentID, "the child names its parent's rebuild")
				}
				ids[st.Image] = st.ID
			}
		})
	}
	// The same image digest and advisories give the same rebuild id, the
	// guard against rebuilding twice for one advisory.
	s := []*imageState{{img: img("a", true), digest: "sha256:a", findings: important, expl: healthindex.Explanation{Grade: healthindex.GradeC}}}
	one, err := decide(s, DefaultRebuildPolicy, true)
	require.NoError(t, err)
	two, err := decide(s, DefaultRebuildPolicy, true)
	require.NoError(t, err)
	assert.Equal(t, one[0].ID, two[0].ID)
	assert.Equal(t, healthindex.GradeC, one[0].BeforeGrade)
}

// TestDecideBase: base-image findings drive a rebase onto the fixed base,
// or wait for it when the base tag still points at an affected digest;
// RPM findings beside them are rebuilt either way.
func TestDecideBase(t *testing.T) {
	const repo = "registry.redhat.io/openshift4/ose-cli"
	baseF := advisory.Finding{Advisory: "RHSA-2099:10", Severity: advisory.SeverityCritical, Match: advisory.MatchBaseImage,
		Package: repo, Installed: "sha256:old", Fixed: "sha256:fixed", ImageCPE: "cpe:/a:redhat:openshift:4.16"}
	rpmF := advisory.Finding{Advisory: "RHSA-2099:11", Severity: advisory.SeverityImportant, Package: "openssl", Match: advisory.MatchContentSet}
	st := func(now string, rpmdbInBase bool, fs ...advisory.Finding) *imageState {
		return &imageState{img: &Image{Name: "app", Repository: "reg.example/app", Tag: "1", AutoRebuild: true},
			digest: "sha256:app", baseName: repo + ":v4.16", baseDigest: "sha256:old", baseNow: now, rpmdbInBase: rpmdbInBase, findings: fs}
	}
	for _, tc := range []struct {
		name      string
		s         *imageState
		canRebase bool
		method    Method
		advs      []string
		waiting   bool
		why       string
	}{
		{"fixed digest available: rebase", st("sha256:fixed", false, baseF), true, MethodRebase, []string{"RHSA-2099:10"}, false,
			"base image " + repo + " has RHSA-2099:10; fixed in sha256:fixed"},
		{"newer base, not affected: rebase", st("sha256:newer", false, baseF), true, MethodRebase, []string{"RHSA-2099:10"}, false, "has RHSA-2099:10"},
		{"no rebaser: build on the fixed base", st("sha256:fixed", false, baseF), false, MethodBuild, []string{"RHSA-2099:10"}, false, "has RHSA-2099:10"},
		{"base tag unchanged: wait", st("sha256:old", false, baseF), true, MethodRebase, []string{"RHSA-2099:10"}, true, "has RHSA-2099:10"},
		{"base unresolved: wait", st("", false, baseF), true, MethodRebase, []string{"RHSA-2099:10"}, true, "has RHSA-2099:10"},
		{"mixed, fixed base, packages in the image: build", st("sha256:fixed", false, baseF, rpmF), true, MethodBuild,
			[]string{"RHSA-2099:10", "RHSA-2099:11"}, false, "base image " + repo + " has RHSA-2099:10"},
		{"mixed, fixed base, packages in the base: rebase", st("sha256:fixed", true, baseF, rpmF), true, MethodRebase,
			[]string{"RHSA-2099:10", "RHSA-2099:11"}, false, "has RHSA-2099:10"},
		{"mixed, no fixed base: the RPM advisory is rebuilt, the base one waits", st("sha256:old", false, baseF, rpmF), true, MethodBuild,
			[]string{"RHSA-2099:11"}, false, "waiting for the fixed base"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := decide([]*imageState{tc.s}, DefaultRebuildPolicy, tc.canRebase)
			require.NoError(t, err)
			require.Len(t, steps, 1)
			s := steps[0]
			assert.Equal(t, ReasonAffected, s.Reason)
			assert.Equal(t, tc.method, s.Method)
			assert.Equal(t, tc.advs, s.Advisories)
			assert.Contains(t, s.Why+" "+s.Waiting, tc.why)
			assert.Equal(t, tc.waiting, s.holdBase, "held for the fixed base")
			if tc.waiting {
				assert.True(t, s.Duplicate)
				assert.Contains(t, s.Waiting, "waiting for the fixed base")
			}
		})
	}
	// Never across OpenShift minors: a 4.17 base tag does not fix a 4.16 finding.
	s := st("sha256:newer", false, baseF)
	s.baseName = repo + ":v4.17"
	steps, err := decide([]*imageState{s}, DefaultRebuildPolicy, true)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	assert.True(t, steps[0].holdBase, "waits rather than crossing minors")
	// A waiting parent does not pull its children into a rebuild.
	child := &imageState{img: &Image{Name: "child", Repository: "reg.example/child", Tag: "1", AutoRebuild: true},
		digest: "sha256:c", baseName: "reg.example/app:1"}
	steps, err = decide([]*imageState{st("sha256:old", false, baseF), child}, DefaultRebuildPolicy, true)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	assert.Equal(t, "app", steps[0].Image)
}

// TestLayerCacheNoLockAcrossFetch: a slow base does not hold up the
// lookup of another base, and one base is fetched once however many
// images ask.
func TestLayerCacheNoLockAcrossFetch(t *testing.T) {
	slow := make(chan struct{})
	var fetches atomic.Int32
	c := newLayerCache(func(ctx context.Context, ref string) ([]string, error) {
		fetches.Add(1)
		if ref == "slow" {
			<-slow
		}
		return []string{ref + "-layer"}, nil
	})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			l, err := c.get(t.Context(), "slow")
			assert.NoError(t, err)
			assert.Equal(t, []string{"slow-layer"}, l)
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l, err := c.get(t.Context(), "fast")
		assert.NoError(t, err)
		assert.Equal(t, []string{"fast-layer"}, l)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the fast base waited for the slow one")
	}
	close(slow)
	wg.Wait()
	assert.Equal(t, int32(2), fetches.Load(), "each base fetched once")
}
