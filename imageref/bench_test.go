package imageref_test

import (
	"fmt"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/imageref"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// manyLayers returns an image of n small layers, each holding one file.
// gzipped picks gzip-compressed layers (as in a registry or OCI layout)
// over plain tar ones (as `docker save` writes).
func manyLayers(tb testing.TB, n int, gzipped bool) v1.Image {
	tb.Helper()
	layers := make([]v1.Layer, n)
	for i := range layers {
		e := testutil.File(fmt.Sprintf("opt/layer%d/file", i), []byte(fmt.Sprint(i)))
		var err error
		if gzipped {
			layers[i], err = testutil.Layer(e)
		} else {
			layers[i], err = testutil.UncompressedLayer(e)
		}
		require.NoError(tb, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	require.NoError(tb, err)
	return img
}

// writeManyLayers writes an n-layer image as a docker archive and as an
// OCI layout under dir and returns their references.
func writeManyLayers(tb testing.TB, dir string, n int) (archive, oci string) {
	tb.Helper()
	archive = filepath.Join(dir, "image.tar")
	require.NoError(tb, tarball.WriteToFile(archive, nil, manyLayers(tb, n, false)))
	p, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	require.NoError(tb, err)
	require.NoError(tb, p.AppendImage(manyLayers(tb, n, true)))
	return "docker-archive:" + archive, "oci:" + filepath.Join(dir, "oci")
}

// BenchmarkScanManyLayers opens and scans images of many tiny layers, the
// shape that once made the walk quadratic. Each iteration is Open plus a
// full Scan (every layer read, its diff_id checked).
//
//	go test -run XXX -bench ScanManyLayers -benchtime 1x ./imageref/
func BenchmarkScanManyLayers(b *testing.B) {
	for _, n := range []int{250, 1000, 2000, 4000} {
		archive, oci := writeManyLayers(b, b.TempDir(), n)
		for _, ref := range []struct{ kind, ref string }{{"archive", archive}, {"oci", oci}} {
			b.Run(fmt.Sprintf("%s/%d", ref.kind, n), func(b *testing.B) {
				s := rpmscan.New(rpmscan.WithTempDir(b.TempDir()), rpmscan.WithMaxLayers(n))
				b.ReportAllocs()
				for b.Loop() {
					img, err := imageref.Open(b.Context(), ref.ref)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.Scan(b.Context(), img); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
