package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
)

// TestManagedPlatforms: the platforms of a multi-platform image are
// recorded beside its index digest, replaced as a whole, and forgotten
// when the image has no platforms any more; only a change moves the
// fleet generation. Another image whose name starts the same is left
// alone.
func TestManagedPlatforms(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			require.NoError(t, db.Migrate(ctx))
			now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			gen := func() int64 {
				g, err := store.FleetGeneration(ctx, db)
				require.NoError(t, err)
				return g
			}
			require.NoError(t, store.SetManaged(ctx, db, "app", "sha256:index1", now))
			require.NoError(t, store.SetManaged(ctx, db, "app_x", "sha256:other", now))
			require.NoError(t, store.SetManagedPlatforms(ctx, db, "app_x", map[string]string{"linux/amd64": "sha256:x"}, now))
			g0 := gen()
			require.NoError(t, store.SetManagedPlatforms(ctx, db, "app", map[string]string{
				"linux/amd64": "sha256:a1", "linux/arm64": "sha256:b1", "linux/s390x": "sha256:c1"}, now))
			g1 := gen()
			assert.Greater(t, g1, g0)
			m, err := store.Managed(ctx, db)
			require.NoError(t, err)
			assert.Equal(t, map[string]string{
				"app": "sha256:index1", "app_x": "sha256:other", store.PlatformKey("app_x", "linux/amd64"): "sha256:x",
				store.PlatformKey("app", "linux/amd64"): "sha256:a1", store.PlatformKey("app", "linux/arm64"): "sha256:b1",
				store.PlatformKey("app", "linux/s390x"): "sha256:c1"}, m)

			// The same platforms again: nothing changes.
			require.NoError(t, store.SetManagedPlatforms(ctx, db, "app", map[string]string{
				"linux/amd64": "sha256:a1", "linux/arm64": "sha256:b1", "linux/s390x": "sha256:c1"}, now.Add(time.Hour)))
			assert.Equal(t, g1, gen())

			// A new index: one platform moved, one gone.
			require.NoError(t, store.SetManagedPlatforms(ctx, db, "app", map[string]string{
				"linux/amd64": "sha256:a2", "linux/arm64": "sha256:b1"}, now))
			assert.Greater(t, gen(), g1)
			m, err = store.Managed(ctx, db)
			require.NoError(t, err)
			assert.Equal(t, "sha256:a2", m[store.PlatformKey("app", "linux/amd64")])
			assert.NotContains(t, m, store.PlatformKey("app", "linux/s390x"))

			// A single image now: its platforms are forgotten.
			require.NoError(t, store.SetManagedPlatforms(ctx, db, "app", nil, now))
			m, err = store.Managed(ctx, db)
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"app": "sha256:index1", "app_x": "sha256:other",
				store.PlatformKey("app_x", "linux/amd64"): "sha256:x"}, m)

			n, p, ok := store.SplitPlatformKey(store.PlatformKey("team/app", "linux/arm64/v8"))
			assert.True(t, ok)
			assert.Equal(t, "team/app", n)
			assert.Equal(t, "linux/arm64/v8", p)
			_, _, ok = store.SplitPlatformKey("team/app")
			assert.False(t, ok)
		})
	}
}
