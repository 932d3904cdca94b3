package rpmscan_test

import (
	"archive/tar"
	"bytes"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// genLayer is an uncompressed layer whose tar stream is generated on every
// read, so a test can feed gigabytes without holding them.
type genLayer struct {
	gen    func(tw *tar.Writer) error
	diffID v1.Hash
}

var _ v1.Layer = (*genLayer)(nil)

// newGenLayer returns a layer streaming what gen writes. With hashed, its
// diff_id is computed by generating it once; otherwise it is made up (for
// tests that must fail before the layer's end).
func newGenLayer(t testing.TB, hashed bool, gen func(tw *tar.Writer) error) *genLayer {
	t.Helper()
	l := &genLayer{gen: gen, diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(make([]byte, 32))}}
	if hashed {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		h, _, err := v1.SHA256(rc)
		require.NoError(t, err)
		l.diffID = h
	}
	return l
}

func (l *genLayer) Digest() (v1.Hash, error)            { return l.diffID, nil }
func (l *genLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *genLayer) Size() (int64, error)                { return 0, nil }
func (l *genLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
func (l *genLayer) Compressed() (io.ReadCloser, error)  { return l.Uncompressed() }
func (l *genLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := l.gen(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// writeFile streams the file at p into tw as name.
func writeFile(tw *tar.Writer, name, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

func image(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := testutil.Image(testutil.Config{}, layers...)
	require.NoError(t, err)
	return img
}

// scanFails scans img and checks the error, that no inventory came back
// and that the temporary directory was emptied.
func scanFails(t *testing.T, img v1.Image, want error, opts ...rpmscan.Option) error {
	t.Helper()
	tmp := t.TempDir()
	inv, err := scanner(t, append([]rpmscan.Option{rpmscan.WithTempDir(tmp)}, opts...)...).Scan(t.Context(), img)
	require.ErrorIs(t, err, want)
	assert.Nil(t, inv)
	assertEmptyDir(t, tmp)
	t.Log(err)
	return err
}

func TestScanLayerLimit(t *testing.T) {
	layers := make([]v1.Layer, rpmscan.DefaultMaxLayers+1)
	for i := range layers {
		var err error
		layers[i], err = testutil.UncompressedLayer(testutil.File(fmt.Sprintf("opt/%d", i), nil))
		require.NoError(t, err)
	}
	img := image(t, layers...)
	scanFails(t, img, rpmscan.ErrTooManyLayers)

	inv, err := scanner(t, rpmscan.WithMaxLayers(len(layers)), rpmscan.WithTempDir(t.TempDir())).Scan(t.Context(), img)
	require.NoError(t, err)
	assert.Empty(t, inv.Packages)
}

// sqliteDB returns a database made by the statements.
func sqliteDB(t *testing.T, stmts ...string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", p)
	require.NoError(t, err)
	for _, s := range stmts {
		_, err := db.Exec(s)
		require.NoError(t, err, s)
	}
	require.NoError(t, db.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// TestScanSQLiteSchema feeds databases whose Packages is not rpm's table.
// Each is a few kilobytes; read as go-rpmdb reads them, the views would
// never end or would produce gigabytes.
func TestScanSQLiteSchema(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
	}{
		{"recursive view", []string{`CREATE VIEW Packages AS WITH RECURSIVE r(hnum, blob) AS
			(SELECT 1, x'00' UNION ALL SELECT hnum+1, blob FROM r) SELECT hnum, blob FROM r`}},
		{"view of zeroblobs", []string{`CREATE VIEW Packages AS WITH RECURSIVE r(n) AS
			(SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 1000) SELECT n AS hnum, zeroblob(100000000) AS blob FROM r`}},
		{"generated blob column", []string{
			`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, x INTEGER, blob BLOB GENERATED ALWAYS AS (zeroblob(100000000)) VIRTUAL)`,
			`INSERT INTO Packages(x) VALUES (1)`}},
		{"no blob column", []string{`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, data BLOB)`}},
		{"text header", []string{
			`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`,
			`INSERT INTO Packages(blob) VALUES ('not a blob')`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := sqliteDB(t, tc.stmts...)
			l, err := testutil.UncompressedLayer(testutil.File("var/lib/rpm/rpmdb.sqlite", db))
			require.NoError(t, err)
			err = scanFails(t, image(t, l), rpmscan.ErrCorruptRPMDB)
			var re *rpmscan.RPMDBError
			require.ErrorAs(t, err, &re)
		})
	}
}

// TestScanManyHeaders scans an rpmdb of a million well-formed headers
// (about 110 MB): the scan fails on the package limit, in bounded memory,
// before go-rpmdb parses any.
func TestScanManyHeaders(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes a 110 MB database; single-goroutine, and slow under -race")
	}
	p, err := rpmscan.ManyHeadersSQLite(t.TempDir(), 1_000_000)
	require.NoError(t, err)
	l := newGenLayer(t, true, func(tw *tar.Writer) error { return writeFile(tw, "var/lib/rpm/rpmdb.sqlite", p) })
	img := image(t, l)
	peak := testutil.PeakHeap(func() {
		err := scanFails(t, img, rpmscan.ErrTooManyPackages)
		var re *rpmscan.RPMDBError
		require.ErrorAs(t, err, &re)
	})
	t.Logf("peak heap %d MiB", peak>>20)
	assert.Less(t, peak, uint64(256<<20))
}

func TestScanHeaderLimits(t *testing.T) {
	for _, db := range []struct{ path, fixture string }{
		{"var/lib/rpm/Packages", "rpmdb/bdb/Packages"},
		{"var/lib/rpm/rpmdb.sqlite", "rpmdb/sqlite/rpmdb.sqlite"},
	} {
		img := testutil.MustImage(t, testutil.Config{}, []testutil.Entry{testutil.File(db.path, readFixture(t, db.fixture))})
		t.Run(db.fixture+"/packages", func(t *testing.T) {
			scanFails(t, img, rpmscan.ErrTooManyPackages, rpmscan.WithMaxPackages(3))
		})
		t.Run(db.fixture+"/bytes", func(t *testing.T) {
			scanFails(t, img, rpmscan.ErrRPMDBTooLarge, rpmscan.WithMaxHeaderBytes(4096))
		})
		t.Run(db.fixture+"/within", func(t *testing.T) {
			inv, err := scanner(t, rpmscan.WithMaxPackages(8), rpmscan.WithTempDir(t.TempDir())).Scan(t.Context(), img)
			require.NoError(t, err)
			assert.Len(t, inv.Packages, 7)
		})
	}
}

// TestScanMetadataTotal streams 600 content manifests of 4 MiB each (2.4
// GiB) in one layer: each is under the per-file limit, together they are
// far over the total.
func TestScanMetadataTotal(t *testing.T) {
	zeros := make([]byte, 4<<20)
	l := newGenLayer(t, false, func(tw *tar.Writer) error {
		for i := range 600 {
			hdr := &tar.Header{Name: fmt.Sprintf("root/buildinfo/content_manifests/m%d.json", i), Mode: 0o644, Size: int64(len(zeros)), Typeflag: tar.TypeReg}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(zeros); err != nil {
				return err
			}
		}
		return nil
	})
	img := image(t, l)
	peak := testutil.PeakHeap(func() {
		err := scanFails(t, img, rpmscan.ErrMetadataTooLarge)
		var le *rpmscan.LayerError
		require.ErrorAs(t, err, &le)
	})
	t.Logf("peak heap %d MiB", peak>>20)
	assert.Less(t, peak, uint64(256<<20))

	// Many empty manifests count too.
	img = testutil.MustImage(t, testutil.Config{}, func() []testutil.Entry {
		var es []testutil.Entry
		for i := range 200 {
			es = append(es, testutil.File(fmt.Sprintf("root/buildinfo/content_manifests/e%d.json", i), []byte("{}")))
		}
		return es
	}())
	scanFails(t, img, rpmscan.ErrMetadataTooLarge, rpmscan.WithMaxMetadataSize(64<<10))
}

// badConfig serves a config that is not the one its manifest names.
type badConfig struct{ v1.Image }

func (b badConfig) RawConfigFile() ([]byte, error) {
	raw, err := b.Image.RawConfigFile()
	return append(bytes.TrimSpace(raw), ' '), err
}

func TestScanDigestMismatch(t *testing.T) {
	db := testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages"))
	good, err := testutil.Layer(db)
	require.NoError(t, err)
	rawA, err := testutil.Tar(db)
	require.NoError(t, err)
	rawB, err := testutil.Tar(testutil.File("etc/motd", []byte("hello")))
	require.NoError(t, err)
	// The layer claims (diff_id) to be rawB but holds rawA, an rpmdb.
	lying := testutil.RawLayer(testutil.Gzip(rawA), rawB)
	// Bytes after the end-of-archive marker are part of the layer too.
	trailing := testutil.RawLayer(testutil.Gzip(append(rawB, "hidden"...)), rawB)

	for _, tc := range []struct {
		name string
		img  v1.Image
	}{
		{"layer not its diff_id", image(t, lying)},
		{"upper layer not its diff_id", image(t, good, lying)},
		{"trailing bytes", image(t, good, trailing)},
		{"config not its digest", badConfig{image(t, good)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scanFails(t, tc.img, rpmscan.ErrDigestMismatch)
		})
	}
	inv, err := scanner(t, rpmscan.WithTempDir(t.TempDir())).Scan(t.Context(), image(t, good))
	require.NoError(t, err)
	assert.Len(t, inv.Packages, 7)
}

// TestScanDiskFull scans with the temporary directory on a small tmpfs:
// too small for the 224 KiB sqlite rpmdb, or just big enough for the copy
// but not for the -shm file sqlite creates to read a WAL database. Either
// way the error names the disk, not the image.
func TestScanDiskFull(t *testing.T) {
	img := testutil.MustImage(t, testutil.Config{}, []testutil.Entry{
		testutil.File("var/lib/rpm/rpmdb.sqlite", readFixture(t, "rpmdb/sqlite/rpmdb.sqlite")),
	})
	for _, size := range []string{"64k", "236k"} {
		t.Run(size, func(t *testing.T) {
			dir := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
			inv, err := scanner(t, rpmscan.WithTempDir(dir)).Scan(t.Context(), img)
			t.Log(err)
			require.ErrorIs(t, err, rpmscan.ErrDiskFull)
			require.ErrorIs(t, err, syscall.ENOSPC)
			assert.NotErrorIs(t, err, rpmscan.ErrCorruptLayer)
			assert.NotErrorIs(t, err, rpmscan.ErrCorruptRPMDB)
			var le *rpmscan.LayerError
			assert.False(t, errors.As(err, &le), "a full disk is not the layer's fault")
			var re *rpmscan.RPMDBError
			assert.False(t, errors.As(err, &re), "a full disk is not the rpmdb's fault")
			assert.Nil(t, inv)
			assertEmptyDir(t, dir)
		})
	}
}
