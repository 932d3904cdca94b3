package nodriver_test

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

func TestNoSQLiteDriver(t *testing.T) {
	require.NotContains(t, sql.Drivers(), "sqlite", "this test binary must not link a sqlite driver")

	for _, tc := range []struct {
		name, fixture, path string
		want                error
		packages            int
	}{
		{"sqlite rpmdb needs the driver", "rpmdb/sqlite/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite", rpmscan.ErrNoSQLiteDriver, 0},
		{"bdb rpmdb works without it", "rpmdb/bdb/Packages", "var/lib/rpm/Packages", nil, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := os.ReadFile(filepath.Join("..", "..", "testdata", tc.fixture))
			require.NoError(t, err)
			img := testutil.MustImage(t, testutil.Config{}, []testutil.Entry{testutil.File(tc.path, db)})
			tmp := t.TempDir()
			inv, err := rpmscan.New(rpmscan.WithTempDir(tmp)).Scan(t.Context(), img)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				var dbErr *rpmscan.RPMDBError
				require.ErrorAs(t, err, &dbErr)
				assert.Equal(t, "sqlite", dbErr.Backend)
				assert.Contains(t, err.Error(), "rpmscan/sqlitedriver", "the error says how to fix it")
			} else {
				require.NoError(t, err)
				assert.Len(t, inv.Packages, tc.packages)
			}
			ents, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, ents)
		})
	}
}

// TestNoDriverLinked guards the guard: rpmscan and its test helpers must not
// pull in a sqlite driver, or the test above would prove nothing (and every
// program embedding rpmscan would carry one).
func TestNoDriverLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(dep, "modernc.org/sqlite") || strings.Contains(dep, "go-sqlite"), "linked %s", dep)
	}
}
