package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
)

// withPackages is the reverse index read from LoadFleet: the managed
// names whose current image holds a package with one of names, sorted.
func withPackages(t *testing.T, db *store.DB, names []string) []string {
	t.Helper()
	f, err := store.LoadFleet(t.Context(), db)
	require.NoError(t, err)
	var out []string
	for n, d := range f.Managed {
		rec, ok := f.Images[d]
		if !ok {
			continue
		}
		if slices.ContainsFunc(f.Layers[rec.Layer], func(i uint32) bool { return slices.Contains(names, f.Packages[i].Name) }) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// TestLayersBeforeMigration7: a layer stored as one JSON array (before
// package ids) reads back alike, and its packages are shared with the
// layers stored by id.
func TestLayersBeforeMigration7(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			require.NoError(t, db.Migrate(ctx))
			now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			require.NoError(t, store.PutInventory(ctx, db, inv("sha256:new", "sha256:newbase", "openssl-libs", "glibc"), "", now))
			require.NoError(t, store.SetManaged(ctx, db, "new", "sha256:new", now))
			old := inv("sha256:old", "sha256:oldbase", "glibc", "bash")
			_, err := db.Exec(ctx, `INSERT INTO abs_layer (digest, packages, scanned_at) VALUES ($1, $2, $3)`, "sha256:oldbase",
				`[{"name":"glibc","epoch":0,"version":"1.0","release":"1.el9","arch":"x86_64"},{"name":"bash","epoch":0,"version":"1.0","release":"1.el9","arch":"x86_64"}]`, now.UnixNano())
			require.NoError(t, err)
			require.NoError(t, store.PutInventory(ctx, db, old, "", now)) // the layer is there: only the image is written
			require.NoError(t, store.SetManaged(ctx, db, "old", "sha256:old", now))

			got, err := store.Inventory(ctx, db, "sha256:old")
			require.NoError(t, err)
			assert.Equal(t, old.Packages, got.Packages)
			f, err := store.LoadFleet(ctx, db)
			require.NoError(t, err)
			assert.Len(t, f.Packages, 3, "glibc once for both layers")
			names := func(layer string) (out []string) {
				for _, i := range f.Layers[layer] {
					out = append(out, f.Packages[i].Name)
				}
				return out
			}
			assert.Equal(t, []string{"glibc", "bash"}, names("sha256:oldbase"))
			assert.Equal(t, []string{"openssl-libs", "glibc"}, names("sha256:newbase"))
			assert.Equal(t, []string{"new", "old"}, withPackages(t, db, []string{"glibc"}))

			// A managed image moved to a new digest: the old record and
			// its layer are no longer part of the fleet.
			require.NoError(t, store.SetManaged(ctx, db, "old", "sha256:new", now))
			f, err = store.LoadFleet(ctx, db)
			require.NoError(t, err)
			assert.Len(t, f.Images, 1)
			assert.Len(t, f.Layers, 1)

			_, err = db.Exec(ctx, `UPDATE abs_layer SET pkg_ids = '!!' WHERE digest = 'sha256:newbase'`)
			require.NoError(t, err)
			_, err = store.LoadFleet(ctx, db)
			assert.ErrorContains(t, err, "sha256:newbase")
			_, err = store.LayerPackages(ctx, db, "sha256:newbase")
			assert.ErrorContains(t, err, "malformed package ids")
		})
	}
}

// TestPlatformRowsBeforeMigration7: migration 7 names the image of the
// platform rows already stored, on both dialects, so their image still
// finds them.
func TestPlatformRowsBeforeMigration7(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			require.NoError(t, db.Migrate(ctx))
			now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			require.NoError(t, store.SetManaged(ctx, db, "app", "sha256:index", now))
			require.NoError(t, store.SetManaged(ctx, db, "app-other", "sha256:other", now))
			require.NoError(t, store.SetManagedPlatforms(ctx, db, "app", map[string]string{"linux/amd64": "sha256:a", "linux/arm64": "sha256:b"}, now))
			// As rows written before the column existed.
			_, err := db.Exec(ctx, `UPDATE abs_managed SET image = ''`)
			require.NoError(t, err)
			got, err := store.ManagedPlatforms(ctx, db, "app")
			require.NoError(t, err)
			require.Empty(t, got)

			var m store.Migration
			for _, mm := range store.Migrations {
				if mm.Version == 7 {
					m = mm
				}
			}
			stmts := m.SQL
			if db.Dialect() == store.Postgres {
				stmts = m.Postgres
			}
			require.Contains(t, stmts[1], "UPDATE abs_managed SET image")
			_, err = db.Exec(ctx, stmts[1])
			require.NoError(t, err)
			got, err = store.ManagedPlatforms(ctx, db, "app")
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"linux/amd64": "sha256:a", "linux/arm64": "sha256:b"}, got)
			got, err = store.ManagedPlatforms(ctx, db, "app-other")
			require.NoError(t, err)
			assert.Empty(t, got)
		})
	}
}
