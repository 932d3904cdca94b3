package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // the "sqlite" driver the store opens
)

func TestMain(m *testing.M) {
	code := m.Run()
	storetest.Stop()
	os.Exit(code)
}

type opener func(t *testing.T) *store.DB

func backends() map[string]opener {
	return map[string]opener{
		"sqlite": func(t *testing.T) *store.DB {
			db, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "abs.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return db
		},
		"postgres": func(t *testing.T) *store.DB {
			dsn := storetest.PostgresDSN(t)
			db, err := store.OpenPostgres(t.Context(), dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			return db
		},
	}
}

func inv(digest, layer string, pk ...string) *rpmscan.Inventory {
	i := &rpmscan.Inventory{Image: rpmscan.ImageInfo{Digest: digest}, OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"}}
	if layer != "" {
		i.RPMDB = &rpmscan.RPMDB{Path: "var/lib/rpm/rpmdb.sqlite", Backend: "sqlite", LayerDigest: layer}
	}
	for _, n := range pk {
		i.Packages = append(i.Packages, rpmscan.Package{Name: n, Version: "1.0", Release: "1.el9", Arch: "x86_64"})
	}
	return i
}

func TestStore(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			require.NoError(t, db.Migrate(ctx))
			require.NoError(t, db.Migrate(ctx), "migrations are idempotent")
			v, err := db.Version(ctx)
			require.NoError(t, err)
			assert.Equal(t, store.Migrations[len(store.Migrations)-1].Version, v)
			now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

			t.Run("cursor", func(t *testing.T) {
				c, err := store.Cursor(ctx, db, "csaf")
				require.NoError(t, err)
				assert.Empty(t, c)
				require.NoError(t, store.SetCursor(ctx, db, "csaf", "2026-10-01", now))
				require.NoError(t, store.SetCursor(ctx, db, "csaf", "2026-11-01", now))
				c, err = store.Cursor(ctx, db, "csaf")
				require.NoError(t, err)
				assert.Equal(t, "2026-11-01", c)
			})

			t.Run("advisories", func(t *testing.T) {
				a := advisory.Advisory{ID: "RHSA-2026:0001", Severity: advisory.SeverityImportant, Issued: now,
					Fixes: []advisory.Fix{{Name: "openssl-libs", Version: "3.0.7", Release: "27.el9", Arch: "x86_64"}}}
				changed, err := store.PutAdvisory(ctx, db, a, now)
				require.NoError(t, err)
				assert.True(t, changed)
				changed, err = store.PutAdvisory(ctx, db, a, now)
				require.NoError(t, err)
				assert.False(t, changed, "same content is no change")
				a.Title = "updated"
				changed, err = store.PutAdvisory(ctx, db, a, now)
				require.NoError(t, err)
				assert.True(t, changed)
				all, err := store.Advisories(ctx, db)
				require.NoError(t, err)
				require.Len(t, all, 1)
				assert.Equal(t, "updated", all[0].Title)
				assert.True(t, all[0].Issued.Equal(now))
				require.NoError(t, store.DeleteAdvisory(ctx, db, a.ID))
				all, err = store.Advisories(ctx, db)
				require.NoError(t, err)
				assert.Empty(t, all)
			})

			t.Run("inventories and reverse index", func(t *testing.T) {
				require.NoError(t, store.PutInventory(ctx, db, inv("sha256:app1", "sha256:base", "openssl-libs", "glibc"), "", now))
				require.NoError(t, store.PutInventory(ctx, db, inv("sha256:app2", "sha256:base", "openssl-libs", "glibc"), "", now))
				require.NoError(t, store.PutInventory(ctx, db, inv("sha256:other", "sha256:base2", "curl"), "", now))
				require.NoError(t, store.PutInventory(ctx, db, inv("sha256:nolayer", "", "zlib"), "", now))
				require.NoError(t, store.SetManaged(ctx, db, "app1", "sha256:app1", now))
				require.NoError(t, store.SetManaged(ctx, db, "app2", "sha256:app2", now))
				require.NoError(t, store.SetManaged(ctx, db, "other", "sha256:other", now))
				require.NoError(t, store.SetManaged(ctx, db, "nolayer", "sha256:nolayer", now))

				got, err := store.Inventory(ctx, db, "sha256:app2")
				require.NoError(t, err)
				assert.Len(t, got.Packages, 2)
				assert.Equal(t, "sha256:base", got.RPMDB.LayerDigest)
				_, err = store.Inventory(ctx, db, "sha256:missing")
				assert.ErrorIs(t, err, store.ErrNotFound)

				// Inventories are kept per scanner release: a new release
				// does not reuse them.
				has, err := store.HasImage(ctx, db, "sha256:app1", "")
				require.NoError(t, err)
				assert.True(t, has)
				has, err = store.HasImage(ctx, db, "sha256:app1", "rpmscan/2")
				require.NoError(t, err)
				assert.False(t, has, "another scanner release rescans")
				assert.NotEqual(t, store.LayerKey(inv("sha256:x", "sha256:base"), ""), store.LayerKey(inv("sha256:x", "sha256:base"), "rpmscan/2"))

				for _, tc := range []struct {
					names []string
					want  []string
				}{
					{[]string{"openssl-libs"}, []string{"app1", "app2"}},
					{[]string{"curl", "glibc"}, []string{"app1", "app2", "other"}},
					{[]string{"zlib"}, []string{"nolayer"}},
					{[]string{"kernel"}, nil},
				} {
					assert.Equal(t, tc.want, withPackages(t, db, tc.names), tc.names)
				}
				// Two layers of one base list the same distinct packages.
				f, err := store.LoadFleet(ctx, db)
				require.NoError(t, err)
				assert.Len(t, f.Packages, 4, "openssl-libs, glibc, curl, zlib, each once")
				assert.Len(t, f.Layers, 3)
				pk, err := store.LayerPackages(ctx, db, store.LayerKey(inv("sha256:app1", "sha256:base"), ""))
				require.NoError(t, err)
				assert.Equal(t, []string{"openssl-libs", "glibc"}, []string{pk[0].Name, pk[1].Name}, "in the layer's order")
				_, err = store.LayerPackages(ctx, db, "sha256:nothere")
				assert.ErrorIs(t, err, store.ErrNotFound)
			})

			t.Run("grades", func(t *testing.T) {
				for i, g := range []string{"C", "C", "A"} {
					_, err := store.RecordGrade(ctx, db, store.GradeRecord{Image: "app1", Digest: "sha256:app1", Grade: g, At: now.Add(time.Duration(i) * time.Hour)})
					require.NoError(t, err)
				}
				h, err := store.GradeHistory(ctx, db, "app1")
				require.NoError(t, err)
				require.Len(t, h, 2, "unchanged grades are not repeated")
				assert.Equal(t, "A", h[1].Grade)
				ok, err := store.RecordWarning(ctx, db, "app1", "sha256:app1", now, "B", now)
				require.NoError(t, err)
				assert.True(t, ok)
				ok, err = store.RecordWarning(ctx, db, "app1", "sha256:app1", now, "B", now)
				require.NoError(t, err)
				assert.False(t, ok, "a warning is recorded once")
			})

			t.Run("rebuilds are unique per image digest and advisories", func(t *testing.T) {
				r := store.Rebuild{ID: "r1", Cycle: "c1", Image: "app1", OldDigest: "sha256:app1",
					Advisories: []string{"RHSA-2", "RHSA-1"}, Reason: "affected", State: store.StatePlanned, Created: now}
				ok, err := store.InsertRebuild(ctx, db, r)
				require.NoError(t, err)
				assert.True(t, ok)
				r2 := r
				r2.ID, r2.Advisories = "r2", []string{"RHSA-1", "RHSA-2"}
				ok, err = store.InsertRebuild(ctx, db, r2)
				require.NoError(t, err)
				assert.False(t, ok, "the same advisories on the same digest are not planned twice")
				require.NoError(t, store.UpdateRebuild(ctx, db, "r1", store.RebuildUpdate{State: store.StateBuilding}, now))
				require.NoError(t, store.UpdateRebuild(ctx, db, "r1", store.RebuildUpdate{State: store.StatePublished, NewDigest: "sha256:new", AfterGrade: "A"}, now))
				got, err := store.GetRebuild(ctx, db, "r1")
				require.NoError(t, err)
				assert.Equal(t, []string{"RHSA-1", "RHSA-2"}, got.Advisories)
				assert.Equal(t, "sha256:new", got.NewDigest)
				assert.Equal(t, "A", got.AfterGrade)
				log, err := store.RebuildLog(ctx, db, "r1")
				require.NoError(t, err)
				assert.Equal(t, []string{"planned", "building", "published"}, log)
				all, err := store.Rebuilds(ctx, db, "c1")
				require.NoError(t, err)
				assert.Len(t, all, 1)
				ok, err = store.RecordPush(ctx, db, "r1", "app1", "sha256:new", []string{"1.0-2"}, now)
				require.NoError(t, err)
				assert.True(t, ok)
				ok, err = store.RecordPush(ctx, db, "r1", "app1", "sha256:new", []string{"1.0-2"}, now)
				require.NoError(t, err)
				assert.False(t, ok)
			})

			t.Run("transactions roll back", func(t *testing.T) {
				err := db.InTx(ctx, func(tx store.Tx) error {
					require.NoError(t, store.SetCursor(ctx, tx, "rollback", "x", now))
					return context.Canceled
				})
				require.ErrorIs(t, err, context.Canceled)
				c, err := store.Cursor(ctx, db, "rollback")
				require.NoError(t, err)
				assert.Empty(t, c)
			})

			t.Run("notifications", func(t *testing.T) {
				n := store.Notification{ID: "c1/alice", Cycle: "c1", Owner: "alice@example.com", Kind: "rebuilt"}
				ok, err := store.InsertNotification(ctx, db, n)
				require.NoError(t, err)
				assert.True(t, ok)
				ok, err = store.InsertNotification(ctx, db, n)
				require.NoError(t, err)
				assert.False(t, ok)
				require.NoError(t, store.MarkSent(ctx, db, n.ID, "1 image", now))
				got, err := store.GetNotification(ctx, db, n.ID)
				require.NoError(t, err)
				assert.Equal(t, store.NoteSent, got.State)

				// An undelivered one is found in its state, across cycles.
				u := store.Notification{ID: "c2/bob", Cycle: "c2", Owner: "bob@example.com", Kind: "cycle"}
				_, err = store.InsertNotification(ctx, db, u)
				require.NoError(t, err)
				require.NoError(t, store.UpdateNotification(ctx, db, u.ID, store.NoteFailed, `{"error":"down"}`))
				failed, err := store.NotificationsIn(ctx, db, store.NoteFailed)
				require.NoError(t, err)
				require.Len(t, failed, 1)
				assert.Equal(t, "c2/bob", failed[0].ID)
				assert.JSONEq(t, `{"error":"down"}`, failed[0].Summary)
				open, err := store.NotificationsIn(ctx, db, store.NoteFailed, store.NoteSent)
				require.NoError(t, err)
				assert.Len(t, open, 2)
				none, err := store.NotificationsIn(ctx, db)
				require.NoError(t, err)
				assert.Empty(t, none)
			})
		})
	}
}
