package rpmscan_test

import (
	"errors"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

var errNoDigest = errors.New("no digest today")

// noDigest is an image whose digest cannot be computed.
type noDigest struct{ v1.Image }

func (noDigest) Digest() (v1.Hash, error) { return v1.Hash{}, errNoDigest }

// TestScanHeadChecksFirst checks that the image digest and the config
// check, worked out while the layers are read, report as if they had been
// made before the walk: their errors win over the walk's, and a failing
// one stops the walk, even a walk waiting on a download that never comes.
func TestScanHeadChecksFirst(t *testing.T) {
	db := testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages"))
	good, err := testutil.Layer(db)
	require.NoError(t, err)
	rawA, err := testutil.Tar(db)
	require.NoError(t, err)
	lying := testutil.RawLayer(testutil.Gzip(rawA), append(rawA, 0)) // not its diff_id

	for _, n := range []int{1, 2} {
		s := rpmscan.New(rpmscan.WithTempDir(t.TempDir()), rpmscan.WithLayerConcurrency(n))

		_, err := s.Scan(t.Context(), badConfig{image(t, good, lying)})
		require.ErrorIs(t, err, rpmscan.ErrDigestMismatch)
		assert.Contains(t, err.Error(), "config is sha256:", "%d at once: the config check comes before the layers'", n)
		var le *rpmscan.LayerError
		assert.False(t, errors.As(err, &le), "%d at once: %v", n, err)

		_, err = s.Scan(t.Context(), noDigest{image(t, good)})
		require.ErrorIs(t, err, errNoDigest, "%d at once", n)

		stall := &stallLayer{opened: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := s.Scan(t.Context(), noDigest{image(t, stall, good)})
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorIs(t, err, errNoDigest, "%d at once", n)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d at once: the walk went on after the digest failed", n)
		}
	}
}

// TestScanRPMDBReadDuringWalk puts the rpmdb in the top layer, where it
// is final and read while the walk goes on below for os-release: the
// inventory is the one-by-one walk's, and a damaged lower layer still
// fails the scan, with the layer's error rather than the rpmdb's, as
// reading the rpmdb after the walk would.
func TestScanRPMDBReadDuringWalk(t *testing.T) {
	top, err := testutil.Layer(testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages")))
	require.NoError(t, err)
	badDB, err := testutil.Layer(testutil.File("var/lib/rpm/Packages", []byte("not a database, not at all")))
	require.NoError(t, err)
	base, err := testutil.Layer(testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.6\n")))
	require.NoError(t, err)
	rawBase, err := testutil.Tar(testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.6\n")))
	require.NoError(t, err)
	damaged := testutil.RawLayer(testutil.Gzip(rawBase), append(rawBase, 0)) // not its diff_id

	for _, n := range []int{1, 2, 3} {
		tmp := t.TempDir()
		s := rpmscan.New(rpmscan.WithTempDir(tmp), rpmscan.WithLayerConcurrency(n))

		inv, err := s.Scan(t.Context(), image(t, base, top))
		require.NoError(t, err, "%d at once", n)
		assert.Equal(t, "9.6", inv.OS.VersionID)
		assert.Len(t, inv.Packages, len(fixturePackages(t)))
		assertEmptyDir(t, tmp)

		for _, upper := range []v1.Layer{top, badDB} {
			_, err = s.Scan(t.Context(), image(t, damaged, upper))
			require.ErrorIs(t, err, rpmscan.ErrDigestMismatch, "%d at once", n)
			require.NotErrorIs(t, err, rpmscan.ErrCorruptRPMDB)
			var le *rpmscan.LayerError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, 0, le.Index)
			assertEmptyDir(t, tmp)
		}

		_, err = s.Scan(t.Context(), image(t, base, badDB))
		require.ErrorIs(t, err, rpmscan.ErrCorruptRPMDB, "%d at once", n)
		assertEmptyDir(t, tmp)
	}
}
