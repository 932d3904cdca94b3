package rpmscan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// BenchmarkScan scans an image shaped like a certified application image:
// a UBI 9-like base layer with a 200-package sqlite rpmdb and 10 MB of
// other files, then three application layers of 100, 40 and 10 MB
// (uncompressed). The image is built once, in memory; the loop measures
// the scan alone, gunzip included. bench/scan-vs-syft.sh scans the same
// image from a tarball with examples/scan and with syft.
func BenchmarkScan(b *testing.B) {
	db, err := testutil.RPMDB200(b.TempDir())
	if err != nil {
		b.Skip(err)
	}
	spec := testutil.BenchSpec(db)
	img, err := testutil.CertifiedImage(spec)
	require.NoError(b, err)
	var total int64 = int64(len(db)) + spec.BaseFiller
	for _, n := range spec.AppLayers {
		total += n
	}
	s := rpmscan.New(rpmscan.WithTempDir(b.TempDir()))
	inv, err := s.Scan(b.Context(), img) // warm the image's cached digests
	require.NoError(b, err)
	require.Len(b, inv.Packages, 200)

	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Scan(b.Context(), img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanLayers scans the image of BenchmarkScan reading one layer at
// a time (n1, the walk before layers were read concurrently), two, three
// and four layers at once. bench/scan-layers.sh runs them alternately, so
// that they are measured back to back on a loaded machine.
func BenchmarkScanLayers(b *testing.B) {
	db, err := testutil.RPMDB200(b.TempDir())
	if err != nil {
		b.Skip(err)
	}
	spec := testutil.BenchSpec(db)
	img, err := testutil.CertifiedImage(spec)
	require.NoError(b, err)
	var total int64 = int64(len(db)) + spec.BaseFiller
	for _, n := range spec.AppLayers {
		total += n
	}
	for _, bc := range []struct {
		name string
		n    int
	}{{"n1", 1}, {"n2", 2}, {"n3", 3}, {"n4", 4}} {
		b.Run(bc.name, func(b *testing.B) {
			s := rpmscan.New(rpmscan.WithTempDir(b.TempDir()), rpmscan.WithLayerConcurrency(bc.n))
			inv, err := s.Scan(b.Context(), img) // warm the image's cached digests
			require.NoError(b, err)
			require.Len(b, inv.Packages, 200)
			b.SetBytes(total)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Scan(b.Context(), img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
