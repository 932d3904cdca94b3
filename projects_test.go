package abs_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/secret"
)

// databases returns the databases a test runs on: SQLite, and
// PostgreSQL when one is available (storetest's env/skip rule). Each
// returns a function that opens one more connection to the same
// database (for a second replica; on SQLite, the same handle).
func databases(t *testing.T) map[string]func(t *testing.T, e *env) func() *abs.Database {
	return map[string]func(t *testing.T, e *env) func() *abs.Database{
		"sqlite": func(t *testing.T, e *env) func() *abs.Database {
			db := e.sqlite("abs.db")
			return func() *abs.Database { return db }
		},
		"postgres": func(t *testing.T, e *env) func() *abs.Database {
			dsn := storetest.PostgresDSN(t)
			return func() *abs.Database {
				db, err := abs.OpenPostgres(t.Context(), dsn)
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				return db
			}
		},
	}
}

func newKey(t *testing.T) abs.SecretKey {
	k, err := secret.GenerateKey()
	require.NoError(t, err)
	return k
}

// runtimeEnv is an env whose projects are created at runtime, not given
// to New.
func runtimeEnv(t *testing.T, advs ...demo.Advisory) (*env, abs.Project) {
	e := newEnv(t, advs...)
	p := e.projects[0]
	p.ID = "demo"
	e.projects = nil
	return e, p
}

