package rebuild_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

// fakeBuilder makes a tiny image per request, records the pins each target
// was built with, and fails for the targets listed in fail.
type fakeBuilder struct {
	t        *testing.T
	fail     map[string]bool
	mu       sync.Mutex
	pins     map[string]map[string]string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	gate     chan struct{} // when set, each build waits on it
}

func (f *fakeBuilder) Name() string { return "fake" }

func (f *fakeBuilder) Build(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	if f.pins == nil {
		f.pins = map[string]map[string]string{}
	}
	f.pins[req.Ref] = maps.Clone(req.Pins)
	f.mu.Unlock()
	if f.fail[req.Ref] {
		return nil, &rebuild.BuildError{Builder: "fake", ExitCode: 1, Log: []byte("step 2/3: boom\n"), Err: errors.New("exit status 1")}
	}
	img := image(f.t, nil, map[string]string{"release": "4"}, layer(f.t, map[string]string{"ref": req.Ref}))
	return &rebuild.Result{Image: img}, nil
}

func names(p *rebuild.Plan) [][]string {
	var out [][]string
	for _, b := range p.Batches {
		var ns []string
		for _, s := range b {
			ns = append(ns, s.Target.Name)
		}
		out = append(out, ns)
	}
	return out
}

func diamond(b rebuild.Builder) []*rebuild.Target {
	return []*rebuild.Target{
		{Name: "top", Ref: "reg.example/top:1", Bases: []string{"reg.example/left:1", "reg.example/right:1"}, Builder: b},
		{Name: "left", Ref: "reg.example/left:1", Bases: []string{"reg.example/base:9"}, Builder: b},
		{Name: "right", Ref: "reg.example/right:1", Bases: []string{"reg.example/base@sha256:" + sha}, Builder: b},
		{Name: "base", Ref: "reg.example/base:9", Bases: []string{"registry.access.redhat.com/ubi9:latest"}, Builder: b,
			Reason: rebuild.Reason{Advisories: []string{"RHSA-2026:0001"}}},
	}
}

func chain(b rebuild.Builder) []*rebuild.Target {
	return []*rebuild.Target{
		{Name: "c", Ref: "reg.example/c:1", Bases: []string{"reg.example/b:1"}, Builder: b},
		{Name: "a", Ref: "reg.example/a:1", Builder: b, Reason: rebuild.Reason{Text: "base image updated"}},
		{Name: "b", Ref: "reg.example/b:1", Bases: []string{"reg.example/a:1"}, Builder: b},
		{Name: "unrelated", Ref: "reg.example/a:2", Bases: []string{"reg.example/x:1"}, Builder: b},
	}
}

func TestNewPlan(t *testing.T) {
	tests := []struct {
		name    string
		targets []*rebuild.Target
		want    [][]string
	}{
		{"diamond", diamond(nil), [][]string{{"base"}, {"left", "right"}, {"top"}}},
		{"chain", chain(nil), [][]string{{"a", "unrelated"}, {"b"}, {"c"}}},
		{"independent", []*rebuild.Target{{Ref: "r/x:1"}, {Ref: "r/y:1", Bases: []string{"r/y:0"}}}, [][]string{{"r/x:1", "r/y:1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, tg := range tc.targets {
				if tg.Name == "" {
					tg.Name = tg.Ref
				}
			}
			p, err := rebuild.NewPlan(tc.targets)
			require.NoError(t, err)
			assert.Equal(t, tc.want, names(p))
		})
	}
}

func TestNewPlanErrors(t *testing.T) {
	_, err := rebuild.NewPlan([]*rebuild.Target{
		{Name: "a", Ref: "r/a:1", Bases: []string{"r/c:1"}},
		{Name: "b", Ref: "r/b:1", Bases: []string{"r/a:1"}},
		{Name: "c", Ref: "r/c:1", Bases: []string{"r/b:1"}},
		{Name: "d", Ref: "r/d:1", Bases: []string{"r/c:1"}},
		{Name: "ok", Ref: "r/ok:1"},
	})
	var ce *rebuild.CycleError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{"a", "b", "c", "d"}, ce.Names)

	_, err = rebuild.NewPlan([]*rebuild.Target{{Ref: "r/a:1"}, {Ref: "r/a:1"}})
	require.ErrorIs(t, err, rebuild.ErrDuplicateTarget)
}

func TestExecuteChainPinsParents(t *testing.T) {
	fb := &fakeBuilder{t: t}
	p, err := rebuild.NewPlan(chain(fb))
	require.NoError(t, err)
	rep, err := rebuild.Execute(t.Context(), p, rebuild.WithConcurrency(2))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rep.Close() })
	require.NoError(t, rep.Err())
	for _, n := range []string{"a", "b", "c", "unrelated"} {
		o := rep.Get(n)
		require.Equal(t, rebuild.StatusBuilt, o.Status, n)
		assert.Equal(t, "5", o.Release, "release label 4 of the built image is bumped")
	}
	a, b := rep.Get("a"), rep.Get("b")
	assert.Equal(t, "reg.example/a@"+a.Digest.String(), a.Pinned)
	assert.Equal(t, map[string]string{"reg.example/a": a.Pinned}, fb.pins["reg.example/b:1"])
	assert.Equal(t, map[string]string{"reg.example/b": b.Pinned}, fb.pins["reg.example/c:1"])
	assert.Empty(t, fb.pins["reg.example/a:1"])

	cf, err := a.Image.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "5", cf.Config.Labels[rebuild.LabelRelease])
	assert.Equal(t, "base image updated", cf.Config.Labels[rebuild.LabelReason])
	assert.Equal(t, "fake", cf.Config.Labels[rebuild.LabelMethod])
}

