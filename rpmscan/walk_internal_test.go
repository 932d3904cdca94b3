package rpmscan

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
)

// TestWalkWhiteoutsBounded checks that whiteouts of paths the scan never
// reads are not remembered: a layer of nothing but whiteouts would
// otherwise grow the walker's maps without bound.
func TestWalkWhiteoutsBounded(t *testing.T) {
	var es []testutil.Entry
	for i := range 20_000 {
		es = append(es, testutil.Whiteout(fmt.Sprintf("opt/d%d/f", i)), testutil.Opaque(fmt.Sprintf("srv/d%d", i)))
	}
	es = append(es, testutil.Whiteout("var/lib/rpm"), testutil.Opaque("etc"))
	l, err := testutil.UncompressedLayer(es...)
	require.NoError(t, err)
	w := newWalker(t.TempDir(), defaultLimits())
	require.NoError(t, w.layer(t.Context(), 1, l))
	assert.Equal(t, map[string]bool{"var/lib/rpm": true}, w.deleted)
	assert.Equal(t, map[string]bool{"etc": true}, w.opaque)
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }
func (f failingWriter) Close() error              { return nil }

// TestWalkDiskFull makes the temporary copy fail as a full disk would,
// where no small file system can be mounted.
func TestWalkDiskFull(t *testing.T) {
	old := createTemp
	t.Cleanup(func() { createTemp = old })
	for _, tc := range []struct {
		name string
		err  error
		disk bool
	}{
		{"ENOSPC", &wrapErr{syscall.ENOSPC}, true},
		{"EDQUOT", &wrapErr{syscall.EDQUOT}, true},
		{"EIO", &wrapErr{syscall.EIO}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			createTemp = func(string) (io.WriteCloser, error) { return failingWriter{tc.err}, nil }
			l, err := testutil.UncompressedLayer(testutil.File("var/lib/rpm/Packages", make([]byte, 4096)))
			require.NoError(t, err)
			err = newWalker(t.TempDir(), defaultLimits()).layer(t.Context(), 0, l)
			require.Error(t, err)
			assert.Equal(t, tc.disk, errors.Is(err, ErrDiskFull), err)
			assert.NotErrorIs(t, err, ErrCorruptLayer)
			var le *LayerError
			assert.False(t, errors.As(err, &le), "the machine's fault is not the layer's: %v", err)
		})
	}
}

type wrapErr struct{ errno syscall.Errno }

func (w *wrapErr) Error() string { return "write: " + w.errno.Error() }
func (w *wrapErr) Unwrap() error { return w.errno }

// TestReadLayerOverflow checks that a layer record stops at its budget
// and says so, rather than holding a layer's metadata without bound.
func TestReadLayerOverflow(t *testing.T) {
	var es []testutil.Entry
	for i := range 4 {
		es = append(es, testutil.File(fmt.Sprintf("root/buildinfo/content_manifests/m%d.json", i), make([]byte, 1<<20)))
	}
	l, err := testutil.UncompressedLayer(es...)
	require.NoError(t, err)
	var done atomic.Bool
	rec := readLayer(t.Context(), t.TempDir(), defaultLimits(), 2<<20, 0, l, &done)
	assert.True(t, rec.overflow)
	assert.LessOrEqual(t, len(rec.entries), 2)
	rec = readLayer(t.Context(), t.TempDir(), defaultLimits(), 8<<20, 0, l, &done)
	assert.False(t, rec.overflow)
	assert.NoError(t, rec.err)
	assert.Len(t, rec.entries, 4)
}