func TestProjectsLifecycle(t *testing.T) {
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) {
			e, p := runtimeEnv(t)
			o := e.start(open(t, e)(), abs.WithSecretKey(newKey(t)))
			ctx := abs.WithActor(t.Context(), "alice")
			assert.Empty(t, o.Images())

			p.Images[0].AutoRebuild, p.Images[1].AutoRebuild = false, false
			got, ch, err := o.CreateProject(ctx, p)
			require.NoError(t, err)
			assert.Equal(t, int64(1), got.Version)
			assert.Equal(t, int64(1), ch.Version)
			require.Len(t, got.Images, 2)
			assert.Len(t, o.Images(), 2, "the snapshot follows at once")

			_, _, err = o.CreateProject(ctx, p)
			assert.ErrorIs(t, err, abs.ErrExists)
			_, _, err = o.CreateImage(ctx, "demo", abs.Image{Name: p.Images[0].Name, Repository: p.Images[0].Repository})
			assert.ErrorIs(t, err, abs.ErrExists)
			_, _, err = o.CreateImage(ctx, "nope", abs.Image{Repository: "registry.example/x"})
			assert.ErrorIs(t, err, abs.ErrNotFound)

			name := p.Images[0].Name
			img, err := o.GetImage(ctx, name)
			require.NoError(t, err)
			assert.False(t, img.BuildService)
			v := img.Version

			// Auto-rebuild turns the build service and auto-publish on,
			// and the answer says so.
			on := true
			img, ch, err = o.UpdateImage(ctx, name, abs.ImageUpdate{AutoRebuild: &on, IfVersion: v})
			require.NoError(t, err)
			assert.True(t, img.AutoRebuild)
			assert.True(t, img.AutoPublish)
			assert.True(t, img.BuildService)
			assert.Equal(t, v+1, ch.Version)
			assert.Contains(t, ch.Notes, "image "+name+": auto-rebuild turns on auto-publish")
			assert.Contains(t, ch.Notes, "image "+name+": auto-rebuild turns on the build service")

			// A stale version is a conflict, and changes nothing.
			off := false
			_, _, err = o.UpdateImage(ctx, name, abs.ImageUpdate{AutoRebuild: &off, IfVersion: v})
			require.ErrorIs(t, err, abs.ErrConflict)
			img, err = o.GetImage(ctx, name)
			require.NoError(t, err)
			assert.True(t, img.AutoRebuild)

			// The build service off: scanned and graded, never rebuilt.
			img, ch, err = o.UpdateImage(ctx, name, abs.ImageUpdate{BuildService: &off})
			require.NoError(t, err)
			assert.False(t, img.AutoRebuild)
			assert.Equal(t, []string{"image " + name + ": turning the build service off turns auto-rebuild off"}, ch.Notes)
			// Contradictions are refused, naming the field.
			_, _, err = o.UpdateImage(ctx, name, abs.ImageUpdate{BuildService: &off, AutoRebuild: &on})
			require.ErrorIs(t, err, abs.ErrConfig)
			assert.Contains(t, err.Error(), "auto_rebuild")

			for _, tc := range []struct {
				u     abs.ImageUpdate
				field string
			}{
				{abs.ImageUpdate{Tags: &[]string{"bad tag"}}, "tags"},
				{abs.ImageUpdate{Base: ptr("UPPER CASE::")}, "base"},
				{abs.ImageUpdate{BuildArgs: &map[string]string{"1x": "y"}}, "build_args"},
				{abs.ImageUpdate{Owners: &[]string{""}}, "owners"},
				{abs.ImageUpdate{Source: &abs.SourceSpec{URL: "https://user:pw@git.example/x.git"}}, "source.url"},
				{abs.ImageUpdate{Source: &abs.SourceSpec{URL: "ssh://git@git.example/x.git", ContextDir: "../up"}}, "source.context_dir"},
				{abs.ImageUpdate{Source: &abs.SourceSpec{URL: "ssh://git@git.example/x.git", Branch: "a", Tag: "b"}}, "source"},
				{abs.ImageUpdate{Source: &abs.SourceSpec{URL: "ssh://git@git.example/x.git", KnownHosts: "not a key line"}}, "source.known_hosts"},
				{abs.ImageUpdate{Source: &abs.SourceSpec{URL: "ftp://git.example/x.git"}}, "source.url"},
			} {
				_, _, err := o.UpdateImage(ctx, name, tc.u)
				require.ErrorIs(t, err, abs.ErrConfig, tc.field)
				assert.Contains(t, err.Error(), tc.field+":", tc.field)
			}
			_, _, err = o.CreateProject(ctx, abs.Project{ID: "bad id!"})
			assert.ErrorIs(t, err, abs.ErrConfig)

			src := abs.SourceSpec{URL: "ssh://git@git.example/app.git", Branch: "main", Containerfile: "Containerfile"}
			img, _, err = o.UpdateImage(ctx, name, abs.ImageUpdate{Source: &src, Tags: &[]string{"latest", "1"},
				Owners: &[]string{"dev@example.com"}, BuildArgs: &map[string]string{"VERSION": "1"}})
			require.NoError(t, err)
			assert.Equal(t, &src, img.SourceSpec)
			assert.Equal(t, []string{"latest", "1"}, img.Tags)

			_, _, err = o.UpdateProject(ctx, "demo", abs.ProjectUpdate{Name: ptr("Demo"), IfVersion: 7})
			require.ErrorIs(t, err, abs.ErrConflict)
			proj, _, err := o.UpdateProject(ctx, "demo", abs.ProjectUpdate{Name: ptr("Demo"), Owners: &[]string{"lead@example.com"}})
			require.NoError(t, err)
			assert.Equal(t, "Demo", proj.Name)
			assert.Equal(t, int64(2), proj.Version)
			// The pipeline's view merges the project's owners in.
			for _, i := range o.Images() {
				if i.Name == name {
					assert.Equal(t, []string{"dev@example.com", "lead@example.com"}, i.Owners)
					assert.Equal(t, "Demo", i.Project())
				}
			}

			_, err = o.DeleteImage(ctx, name)
			require.NoError(t, err)
			_, err = o.GetImage(ctx, name)
			require.ErrorIs(t, err, abs.ErrNotFound)
			_, err = o.Retry(ctx, name)
			require.ErrorIs(t, err, abs.ErrUnknownImage)
			assert.ErrorIs(t, err, abs.ErrNotFound, "ErrUnknownImage is a not-found")
			assert.Len(t, o.Images(), 1)
			_, err = o.DeleteProject(ctx, "demo")
			require.NoError(t, err)
			_, err = o.DeleteProject(ctx, "demo")
			require.ErrorIs(t, err, abs.ErrNotFound)
			assert.Empty(t, o.Images())
			ps, err := o.Projects(ctx)
			require.NoError(t, err)
			assert.Empty(t, ps)

			entries, total, err := o.Audit(ctx, 1, 3)
			require.NoError(t, err)
			assert.Equal(t, 9, total, "create project, 2 images, 3 image updates, 1 project update, 2 deletes")
			require.Len(t, entries, 3)
			assert.Equal(t, "delete-project", entries[0].Action)
			assert.Equal(t, "delete-image", entries[1].Action)
			assert.Equal(t, "update-project", entries[2].Action)
			for _, a := range entries {
				assert.Equal(t, "alice", a.Actor)
			}
			last, _, err := o.Audit(ctx, 3, 3)
			require.NoError(t, err)
			require.Len(t, last, 3)
			assert.Equal(t, "create-image", last[1].Action)
			assert.Equal(t, "create-project", last[2].Action)
			assert.Equal(t, "demo", last[2].Target)
			past, total, err := o.Audit(ctx, 4, 3)
			require.NoError(t, err)
			assert.Empty(t, past)
			assert.Equal(t, 9, total)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentUpdatesLoseNoSwitch: writers change different fields of
// one image at the same time, on two orchestrators sharing the database;
// every change survives. Writers giving the same IfVersion: one wins, the
// others get ErrConflict.
func TestConcurrentUpdatesLoseNoSwitch(t *testing.T) {
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) {
			e, p := runtimeEnv(t)
			p.Images[0].AutoRebuild, p.Images[1].AutoRebuild = false, false
			conn := open(t, e)
			o1 := e.start(conn())
			o2 := o1
			if name == "postgres" {
				o2 = e.start(conn())
			}
			ctx := t.Context()
			_, _, err := o1.CreateProject(ctx, p)
			require.NoError(t, err)
			img := p.Images[0].Name
			on, off := true, false
			updates := []abs.ImageUpdate{
				{BuildService: &on},
				{AutoPublish: &on},
				{Tags: &[]string{"latest", "stable"}},
				{Owners: &[]string{"x@example.com"}},
				{Base: ptr("registry.example/base:9")},
				{BuildArgs: &map[string]string{"A": "1"}},
			}
			reset := abs.ImageUpdate{BuildService: &off, AutoPublish: &off, Tags: &[]string{}, Owners: &[]string{},
				Base: ptr(""), BuildArgs: &map[string]string{}}
			for round := range 10 {
				_, _, err := o1.UpdateImage(ctx, img, reset)
				require.NoError(t, err)
				var wg sync.WaitGroup
				for i, u := range updates {
					o := []*abs.Orchestrator{o1, o2}[i%2]
					wg.Go(func() {
						_, _, err := o.UpdateImage(ctx, img, u)
						assert.NoError(t, err)
					})
				}
				wg.Wait()
				got, err := o2.GetImage(ctx, img)
				require.NoError(t, err)
				assert.True(t, got.BuildService, "round %d", round)
				assert.True(t, got.AutoPublish, "round %d", round)
				assert.Equal(t, []string{"latest", "stable"}, got.Tags, "round %d", round)
				assert.Equal(t, []string{"x@example.com"}, got.Owners, "round %d", round)
				assert.Equal(t, "registry.example/base:9", got.Base, "round %d", round)
				assert.Equal(t, map[string]string{"A": "1"}, got.BuildArgs, "round %d", round)
			}

			cur, err := o1.GetImage(ctx, img)
			require.NoError(t, err)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won, conflicts int
			for i := range 6 {
				o := []*abs.Orchestrator{o1, o2}[i%2]
				wg.Go(func() {
					_, _, err := o.UpdateImage(ctx, img, abs.ImageUpdate{Base: ptr(fmt.Sprintf("registry.example/base:%d", i)), IfVersion: cur.Version})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case errors.Is(err, abs.ErrConflict):
						conflicts++
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			assert.Equal(t, 1, won)
			assert.Equal(t, 5, conflicts)
		})
	}
}

// TestRuntimeProjectOnTwoReplicas: two orchestrators on one PostgreSQL
// database, both started without projects; a project created through
// one is planned and rebuilt by a cycle of the other.
func TestRuntimeProjectOnTwoReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	e, p := runtimeEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	var orch []*abs.Orchestrator
	for i := range 2 {
		db, err := abs.OpenPostgres(t.Context(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		if i == 0 {
			// The replica the portal talks to runs no workers, so the
			// other one does all the work.
			o, err := abs.New(t.Context(), db, nil, e.options()...)
			require.NoError(t, err)
			orch = append(orch, o)
			continue
		}
		orch = append(orch, e.start(db))
	}
	_, _, err := orch[0].CreateProject(abs.WithActor(t.Context(), "portal"), p)
	require.NoError(t, err)
	assert.Len(t, orch[1].Images(), 2, "the other replica sees the new images at once")

	rep, err := orch[1].RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 2, "both images planned by the replica that did not create them")
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildPublished, r.State, r.Image+": "+r.Detail)
	}
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "api:1.0-2": 1, "api:latest": 1}, e.tagPushes())
	assert.Len(t, orch[1].Images(), 2)
	require.Len(t, rep.Notifications, 1)
	assert.Equal(t, 2, rep.Notifications[0].Events, "the owner is told about both images")

	// Turned off through the second, the first sees it before it plans.
	off := false
	_, _, err = orch[1].UpdateImage(t.Context(), "demo/app", abs.ImageUpdate{BuildService: &off})
	require.NoError(t, err)
	plan, err := orch[0].Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	for _, i := range orch[0].Images() {
		if i.Name == "demo/app" {
			assert.False(t, i.BuildService)
			assert.False(t, i.AutoRebuild)
		}
	}
	assert.Empty(t, plan.Plan)
}

