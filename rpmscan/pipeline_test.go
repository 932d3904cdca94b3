package rpmscan_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// randomLayers builds a random stack of layers over the paths the scan
// reads: rpmdbs of three kinds in both directories, os-release files and
// links to them, content manifests, whiteouts and opaque directories of
// all of them and of the directories above them, files and links
// replacing those directories, duplicate entries, now and then an entry
// the scan must refuse, and filler.
func randomLayers(t *testing.T, rng *rand.Rand, dbs [][]byte) [][]testutil.Entry {
	dbPaths := []string{"var/lib/rpm/Packages", "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/Packages"}
	dirs := []string{"etc", "var", "var/lib", "var/lib/rpm", "usr/lib", "usr/lib/sysimage", "usr/lib/sysimage/rpm",
		"root/buildinfo", "root/buildinfo/content_manifests", "usr/share/buildinfo", "usr"}
	metas := []string{"etc/os-release", "usr/lib/os-release", "etc/redhat-release", "usr/share/buildinfo/content-sets.json",
		"root/buildinfo/content_manifests/a.json", "root/buildinfo/content_manifests/b.json"}
	nLayers := 2 + rng.IntN(6)
	out := make([][]testutil.Entry, nLayers)
	for li := range out {
		var es []testutil.Entry
		for range 1 + rng.IntN(8) {
			switch k := rng.IntN(100); {
			case k < 14:
				p := dbPaths[rng.IntN(len(dbPaths))]
				db := dbs[rng.IntN(len(dbs))]
				if p == "var/lib/rpm/Packages" || p == "usr/lib/sysimage/rpm/Packages" {
					db = dbs[0] // the Berkeley DB one
				} else if bytes.Equal(db, dbs[0]) {
					db = dbs[1]
				}
				es = append(es, testutil.Dir(path.Dir(p)), testutil.File(p, db))
			case k < 34:
				p := metas[rng.IntN(len(metas))]
				body := fmt.Sprintf("ID=rhel\nVERSION_ID=9.%d\n", li)
				if p[len(p)-5:] == ".json" {
					body = fmt.Sprintf(`{"metadata":{"image_layer_index":%d},"content_sets":["set-%d"]}`, li, li)
				}
				es = append(es, testutil.File(p, []byte(body)))
			case k < 40:
				es = append(es, testutil.Symlink("etc/os-release", "../usr/lib/os-release"))
			case k < 43:
				es = append(es, testutil.Hardlink("etc/redhat-release", "usr/lib/os-release"))
			case k < 55:
				all := append(append([]string{}, dirs...), metas...)
				es = append(es, testutil.Whiteout(all[rng.IntN(len(all))]))
			case k < 56:
				es = append(es, testutil.Whiteout(dbPaths[rng.IntN(len(dbPaths))]))
			case k < 66:
				es = append(es, testutil.Opaque(dirs[rng.IntN(len(dirs))]))
			case k < 68:
				es = append(es, testutil.File(dirs[rng.IntN(len(dirs))], []byte("not a directory")))
			case k < 70:
				es = append(es, testutil.Symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"))
			case k < 71:
				es = append(es, testutil.Symlink(dbPaths[rng.IntN(len(dbPaths))], "/dev/null")) // refused if it shows
			case k < 72:
				es = append(es, testutil.File("usr/lib/sysimage/rpm/rpmdb.sqlite-wal", []byte("not a wal")))
			case k < 73 && li == 0:
				es = append(es, testutil.File("../escape", []byte("x"))) // refused
			case k < 80 && len(es) > 0:
				es = append(es, es[rng.IntN(len(es))]) // duplicate
			default:
				es = append(es, testutil.File(fmt.Sprintf("opt/app/f%d", rng.IntN(1000)), bytes.Repeat([]byte{byte(k)}, rng.IntN(64<<10))))
			}
		}
		out[li] = es
	}
	return out
}

type scanResult struct {
	inv *rpmscan.Inventory
	err string
}

func scanWith(t *testing.T, img v1.Image, n int, opts ...rpmscan.Option) scanResult {
	t.Helper()
	tmp := t.TempDir()
	inv, err := rpmscan.New(append([]rpmscan.Option{rpmscan.WithTempDir(tmp), rpmscan.WithLayerConcurrency(n)}, opts...)...).Scan(t.Context(), img)
	assertEmptyDir(t, tmp)
	if err != nil {
		return scanResult{err: err.Error()}
	}
	return scanResult{inv: inv}
}

// TestConcurrentWalkEqualsSequential scans random multi-layer images with
// whiteouts, opaque directories and replaced directories one layer at a
// time and with several layers at once: inventories and errors must be
// the same.
func TestConcurrentWalkEqualsSequential(t *testing.T) {
	var dbs [][]byte
	dbs = append(dbs, readFixture(t, "rpmdb/bdb/Packages"), readFixture(t, "rpmdb/sqlite/rpmdb.sqlite"))
	for _, n := range []int{3, 11} {
		p, err := rpmscan.ManyHeadersSQLite(t.TempDir(), n)
		require.NoError(t, err)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		dbs = append(dbs, b)
	}
	images := 150
	if testing.Short() {
		images = 40
	}
	var withDB, failed, stopped int
	for seed := range images {
		rng := rand.New(rand.NewPCG(uint64(seed), 20))
		img := testutil.MustImage(t, testutil.Config{}, randomLayers(t, rng, dbs)...)
		var opts []rpmscan.Option
		if seed%5 == 4 {
			opts = append(opts, rpmscan.WithMaxMetadataSize(700)) // the metadata total matters
		}
		var log bytes.Buffer
		want := scanWith(t, img, 1, append(opts, rpmscan.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))...)
		if strings.Contains(log.String(), "stopping") {
			stopped++
		}
		for _, n := range []int{2, 4, 8} {
			got := scanWith(t, img, n, opts...)
			require.Equal(t, want, got, "seed %d, %d layers at once", seed, n)
		}
		switch {
		case want.err != "":
			failed++
		case want.inv.RPMDB != nil:
			withDB++
		}
	}
	t.Logf("%d images: %d with an rpmdb, %d refused, %d settled above the bottom layer", images, withDB, failed, stopped)
	// The generator must exercise every outcome.
	assert.Positive(t, withDB)
	assert.Positive(t, stopped)
	assert.Positive(t, failed)
	assert.Less(t, failed, images/2)
}

