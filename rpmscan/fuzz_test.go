package rpmscan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openabs/abs/internal/testutil"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver"
)

func mustTar(f *testing.F, entries ...testutil.Entry) []byte {
	b, err := testutil.Tar(entries...)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// Go's fuzzer minimizes every new interesting input, trying to remove each
// range of bytes: quadratic in the input's size. Databases and tar streams
// are kilobytes even when minimal, so with the default
// -fuzzminimizetime=60s each new input costs a minute. Bound it by count
// (see the README's Fuzzing section):
//
//	go test -run '^$' -fuzz '^FuzzReadRPMDB$' -fuzztime 2m -fuzzminimizetime 100x ./rpmscan/
//
// Each run below is kept cheap (no compression, a fresh directory rather
// than a test's TempDir) so that those 100 tries take milliseconds.

// plainLayer is an uncompressed layer of raw tar bytes, whatever they hold.
type plainLayer struct {
	raw    []byte
	diffID v1.Hash
}

func newPlainLayer(raw []byte) *plainLayer {
	sum := sha256.Sum256(raw)
	return &plainLayer{raw: raw, diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

func (l *plainLayer) Digest() (v1.Hash, error)            { return l.diffID, nil }
func (l *plainLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *plainLayer) Size() (int64, error)                { return int64(len(l.raw)), nil }
func (l *plainLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
func (l *plainLayer) Compressed() (io.ReadCloser, error)  { return l.Uncompressed() }
func (l *plainLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}

// runDir returns a fresh directory under base for one run of a fuzz
// function, and its removal.
func runDir(t *testing.T, base string) (string, func()) {
	dir, err := os.MkdirTemp(base, "run")
	if err != nil {
		t.Fatal(err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }
}

// FuzzWalkLayer feeds arbitrary tar streams to the layer walker. It must
// never panic, and whatever it copies stays inside its temp directory.
func FuzzWalkLayer(f *testing.F) {
	bdbDB, err := os.ReadFile("testdata/rpmdb/bdb/Packages")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustTar(f,
		testutil.Symlink("etc/os-release", "../usr/lib/os-release"),
		testutil.File("usr/lib/os-release", []byte("ID=rhel\nVERSION_ID=\"9.3\"\n")),
		testutil.File("root/buildinfo/content_manifests/a.json", []byte(`{"content_sets":["x"]}`)),
		testutil.File("var/lib/rpm/Packages", bdbDB[:512]),
	))
	f.Add(mustTar(f, testutil.Whiteout("var/lib/rpm"), testutil.Opaque("etc"), testutil.Hardlink("etc/os-release", "usr/lib/os-release")))
	f.Add(mustTar(f, testutil.File("../x", nil), testutil.File("/abs", nil)))
	f.Add(mustTar(f, testutil.Symlink("var/lib/rpm/rpmdb.sqlite", "/etc/shadow")))
	f.Add([]byte{})
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		tmp, done := runDir(t, base)
		defer done()
		lim := defaultLimits()
		lim.file = 1 << 20
		w := newWalker(tmp, lim)
		_ = w.layer(context.Background(), 0, newPlainLayer(raw))
		_ = w.settled()
		_ = w.osRelease()
		_ = w.manifests()
		_, file, _, ok := w.rpmdb()
		if ok && !strings.HasPrefix(file, tmp+string(filepath.Separator)) {
			t.Fatalf("rpmdb copied to %s, outside %s", file, tmp)
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.3\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\n"))
	f.Add([]byte("# comment\nID=fedora\nVERSION_ID=39\nPRETTY_NAME='Fedora Linux 39'\nX=\"a \\\"b\\\" \\\\ \\$c\"\n"))
	f.Add([]byte("=\n\"\nID=\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range ParseOSRelease(b) {
			if !validOSReleaseKey(k) {
				t.Fatalf("invalid key %q", k)
			}
		}
		_ = osFrom(b, b)
	})
}

func FuzzParseContentSets(f *testing.F) {
	f.Add([]byte(`{"metadata":{"icm_version":1,"image_layer_index":1},"content_sets":["rhel-8-for-x86_64-baseos-rpms","rhel-8-for-x86_64-appstream-rpms"],"image_contents":[]}`))
	f.Add([]byte(`["rhel-9-for-x86_64-baseos-rpms"]`))
	f.Add([]byte(`{"content_sets":null}`))
	f.Add([]byte(`{"content_sets":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sets, err := ParseContentSets(b)
		if err != nil && sets != nil {
			t.Fatalf("sets %v with error %v", sets, err)
		}
		_ = mergeSets(sets)
	})
}

// FuzzReadRPMDB feeds arbitrary database files to the bounded checks and
// go-rpmdb. A crash here (go-rpmdb panicking or looping in its own
// goroutine) is a bug in the checks.
func FuzzReadRPMDB(f *testing.F) {
	// The real Berkeley DB of seven packages (40 KiB), and a sqlite rpmdb
	// of one small header in 512-byte pages (2 KiB, rpm's layout) rather
	// than the 224 KiB fixture.
	bdbDB, err := os.ReadFile("testdata/rpmdb/bdb/Packages")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bdbDB)
	f.Add(smallSQLite(f))
	ndb := append([]byte("RpmP"), make([]byte, 4096)...)
	copy(ndb[12:], []byte{1, 0, 0, 0})
	f.Add(ndb)
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		dir, done := runDir(t, base)
		defer done()
		p := filepath.Join(dir, "db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		backend, err := sniff(p)
		if err != nil {
			return
		}
		pkgs, err := readPackages(context.Background(), p, backend, defaultLimits())
		if err == nil && pkgs == nil {
			t.Fatal("nil packages without error")
		}
	})
}

// smallSQLite returns a sqlite rpmdb holding one MinimalHeader, in
// 512-byte pages.
func smallSQLite(tb testing.TB) []byte {
	p := filepath.Join(tb.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", p)
	if err == nil {
		for _, q := range []string{
			"PRAGMA page_size = 512",
			"CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)",
		} {
			if _, err = db.Exec(q); err != nil {
				break
			}
		}
		if err == nil {
			_, err = db.Exec("INSERT INTO Packages(blob) VALUES (?)", MinimalHeader("bash"))
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestFuzzSeedsRPMDB(t *testing.T) {
	small := smallSQLite(t)
	if len(small) > 4096 {
		t.Errorf("small sqlite seed is %d bytes", len(small))
	}
	p := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	if err := os.WriteFile(p, small, 0o600); err != nil {
		t.Fatal(err)
	}
	if pkgs, err := readPackages(t.Context(), p, backendSQLite, defaultLimits()); err != nil || len(pkgs) != 1 || pkgs[0].Name != "bash" {
		t.Fatalf("small sqlite seed: %v, %v", pkgs, err)
	}

	// The committed fixtures read cleanly through the same path the fuzzer
	// uses; keeps the seeds honest.
	for _, src := range []string{"testdata/rpmdb/bdb/Packages", "testdata/rpmdb/sqlite/rpmdb.sqlite"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		backend, err := sniff(p)
		if err != nil {
			t.Fatal(err)
		}
		pkgs, err := readPackages(t.Context(), p, backend, defaultLimits())
		if err != nil || len(pkgs) != 7 {
			t.Fatalf("%s: %d packages, %v", p, len(pkgs), err)
		}
		if !bytes.Contains([]byte(pkgs[0].Name), []byte("bash")) {
			t.Fatalf("%s: first package %q", p, pkgs[0].Name)
		}
	}
}
