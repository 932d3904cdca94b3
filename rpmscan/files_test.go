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
	for _, p := range plain.Packages {
		require.Nil(t, p.Files, p.Name)
		require.Zero(t, p.InstallTime, p.Name)
	}

	inv, err := rpmscan.New(rpmscan.WithFiles()).Scan(t.Context(), img)
	require.NoError(t, err)
	require.Len(t, inv.Packages, len(plain.Packages))
	i := slices.IndexFunc(inv.Packages, func(p rpmscan.Package) bool { return p.Name == "bash" })
	require.GreaterOrEqual(t, i, 0)
	bash := inv.Packages[i]
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

	// Everything else is the plain scan's.
	for j := range inv.Packages {
		p := inv.Packages[j]
		p.Files, p.InstallTime = nil, 0
		assert.Equal(t, plain.Packages[j], p)
	}
}
