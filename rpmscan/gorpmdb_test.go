package rpmscan_test

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// TestScanGoRPMDBTestdata wraps every real rpmdb shipped with go-rpmdb into a
// multi-layer image and checks that the inventory equals what go-rpmdb reads
// from the file directly.
func TestScanGoRPMDBTestdata(t *testing.T) {
	dir := testutil.RPMDBTestdata(t)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	backends := map[string]string{"Packages": "bdb", "Packages.db": "ndb", "rpmdb.sqlite": "sqlite"}
	n := 0
	for i, e := range ents {
		if !e.IsDir() {
			continue
		}
		for file, backend := range backends {
			src := filepath.Join(dir, e.Name(), file)
			if _, err := os.Stat(src); err != nil {
				continue
			}
			n++
			t.Run(e.Name(), func(t *testing.T) {
				want := direct(t, src)
				db, err := os.ReadFile(src)
				require.NoError(t, err)
				// Alternate the standard directories across databases.
				dbPath := []string{"var/lib/rpm/", "usr/lib/sysimage/rpm/"}[i%2] + file

				src := rand.NewSource(int64(i))
				below, err := random.Layer(4096, types.DockerLayer, random.WithSource(src))
				require.NoError(t, err)
				above, err := random.Layer(8192, types.DockerLayer, random.WithSource(src))
				require.NoError(t, err)
				base, err := testutil.UncompressedLayer(
					testutil.File("etc/os-release", []byte("ID=\""+e.Name()+"\"\n")),
					testutil.File(dbPath, db),
				)
				require.NoError(t, err)
				img, err := testutil.Image(testutil.Config{}, below, base, above)
				require.NoError(t, err)

				inv, err := rpmscan.New().Scan(t.Context(), img)
				require.NoError(t, err)
				require.NotNil(t, inv.RPMDB)
				assert.Equal(t, backend, inv.RPMDB.Backend)
				assert.Equal(t, dbPath, inv.RPMDB.Path)
				assert.Equal(t, e.Name(), inv.OS.ID)
				require.NotEmpty(t, want)
				assert.Equal(t, want, inv.Packages)
			})
		}
	}
	require.GreaterOrEqual(t, n, 10, "expected go-rpmdb to ship at least 10 rpmdbs")
}

// direct reads a database with go-rpmdb alone.
func direct(t *testing.T, path string) []rpmscan.Package {
	t.Helper()
	db, err := rpmdb.Open(path)
	require.NoError(t, err)
	defer db.Close()
	infos, err := db.ListPackages()
	require.NoError(t, err)
	out := []rpmscan.Package{}
	for _, pi := range infos {
		if pi.Name == "gpg-pubkey" {
			continue
		}
		out = append(out, rpmscan.Package{
			Name: pi.Name, Epoch: pi.EpochNum(), Version: pi.Version, Release: pi.Release,
			Arch: pi.Arch, SourceRPM: pi.SourceRpm, Vendor: pi.Vendor, Module: pi.Modularitylabel,
		})
	}
	rpmscan.SortPackages(out)
	return out
}
