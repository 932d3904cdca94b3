package testutil

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
)

// Files of the image the README demo and the benchmarks build.
const (
	UBI9OSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
`
	UBI9RedHatRelease = "Red Hat Enterprise Linux release 9.3 (Plow)\n"
	UBI9Manifest      = `{"metadata":{"icm_version":1,"icm_spec":"https://raw.githubusercontent.com/containerbuildsystem/atomic-reactor/master/atomic_reactor/schemas/content_manifest.json","image_layer_index":0},"content_sets":["rhel-9-for-x86_64-appstream-rpms","rhel-9-for-x86_64-baseos-rpms"],"image_contents":[]}`
	AppManifest       = `{"metadata":{"icm_version":1,"icm_spec":"https://raw.githubusercontent.com/containerbuildsystem/atomic-reactor/master/atomic_reactor/schemas/content_manifest.json","image_layer_index":1},"content_sets":["rhel-9-for-x86_64-appstream-rpms","rhel-9-for-x86_64-baseos-rpms"],"image_contents":[]}`
)

// CertifiedLabels are the labels of the demo and benchmark images, shaped
// like those of a Red Hat certified image.
var CertifiedLabels = map[string]string{
	"com.redhat.component":               "acme-app-container",
	"name":                               "acme/app",
	"version":                            "1.4",
	"release":                            "7",
	"architecture":                       "x86_64",
	"vendor":                             "ACME",
	"org.opencontainers.image.base.name": "registry.access.redhat.com/ubi9/ubi:9.3-1361",
}

// CertifiedSpec sizes an image built by [CertifiedImage].
type CertifiedSpec struct {
	// RPMDB is the content of var/lib/rpm/rpmdb.sqlite in the base layer.
	RPMDB []byte
	// BaseFiller is how many bytes of other system files the base layer
	// holds besides the rpmdb.
	BaseFiller int64
	// AppLayers are the uncompressed payload sizes of the layers on top.
	AppLayers []int64
	// Seed makes the payload deterministic.
	Seed uint64
}

// CertifiedImage builds, in memory, an image shaped like a certified
// application image: a UBI 9-like base layer (os-release, redhat-release,
// a content manifest and the rpmdb), then application layers of
// half-compressible data. Everything is deterministic for a given spec.
func CertifiedImage(spec CertifiedSpec) (v1.Image, error) {
	rng := rand.New(rand.NewChaCha8(seed32(spec.Seed)))
	base := []Entry{
		Dir("etc"),
		Symlink("etc/os-release", "../usr/lib/os-release"),
		File("etc/redhat-release", []byte(UBI9RedHatRelease)),
		Symlink("etc/system-release", "redhat-release"),
		Dir("root/buildinfo/content_manifests"),
		File("root/buildinfo/content_manifests/ubi9-container-9.3-1361.json", []byte(UBI9Manifest)),
		Dir("usr/lib"),
		File("usr/lib/os-release", []byte(UBI9OSRelease)),
	}
	base = append(base, payload(rng, "usr/lib64/lib", spec.BaseFiller)...)
	base = append(base, Dir("var/lib/rpm"), File("var/lib/rpm/rpmdb.sqlite", spec.RPMDB))
	layers := make([]v1.Layer, 0, 1+len(spec.AppLayers))
	l, err := compressedLayer(base)
	if err != nil {
		return nil, err
	}
	layers = append(layers, l)
	for i, size := range spec.AppLayers {
		entries := payload(rng, fmt.Sprintf("opt/app/lib%d/component", i), size)
		if i == 0 {
			entries = append(entries, File("root/buildinfo/content_manifests/acme-app-container-1.4-7.json", []byte(AppManifest)))
		}
		l, err := compressedLayer(entries)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return Image(Config{Labels: CertifiedLabels}, layers...)
}

func seed32(s uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(s >> (8 * i))
	}
	return b
}

// payload returns files totalling size bytes: alternately random binary
// (like compressed archives) and text over a 16-letter alphabet, so the
// layer compresses to roughly two thirds, like real application layers.
func payload(rng *rand.Rand, prefix string, size int64) []Entry {
	const alphabet = "abcdefghijklmnop"
	var out []Entry
	for i := 0; size > 0; i++ {
		n := min(size, int64(256<<10+rng.IntN(4<<20)))
		body := make([]byte, n)
		for j := range body {
			if j%8 == 0 {
				v := rng.Uint64()
				for k := 0; k < 8 && j+k < len(body); k++ {
					body[j+k] = byte(v >> (8 * k))
				}
			}
		}
		if i%2 == 1 {
			for j := range body {
				body[j] = alphabet[body[j]&0xf]
			}
		}
		out = append(out, File(fmt.Sprintf("%s%04d.bin", prefix, i), body))
		size -= n
	}
	return out
}

func compressedLayer(entries []Entry) (v1.Layer, error) {
	var raw bytes.Buffer
	if err := WriteTar(&raw, entries...); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(zw, bytes.NewReader(raw.Bytes())); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return RawLayer(gz.Bytes(), raw.Bytes()), nil
}

// RPMDB200 writes, under dir, a sqlite rpmdb of 200 real packages (plus
// one imported gpg-pubkey): the 138 headers of go-rpmdb's fedora35 database
// and the first 63 of its cbl-mariner-2.0 one, about the size of a UBI 9
// image's rpmdb. It needs a
// database/sql driver named "sqlite", registered by the caller.
func RPMDB200(dir string) ([]byte, error) {
	td, err := RPMDBTestdataDir()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(td, "fedora35", "rpmdb.sqlite"))
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "rpmdb200.sqlite")
	if err := os.WriteFile(p, src, 0o600); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", p)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"ATTACH DATABASE ? AS m", []any{filepath.Join(td, "cbl-mariner-2.0", "rpmdb.sqlite")}},
		{"INSERT INTO Packages(blob) SELECT blob FROM m.Packages ORDER BY hnum LIMIT 63", nil},
		{"DETACH DATABASE m", nil},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			return nil, fmt.Errorf("testutil: build rpmdb: %s: %w", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// DemoImage is a small image the repository can build by itself for the
// README quick start: the certified-image layout with rpmdb as its
// var/lib/rpm/rpmdb.sqlite and a few hundred kilobytes of payload.
func DemoImage(rpmdb []byte) (v1.Image, error) {
	return CertifiedImage(CertifiedSpec{RPMDB: rpmdb, BaseFiller: 64 << 10, AppLayers: []int64{256 << 10}, Seed: 1})
}

// BenchSpec is the image BenchmarkScan and bench/scan-vs-syft.sh measure: a
// base layer with rpmdb and 10 MB of other files, then application layers
// of 100, 40 and 10 MB (uncompressed).
func BenchSpec(rpmdb []byte) CertifiedSpec {
	return CertifiedSpec{RPMDB: rpmdb, BaseFiller: 10 << 20, AppLayers: []int64{100 << 20, 40 << 20, 10 << 20}, Seed: 1}
}
