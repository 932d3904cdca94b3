package rpmscan

import (
	"path/filepath"
	"testing"

	"github.com/openabs/abs/internal/testutil"
)

// BenchmarkReadRPMDB reads the three go-rpmdb testdata databases the
// side-by-side images carry (bench/scanimages): a 396-package Berkeley DB
// of 33 MB, a sqlite and an ndb database. It measures the rpmdb reading
// alone, from a file in the page cache, as a scan does after its walk.
func BenchmarkReadRPMDB(b *testing.B) {
	td := testutil.RPMDBTestdata(b)
	for _, c := range []struct{ name, file, backend string }{
		{"bdb", "centos7-many/Packages", backendBDB},
		{"sqlite", "fedora35/rpmdb.sqlite", backendSQLite},
		{"ndb", "sle15-bci/Packages.db", backendNDB},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.backend == backendSQLite && !sqliteDriverRegistered() {
				b.Skip("no sqlite driver")
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := readRPMDB(b.Context(), filepath.Join(td, c.file), c.backend, defaultLimits(), false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
