// Command scanimages writes the four images bench/scan-side-by-side.sh scans,
// as gzip-layered docker-archive tarballs, into a directory:
//
//	bdb.tar     CentOS 7-like: a Berkeley DB rpmdb (go-rpmdb's centos7-many
//	            testdata) in a base layer with 40 MB of other files, and a
//	            10 MB application layer
//	sqlite.tar  UBI 9-like: RHEL 9 os-release, content manifests and a sqlite
//	            rpmdb (go-rpmdb's fedora35 testdata) with 60 MB of files, and
//	            a 20 MB application layer
//	ndb.tar     SLE 15 BCI-like: an ndb rpmdb (go-rpmdb's sle15-bci testdata)
//	            with 30 MB of files, and a 5 MB application layer
//	large.tar   the sqlite base and four application layers of 300 MiB each
//	            (1.2 GiB above the rpmdb, uncompressed)
//
// Besides each NAME.tar it writes NAME.layers, the gzip layer files the scan
// must read (one path a line, top layer first), for the decompression
// floor. File contents come from a seeded generator and compress to about
// half their size, like binaries. The output is deterministic.
//
//	go run ./bench/scanimages -o DIR [-rpmdbs DIR] [-only NAME,...]
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
)

func main() {
	out := flag.String("o", "", "output directory")
	rpmdbs := flag.String("rpmdbs", "", "go-rpmdb's pkg/testdata directory")
	only := flag.String("only", "bdb,sqlite,ndb,large", "images to write")
	flag.Parse()
	if *out == "" || *rpmdbs == "" {
		fmt.Fprintln(os.Stderr, "usage: scanimages -o DIR -rpmdbs GO-RPMDB-TESTDATA")
		os.Exit(2)
	}
	for _, n := range strings.Split(*only, ",") {
		if err := write(*out, *rpmdbs, n); err != nil {
			fmt.Fprintln(os.Stderr, "scanimages:", n+":", err)
			os.Exit(1)
		}
	}
}

type file struct {
	name string
	data []byte
	size int64 // filler bytes when data is nil
}

const (
	centos7OSRelease = "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\nCPE_NAME=\"cpe:/o:centos:centos:7\"\n"
	rhel9OSRelease   = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\n"
	sle15OSRelease   = "NAME=\"SLES\"\nVERSION=\"15-SP3\"\nVERSION_ID=\"15.3\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP3\"\nID=\"sles\"\nID_LIKE=\"suse\"\nCPE_NAME=\"cpe:/o:suse:sles:15:sp3\"\n"
	ubi9Manifest     = `{"metadata":{"icm_version":1,"icm_spec":"https://raw.githubusercontent.com/containerbuildsystem/atomic-reactor/master/atomic_reactor/schemas/content_manifest.json","image_layer_index":0},"content_sets":["rhel-9-for-x86_64-baseos-rpms","rhel-9-for-x86_64-appstream-rpms"],"image_contents":[]}`
)

