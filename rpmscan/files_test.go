package rpmscan_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// TestWithFiles scans a real UBI 8 rpmdb (shipped with go-rpmdb) with and
// without the file lists.
func TestWithFiles(t *testing.T) {
	db, err := os.ReadFile(filepath.Join(testutil.RPMDBTestdata(t), "ubi8-s390x", "Packages"))
	require.NoError(t, err)
	layer, err := testutil.UncompressedLayer(testutil.File("var/lib/rpm/Packages", db))
	require.NoError(t, err)
	img, err := testutil.Image(testutil.Config{}, layer)
	require.NoError(t, err)

	plain, err := rpmscan.New().Scan(t.Context(), img)
	require.NoError(t, err)
	require.Nil(t, plain.Files)

	inv, err := rpmscan.New(rpmscan.WithFiles()).Scan(t.Context(), img)
	require.NoError(t, err)
	assert.Equal(t, plain.Packages, inv.Packages, "the packages are the plain scan's")
	require.Len(t, inv.Files, len(inv.Packages))
	for i, p := range inv.Packages {
		require.Equal(t, p.NEVRA(), inv.Files[i].NEVRA, "files follow the packages' order")
	}
	i := slices.IndexFunc(inv.Packages, func(p rpmscan.Package) bool { return p.Name == "bash" })
	require.GreaterOrEqual(t, i, 0)
	bash := inv.Files[i]
	assert.EqualValues(t, 1655118108, bash.InstallTime)
	files := map[string]rpmscan.File{}
	for _, f := range bash.Files {
		files[f.Path] = f
	}
	assert.Len(t, bash.Files, 130)
	assert.Equal(t, rpmscan.File{Path: "/usr/bin/bash", Mode: 0o100755}, files["/usr/bin/bash"])
	assert.Equal(t, rpmscan.FileConfig|rpmscan.FileNoReplace, files["/etc/skel/.bashrc"].Flags)
	assert.Equal(t, rpmscan.FileDoc, files["/usr/share/doc/bash/FAQ"].Flags)
	assert.Equal(t, rpmscan.FileLicense, files["/usr/share/licenses/bash/COPYING"].Flags)
	assert.True(t, files["/usr/lib/.build-id"].IsDir())
	assert.Equal(t, rpmscan.FileArtifact, files["/usr/lib/.build-id"].Flags)
	assert.False(t, files["/usr/bin/bash"].IsDir())
}