func TestExecuteFailureCascade(t *testing.T) {
	tests := []struct {
		name    string
		fail    string
		skipped map[string]string // target -> reason
		built   []string
	}{
		{name: "base fails", fail: "reg.example/base:9",
			skipped: map[string]string{
				"left":  "parent base failed: rebuild: fake failed (exit 1): exit status 1",
				"right": "parent base failed: rebuild: fake failed (exit 1): exit status 1",
				"top":   "parent left skipped: parent base failed: rebuild: fake failed (exit 1): exit status 1",
			}},
		{name: "left fails", fail: "reg.example/left:1",
			skipped: map[string]string{"top": "parent left failed: rebuild: fake failed (exit 1): exit status 1"},
			built:   []string{"base", "right"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fb := &fakeBuilder{t: t, fail: map[string]bool{tc.fail: true}}
			p, err := rebuild.NewPlan(diamond(fb))
			require.NoError(t, err)
			rep, err := rebuild.Execute(t.Context(), p, rebuild.WithConcurrency(2))
			require.NoError(t, err)
			t.Cleanup(func() { _ = rep.Close() })
			var be *rebuild.BuildError
			require.ErrorAs(t, rep.Err(), &be)
			assert.Equal(t, "step 2/3: boom\n", string(be.Log))
			for n, reason := range tc.skipped {
				o := rep.Get(n)
				assert.Equal(t, rebuild.StatusSkipped, o.Status, n)
				assert.Equal(t, reason, o.Reason, n)
			}
			for _, n := range tc.built {
				assert.Equal(t, rebuild.StatusBuilt, rep.Get(n).Status, n)
			}
			for ref := range fb.pins {
				for n := range tc.skipped {
					assert.NotEqual(t, "reg.example/"+n+":1", ref, "a skipped target was built")
				}
			}
		})
	}
}

func TestExecuteConcurrencyAndCancel(t *testing.T) {
	var targets []*rebuild.Target
	fb := &fakeBuilder{t: t, gate: make(chan struct{})}
	for i := range 6 {
		targets = append(targets, &rebuild.Target{Ref: fmt.Sprintf("reg.example/i%d:1", i), Builder: fb})
	}
	p, err := rebuild.NewPlan(targets)
	require.NoError(t, err)

	// Open the gate only once two builds are in flight at the same time:
	// with a serial executor the builds would wait until the context ends.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	go func() {
		for fb.inFlight.Load() < 2 && ctx.Err() == nil {
			runtime.Gosched()
		}
		close(fb.gate)
	}()
	rep, err := rebuild.Execute(ctx, p, rebuild.WithConcurrency(2))
	require.NoError(t, err)
	_ = rep.Close()
	require.NoError(t, rep.Err())
	assert.Equal(t, int32(2), fb.maxSeen.Load(), "two builds at a time, never more")

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	rep, err = rebuild.Execute(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	for _, o := range rep.Outcomes {
		assert.Equal(t, rebuild.StatusSkipped, o.Status)
		assert.Contains(t, o.Reason, "cancelled")
	}
}

func TestExecuteDryRun(t *testing.T) {
	fb := &fakeBuilder{t: t}
	p, err := rebuild.NewPlan(diamond(fb))
	require.NoError(t, err)
	rep, err := rebuild.Execute(t.Context(), p, rebuild.WithDryRun())
	require.NoError(t, err)
	assert.Empty(t, fb.pins, "dry run must not build")
	assert.Equal(t, `base: planned (RHSA-2026:0001)
left: planned (parent base rebuilt)
right: planned (parent base rebuilt)
top: planned (parent left, right rebuilt)
`, rep.String())
	assert.Equal(t, map[string]string{"reg.example/left": "<new digest of left>", "reg.example/right": "<new digest of right>"}, rep.Get("top").Pins)
}

func ExamplePlan() {
	b := &rebuild.Rebase{}
	plan, err := rebuild.NewPlan([]*rebuild.Target{
		{Name: "app", Ref: "quay.example/acme/app:2.1", Bases: []string{"quay.example/acme/runtime:9"}, Builder: b},
		{Name: "runtime", Ref: "quay.example/acme/runtime:9", Bases: []string{"registry.access.redhat.com/ubi9/ubi:latest"},
			Builder: &rebuild.Buildah{}, Reason: rebuild.Reason{Text: "fixes available", Advisories: []string{"RHSA-2026:0101", "RHSA-2026:0102"}}},
		{Name: "tools", Ref: "quay.example/acme/tools:1", Bases: []string{"quay.example/acme/runtime:9"}, Builder: &rebuild.Buildah{}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)
	// Output:
	// batch 1:
	//   runtime (buildah): fixes available: RHSA-2026:0101, RHSA-2026:0102
	// batch 2:
	//   app (rebase) on runtime: parent runtime rebuilt
	//   tools (buildah) on runtime: parent runtime rebuilt
}

func ExampleNextRelease() {
	for _, r := range []string{"7", "7.1", "1.el9", ""} {
		fmt.Printf("%q -> %q\n", r, rebuild.NextRelease(r))
	}
	// Output:
	// "7" -> "8"
	// "7.1" -> "7.2"
	// "1.el9" -> "2.el9"
	// "" -> "1"
}