func write(out, rpmdbs, which string) error {
	var layers [][]file
	switch which {
	case "bdb":
		db, err := os.ReadFile(filepath.Join(rpmdbs, "centos7-many", "Packages"))
		if err != nil {
			return err
		}
		layers = [][]file{
			base("etc/os-release", centos7OSRelease, "etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n",
				"var/lib/rpm/Packages", string(db), 40<<20, 1),
			app("opt/app", 10<<20, 2),
		}
	case "sqlite", "large":
		db, err := os.ReadFile(filepath.Join(rpmdbs, "fedora35", "rpmdb.sqlite"))
		if err != nil {
			return err
		}
		layers = [][]file{
			base("etc/os-release", rhel9OSRelease, "etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n",
				"var/lib/rpm/rpmdb.sqlite", string(db), 60<<20, 3,
				"root/buildinfo/content_manifests/ubi9-container-9.4-1.json", ubi9Manifest),
		}
		if which == "sqlite" {
			layers = append(layers, app("opt/app", 20<<20, 4))
		} else {
			for i := range 4 {
				layers = append(layers, app(fmt.Sprintf("opt/app%d", i), 300<<20, uint64(10+i)))
			}
		}
	case "ndb":
		db, err := os.ReadFile(filepath.Join(rpmdbs, "sle15-bci", "Packages.db"))
		if err != nil {
			return err
		}
		layers = [][]file{
			base("etc/os-release", sle15OSRelease, "usr/lib/sysimage/rpm/Packages.db", string(db), 30<<20, 5),
			app("opt/app", 5<<20, 6),
		}
	default:
		return fmt.Errorf("unknown image %q", which)
	}
	img := empty.Image
	var paths []string
	for i, files := range layers {
		p := filepath.Join(out, fmt.Sprintf("%s-layer%d.tar.gz", which, i))
		if err := writeLayer(p, files); err != nil {
			return err
		}
		l, err := tarball.LayerFromFile(p)
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return err
		}
		paths = append([]string{p}, paths...)
	}
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: "amd64", OS: "linux",
		Config: v1.Config{Labels: map[string]string{"name": "bench/" + which, "vendor": "openabs"}},
		RootFS: mustRootFS(img),
	})
	if err != nil {
		return err
	}
	tag, err := name.NewTag("localhost/openabs/bench-" + which + ":latest")
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(filepath.Join(out, which+".tar"), tag, img); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, which+".layers"), []byte(strings.Join(paths, "\n")+"\n"), 0o644)
}

func mustRootFS(img v1.Image) v1.RootFS {
	cf, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	return cf.RootFS
}

// base returns a base layer: pairs of (path, content), then the filler size
// and seed, then more pairs.
func base(args ...any) []file {
	var fs []file
	var filler int64
	var seed uint64
	for i := 0; i < len(args); {
		switch v := args[i].(type) {
		case string:
			fs = append(fs, file{name: v, data: []byte(args[i+1].(string))})
			i += 2
		case int:
			filler, seed = int64(v), uint64(args[i+1].(int))
			i += 2
		}
	}
	return append(fillers("usr/lib64", filler, seed), fs...)
}

func app(dir string, size int64, seed uint64) []file { return fillers(dir, size, seed) }

// fillers returns files under dir adding up to size bytes, of sizes from
// 512 bytes to 4 MiB, many small and a few large, as in a real tree.
func fillers(dir string, size int64, seed uint64) []file {
	r := rand.New(rand.NewPCG(seed, 0xab5))
	var fs []file
	for i := 0; size > 0; i++ {
		n := int64(512) << r.IntN(14) // 512 B .. 4 MiB, log-uniform
		n += r.Int64N(n)
		n = min(n, size)
		fs = append(fs, file{name: fmt.Sprintf("%s/d%03d/f%06d.so", dir, i/100, i), size: n})
		size -= n
	}
	return fs
}

// pool holds bytes that compress to about half (random symbols from a
// skewed alphabet, with runs of text); fillers take slices of it.
var pool = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 8<<20)
	words := []string{"lib", "init", "error", "struct", "0000", "func", "call", "\x00\x00\x00\x00", "return", "pthread_"}
	for i := 0; i < len(b); {
		if r.IntN(3) == 0 {
			i += copy(b[i:], words[r.IntN(len(words))])
			continue
		}
		b[i] = byte(r.NormFloat64()*24 + 128)
		i++
	}
	return b
}()

func writeLayer(p string, files []file) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	r := rand.New(rand.NewPCG(uint64(len(files)), 7))
	for _, fl := range files {
		for d := filepath.Dir(fl.name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range sortedKeys(dirs) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	for _, fl := range files {
		size := fl.size
		if fl.data != nil {
			size = int64(len(fl.data))
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fl.name, Mode: 0o644, Size: size}); err != nil {
			return err
		}
		if fl.data != nil {
			if _, err := tw.Write(fl.data); err != nil {
				return err
			}
			continue
		}
		for size > 0 {
			off := r.IntN(len(pool) - 1<<20)
			n := min(size, 1<<20)
			if _, err := io.Copy(tw, bytes.NewReader(pool[off:off+int(n)])); err != nil {
				return err
			}
			size -= n
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out) // parents before children
	return out
}