// TestConcurrentWalkOverflow puts more metadata in a lower layer than a
// layer record may hold: hidden by an opaque directory above, the scan
// succeeds as the sequential one does; visible, both fail the same way.
func TestConcurrentWalkOverflow(t *testing.T) {
	var many []testutil.Entry
	for i := range 6 {
		many = append(many, testutil.File(fmt.Sprintf("root/buildinfo/content_manifests/m%d.json", i), bytes.Repeat([]byte(" "), 3<<20)))
	}
	many = append(many, testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.1\n")))
	top := []testutil.Entry{testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages"))}
	hidden := testutil.MustImage(t, testutil.Config{}, many, append(top, testutil.Opaque("root/buildinfo/content_manifests")))
	want := scanWith(t, hidden, 1)
	require.Empty(t, want.err)
	require.Equal(t, "9.1", want.inv.OS.VersionID)
	require.Equal(t, want, scanWith(t, hidden, 4))

	shown := testutil.MustImage(t, testutil.Config{}, many, top)
	want = scanWith(t, shown, 1)
	require.Contains(t, want.err, rpmscan.ErrMetadataTooLarge.Error())
	require.Equal(t, want, scanWith(t, shown, 4))
}

// stallLayer is a layer whose content never arrives until its reader is
// closed, as a stalled registry download.
type stallLayer struct {
	opened chan struct{}
}

func (l *stallLayer) Digest() (v1.Hash, error) {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", 1)}, nil
}
func (l *stallLayer) DiffID() (v1.Hash, error)            { return l.Digest() }
func (l *stallLayer) Size() (int64, error)                { return 1 << 20, nil }
func (l *stallLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *stallLayer) Compressed() (io.ReadCloser, error) {
	close(l.opened)
	pr, _ := io.Pipe()
	return pr, nil
}
func (l *stallLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }

// TestConcurrentWalkStopsReaders checks that once the top layers settle
// everything, the readers started below them are stopped, even one waiting
// on a download that never comes.
func TestConcurrentWalkStopsReaders(t *testing.T) {
	stall := &stallLayer{opened: make(chan struct{})}
	top, err := testutil.Layer(
		testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages")),
		testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.4\n")),
		testutil.Opaque("etc"),
		testutil.Opaque("usr/share/buildinfo"),
		testutil.Opaque("root/buildinfo"),
	)
	require.NoError(t, err)
	// The stalled layer is read (and stopped) only once the top one is,
	// so let the top one wait for it to be opened.
	img := image(t, stall, gatedLayer{top, stall.opened})
	done := make(chan scanResult, 1)
	go func() { done <- scanWith(t, img, 2) }()
	select {
	case got := <-done:
		require.Empty(t, got.err)
		assert.Equal(t, "9.4", got.inv.OS.VersionID)
		assert.Len(t, got.inv.Packages, len(fixturePackages(t)))
	case <-time.After(30 * time.Second):
		t.Fatal("the scan waited on a layer it did not need")
	}
}

// gatedLayer opens its content only once gate is closed.
type gatedLayer struct {
	v1.Layer
	gate chan struct{}
}

func (g gatedLayer) Compressed() (io.ReadCloser, error) {
	<-g.gate
	return g.Layer.Compressed()
}

// TestConcurrentWalkBounded streams layers far larger than the heap the
// scan may use, several at once.
func TestConcurrentWalkBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory distorts the heap")
	}
	const layerSize = 48 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var layers []v1.Layer
	for li := range 6 {
		layers = append(layers, newGenLayer(t, true, func(tw *tar.Writer) error {
			if li == 0 {
				if err := writeFile(tw, "var/lib/rpm/Packages", "testdata/rpmdb/bdb/Packages"); err != nil {
					return err
				}
			}
			for i := range layerSize / len(chunk) {
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("opt/l%d/f%d", li, i), Mode: 0o644, Size: int64(len(chunk)), Typeflag: tar.TypeReg}); err != nil {
					return err
				}
				if _, err := tw.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	img := image(t, layers...)
	var got scanResult
	peak := testutil.PeakHeap(func() { got = scanWith(t, img, 4) })
	require.Empty(t, got.err)
	require.Len(t, got.inv.Packages, len(fixturePackages(t)))
	t.Logf("peak heap %.1f MiB for %d MiB of layers, 4 at once", float64(peak)/(1<<20), 6*layerSize>>20)
	assert.Less(t, peak, uint64(16<<20))
}
