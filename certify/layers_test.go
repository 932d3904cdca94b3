package certify_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
)

func readFS(t *testing.T, layers ...[]file) (*certify.FS, error) {
	t.Helper()
	ls := make([]v1.Layer, len(layers))
	for i, files := range layers {
		ls[i] = layerOf(t, files...)
	}
	return certify.ReadFS(t.Context(), imageOf(t, nil, ls...), certify.Limits{})
}

func TestReadFSWhiteouts(t *testing.T) {
	f, err := readFS(t,
		[]file{
			reg("a/keep", "1"), reg("a/gone", "2"), reg("b/x", "3"), reg("b/y", "4"), reg("c/z", "5"),
			reg("root/buildinfo/Dockerfile-x", "LABEL a=b"), reg("root/buildinfo/Dockerfile-y", "LABEL c=d"),
		},
		[]file{
			reg("a/.wh.gone", ""),
			reg("b/.wh..wh..opq", ""), reg("b/new", "6"),
			reg(".wh.c", ""),
			reg("root/buildinfo/.wh.Dockerfile-y", ""),
			file{name: "hard", typ: tar.TypeLink, link: "a/keep"},
			file{name: "./sbin/su", mode: 0o4755, body: []byte("su")},
			reg("x/../usr//bin/./env", "env"),
		},
	)
	require.NoError(t, err)
	for p, want := range map[string]bool{"a/keep": true, "a/gone": false, "b/x": false, "b/y": false, "b/new": true, "c": false, "c/z": false, "hard": true, "sbin/su": true, "usr/bin/env": true} {
		_, ok := f.Lookup(p)
		assert.Equal(t, want, ok, p)
	}
	e, err := f.Stat("/hard")
	require.NoError(t, err)
	assert.Equal(t, certify.TypeHardlink, e.Type)
	assert.EqualValues(t, 1, e.Size, "a hard link has its target's size")
	e, _ = f.Lookup("sbin/su")
	assert.NotZero(t, e.Mode&fs.ModeSetuid)
	assert.Equal(t, 1, e.Layer)
	_, ok := f.Content("root/buildinfo/Dockerfile-x")
	assert.True(t, ok)
	_, ok = f.Content("root/buildinfo/Dockerfile-y")
	assert.False(t, ok, "deleted content is dropped")

	ls := f.Layers()
	require.Len(t, ls, 2)
	var changes []string
	for _, c := range ls[1].Changes {
		s := c.Path
		if c.Whiteout {
			s = "-" + s
		}
		changes = append(changes, s)
	}
	assert.Equal(t, []string{"-a/gone", "-b", "b/new", "-c", "-root/buildinfo/Dockerfile-y", "hard", "sbin/su", "usr/bin/env"}, changes)

	var walked []string
	require.NoError(t, f.Walk("", func(e certify.Entry) error { walked = append(walked, e.Path); return nil }))
	assert.Equal(t, []string{"a", "a/keep", "b", "b/new", "hard", "root", "root/buildinfo", "root/buildinfo/Dockerfile-x", "sbin", "sbin/su", "usr", "usr/bin", "usr/bin/env"}, walked)
}

func TestReadFSSymlinks(t *testing.T) {
	f, err := readFS(t, []file{
		reg("usr/share/licenses/w/L", "MIT"),
		file{name: "licenses", typ: tar.TypeSymlink, link: "usr/share/licenses/w"},
		file{name: "loop1", typ: tar.TypeSymlink, link: "loop2"},
		file{name: "loop2", typ: tar.TypeSymlink, link: "/loop1"},
		file{name: "up", typ: tar.TypeSymlink, link: "../../../usr"},
	})
	require.NoError(t, err)
	e, err := f.Stat("licenses/L")
	require.NoError(t, err)
	assert.Equal(t, "usr/share/licenses/w/L", e.Path)
	_, err = f.Stat("loop1")
	require.ErrorIs(t, err, certify.ErrLinkLoop)
	e, err = f.Stat("up/share")
	require.NoError(t, err, "links that climb stop at the root")
	assert.Equal(t, "usr/share", e.Path)
	_, err = f.Stat("nope")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, f.Walk("nope", nil), fs.ErrNotExist)
}

func TestReadFSBadInput(t *testing.T) {
	tests := []struct {
		name  string
		files []file
		want  error
	}{
		{"climbs", []file{reg("../../etc/passwd", "x")}, certify.ErrUnsafePath},
		{"climbs after a detour", []file{reg("a/../../etc/passwd", "x")}, certify.ErrUnsafePath},
		{"hardlink climbs", []file{{name: "x", typ: tar.TypeLink, link: "../y"}}, certify.ErrUnsafePath},
		{"whiteout of dotdot", []file{reg("a/.wh...", "")}, certify.ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFS(t, tt.files)
			require.ErrorIs(t, err, tt.want)
			var le *certify.LayerError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, 0, le.Index)
		})
	}

	t.Run("truncated", func(t *testing.T) {
		b := layerTar(t, reg("a", "0123456789"))
		b = b[:520]
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		require.NoError(t, err)
		_, err = certify.ReadFS(t.Context(), imageOf(t, nil, l), certify.Limits{})
		require.ErrorIs(t, err, certify.ErrCorruptLayer)
	})
	t.Run("too many entries", func(t *testing.T) {
		img := imageOf(t, nil, layerOf(t, reg("a", ""), reg("b", ""), reg("c", "")))
		_, err := certify.ReadFS(t.Context(), img, certify.Limits{MaxEntries: 2})
		require.ErrorIs(t, err, certify.ErrTooManyEntries)
	})
	t.Run("long name", func(t *testing.T) {
		img := imageOf(t, nil, layerOf(t, reg(string(bytes.Repeat([]byte("a"), 300)), "")))
		_, err := certify.ReadFS(t.Context(), img, certify.Limits{MaxPath: 100})
		require.ErrorIs(t, err, certify.ErrUnsafePath)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := certify.ReadFS(ctx, imageOf(t, nil, layerOf(t, reg("a", ""))), certify.Limits{})
		require.True(t, errors.Is(err, context.Canceled))
	})
}
