package abs_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
)

// TestCallerOwnedSQLite: an orchestrator runs on the caller's own *sql.DB,
// migrations run as their own call, and closing the Database leaves the
// caller's pool open.
func TestCallerOwnedSQLite(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	sdb, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "mine.db")+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	sdb.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = sdb.Close() })
	db := abs.NewSQLite(sdb)

	_, err = abs.New(t.Context(), db, e.projects, e.options(abs.WithAutoMigrate(false))...)
	require.NoError(t, err, "building an orchestrator touches no table")
	var n int
	require.NoError(t, sdb.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_master WHERE name = 'abs_cycle'`).Scan(&n))
	assert.Zero(t, n, "WithAutoMigrate(false) leaves the schema alone")

	require.NoError(t, db.Migrate(t.Context()))
	o, err := abs.New(t.Context(), db, e.projects, e.options(abs.WithAutoMigrate(false))...)
	require.NoError(t, err)
	rep, err := o.Plan(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Len(t, rep.Images, 2)

	// A cycle started in the caller's transaction exists only if it
	// commits.
	tx, err := sdb.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	id, err := o.StartCycleTx(t.Context(), tx, abs.CycleOptions{})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	_, err = o.Report(t.Context(), id)
	require.Error(t, err, "rolled back: no cycle")
	tx, err = sdb.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	id, err = o.StartCycleTx(t.Context(), tx, abs.CycleOptions{})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	queued, err := o.Report(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, abs.CycleQueued, queued.State)
	_, err = o.StartCycleTx(t.Context(), "not a transaction", abs.CycleOptions{})
	require.Error(t, err)

	require.NoError(t, db.Close())
	require.NoError(t, sdb.PingContext(t.Context()), "the caller's pool stays open")
}
