package rpmscan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// The seeds are real databases and layers of tens of kilobytes; minimizing
// such inputs takes the fuzzer minutes, so run with a bounded minimization:
//
//	go test -run XXX -fuzz FuzzReadRPMDB -fuzztime 2m -fuzzminimizetime 10x ./rpmscan/

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
		testutil.File("var/lib/rpm/Packages", bdbDB[:4096]),
	))
	f.Add(mustTar(f, testutil.Whiteout("var/lib/rpm"), testutil.Opaque("etc"), testutil.Hardlink("etc/os-release", "usr/lib/os-release")))
	f.Add(mustTar(f, testutil.File("../x", nil), testutil.File("/abs", nil)))
	f.Add(mustTar(f, testutil.Symlink("var/lib/rpm/rpmdb.sqlite", "/etc/shadow")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tmp := t.TempDir()
		w := newWalker(tmp, 1<<20)
		l := testutil.RawLayer(testutil.Gzip(raw), raw)
		_ = w.layer(context.Background(), 0, l)
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
	for _, p := range []string{"testdata/rpmdb/bdb/Packages", "testdata/rpmdb/sqlite/rpmdb.sqlite"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ndb := append([]byte("RpmP"), make([]byte, 4096*2)...)
	copy(ndb[12:], []byte{1, 0, 0, 0})
	f.Add(ndb)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		backend, err := sniff(p)
		if err != nil {
			return
		}
		pkgs, err := readPackages(context.Background(), p, backend, true)
		if err == nil && pkgs == nil {
			t.Fatal("nil packages without error")
		}
	})
}

func TestFuzzSeedsRPMDB(t *testing.T) {
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
		pkgs, err := readPackages(t.Context(), p, backend, true)
		if err != nil || len(pkgs) != 7 {
			t.Fatalf("%s: %d packages, %v", p, len(pkgs), err)
		}
		if !bytes.Contains([]byte(pkgs[0].Name), []byte("bash")) {
			t.Fatalf("%s: first package %q", p, pkgs[0].Name)
		}
	}
}
