package rebuild_test

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"
)

// startRegistry serves an in-memory registry on loopback and returns its
// host:port.
func startRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// layer makes a reproducible layer holding files.
func layer(t testing.TB, files map[string]string) v1.Layer {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	l, err := crane.Layer(m)
	require.NoError(t, err)
	return l
}

// image stacks layers (with one history entry each) and sets labels.
func image(t testing.TB, base v1.Image, labels map[string]string, layers ...v1.Layer) v1.Image {
	t.Helper()
	if base == nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img := base
	var err error
	for i, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer, History: v1.History{
			CreatedBy: "layer " + string(rune('A'+i)), Created: v1.Time{Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)},
		}})
		require.NoError(t, err)
	}
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cf.Config.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

func push(t testing.TB, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img, remote.WithContext(t.Context())))
	d, err := img.Digest()
	require.NoError(t, err)
	return d
}

func pull(t testing.TB, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	require.NoError(t, err)
	return img
}

// busyboxLayer makes a layer with the static busybox from the
// busybox-static package and a few applet links, enough for RUN steps.
func busyboxLayer(t *testing.T) v1.Layer {
	t.Helper()
	return busyboxLayerFrom(t, "/bin/busybox")
}

// busyboxLayerFrom is busyboxLayer with the busybox binary at path (of
// any architecture).
func busyboxLayerFrom(t *testing.T, path string) v1.Layer {
	t.Helper()
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("needs a static busybox at %s (apt-get install busybox-static)", path)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) {
		h.ModTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		require.NoError(t, tw.WriteHeader(h))
	}
	hdr(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	hdr(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	hdr(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	_, err = tw.Write(bin)
	require.NoError(t, err)
	for _, applet := range []string{"sh", "cat", "echo", "ls", "mkdir", "touch", "true", "false"} {
		hdr(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	require.NoError(t, tw.Close())
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	require.NoError(t, err)
	return l
}
