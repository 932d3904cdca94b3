package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
)

// TestFleetState: source commits, mailed failures and the runs of
// retried rebuilds, on both dialects.
func TestFleetState(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			require.NoError(t, db.Migrate(ctx))
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

			c, err := store.SourceCommit(ctx, db, "k")
			require.NoError(t, err)
			assert.Empty(t, c)
			require.NoError(t, store.SetSourceCommit(ctx, db, "k", "aaa", now))
			require.NoError(t, store.SetSourceCommit(ctx, db, "k", "bbb", now))
			c, err = store.SourceCommit(ctx, db, "k")
			require.NoError(t, err)
			assert.Equal(t, "bbb", c)

			_, ok, err := store.GetMailed(ctx, db, "img", "o", "rebuild")
			require.NoError(t, err)
			assert.False(t, ok)
			require.NoError(t, store.SetMailed(ctx, db, "img", "o", "rebuild", "fp1", now))
			require.NoError(t, store.SetMailed(ctx, db, "img", "o", "rebuild", "fp2", now.Add(time.Hour)))
			require.NoError(t, store.SetMailed(ctx, db, "img", "o", "image", "fp3", now))
			m, ok, err := store.GetMailed(ctx, db, "img", "o", "rebuild")
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, store.Mailed{Fingerprint: "fp2", Sent: now.Add(time.Hour)}, m)
			n, err := store.ClearMailed(ctx, db, "img", "rebuild")
			require.NoError(t, err)
			assert.Equal(t, int64(1), n)
			_, ok, err = store.GetMailed(ctx, db, "img", "o", "image")
			require.NoError(t, err)
			assert.True(t, ok, "another kind stays")

			run := store.RebuildRun{Rebuild: "rb-1", Attempt: 1, Cycle: "c1", State: store.StateFailed, Detail: "build: boom", RetriedBy: "c2", At: now}
			require.NoError(t, store.RecordRun(ctx, db, run))
			require.NoError(t, store.RecordRun(ctx, db, run), "recorded once")
			runs, err := store.Runs(ctx, db, "c1")
			require.NoError(t, err)
			assert.Equal(t, []store.RebuildRun{run}, runs)
			runs, err = store.Runs(ctx, db, "c2")
			require.NoError(t, err)
			assert.Empty(t, runs)
		})
	}
}