// TestRemovedImageEndsCleanly: an image removed while its cycle runs ends
// with a recorded state (skipped as no longer managed, or finished), not
// a panic.
func TestRemovedImageEndsCleanly(t *testing.T) {
	e, p := runtimeEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	ctx := t.Context()
	_, _, err := o.CreateProject(ctx, p)
	require.NoError(t, err)
	id, err := o.StartCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	_, err = o.DeleteProject(ctx, "demo")
	require.NoError(t, err)
	rep := wait(t, o, id)
	for _, r := range rep.Rebuilds {
		assert.True(t, r.State.Final(), "%s: %s", r.Image, r.State)
		if r.State == abs.RebuildSkipped {
			assert.Equal(t, "image is no longer managed", r.Detail)
		}
	}
}

// TestSeedRules: projects given to New are upserted by id; a runtime
// change to a seeded image survives a restart with the same
// configuration, a changed configuration wins, runtime projects stay.
func TestSeedRules(t *testing.T) {
	e := newEnv(t)
	db := e.sqlite("abs.db")
	newO := func() *abs.Orchestrator {
		o, err := abs.New(t.Context(), db, e.projects, e.options()...)
		require.NoError(t, err)
		return o
	}
	o := newO()
	ps, err := o.Projects(t.Context())
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "demo", ps[0].ID, "a slug of the name when the configuration gives no id")
	off := false
	_, _, err = o.UpdateImage(t.Context(), "demo/app", abs.ImageUpdate{AutoRebuild: &off})
	require.NoError(t, err)
	_, _, err = o.CreateProject(t.Context(), abs.Project{ID: "portal-made", Images: []abs.Image{{Repository: "registry.example/x"}}})
	require.NoError(t, err)

	o = newO()
	img, err := o.GetImage(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.False(t, img.AutoRebuild, "the runtime change survives a restart with the same configuration")
	assert.Equal(t, int64(2), img.Version, "an unchanged configuration writes nothing")
	assert.Len(t, o.Images(), 3)
	assert.True(t, slices.ContainsFunc(o.Notes(), func(n string) bool {
		return n == "project portal-made is stored but not in the configuration: kept (DeleteProject removes it)"
	}), o.Notes())

	e.projects[0].Images[0].Tags = []string{"latest", "1"}
	o = newO()
	img, err = o.GetImage(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.True(t, img.AutoRebuild, "a changed configuration wins")
	assert.Equal(t, []string{"latest", "1"}, img.Tags)
	entries, _, err := o.Audit(t.Context(), 1, 1)
	require.NoError(t, err)
	assert.Equal(t, abs.AuditEntry{Time: entries[0].Time, Actor: "configuration", Action: "sync-image", Target: "demo/app",
		Detail: "the configuration changed"}, entries[0])

	// An image configured in another project than the stored one.
	e.projects = append(e.projects, abs.Project{ID: "other", Images: []abs.Image{{Repository: "registry.example/x"}}})
	_, err = abs.New(t.Context(), db, e.projects, e.options()...)
	require.ErrorIs(t, err, abs.ErrConfig)
}
