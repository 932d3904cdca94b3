package certify_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// file is one tar entry of a test layer.
type file struct {
	name string
	typ  byte // tar.TypeReg when zero
	mode int64
	body []byte
	link string
	pax  map[string]string
}

func reg(name, body string) file { return file{name: name, body: []byte(body)} }

func layerTar(tb testing.TB, files ...file) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Linkname: f.link, PAXRecords: f.pax}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if f.pax != nil {
			h.Format = tar.FormatPAX
		}
		require.NoError(tb, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write(f.body)
			require.NoError(tb, err)
		}
	}
	require.NoError(tb, tw.Close())
	return buf.Bytes()
}

func layerOf(tb testing.TB, files ...file) v1.Layer {
	tb.Helper()
	b := layerTar(tb, files...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	require.NoError(tb, err)
	return l
}

// imageOf builds a linux/amd64 image of layers, then lets edit change its
// configuration.
func imageOf(tb testing.TB, edit func(*v1.ConfigFile), layers ...v1.Layer) v1.Image {
	tb.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	require.NoError(tb, err)
	cf, err := img.ConfigFile()
	require.NoError(tb, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if edit != nil {
		edit(cf)
	}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(tb, err)
	return img
}

func redHatLabels() map[string]string {
	return map[string]string{
		"name": "acme/widget", "vendor": "Acme Corp", "version": "1.2", "release": "3",
		"summary": "Widget server", "description": "Serves widgets, certified for Red Hat OpenShift.",
		"maintainer": "Acme Corp <widgets@acme.example>",
	}
}

// ubiDockerfile is the build record Red Hat's build system leaves in
// /root/buildinfo of its images (shortened).
const ubiDockerfile = `FROM sha256:0123
LABEL maintainer="Red Hat, Inc."
LABEL com.redhat.component="ubi9-container" \
      name="ubi9" \
      version="9.4"
LABEL "vendor"="Red Hat, Inc." "url"="https://access.redhat.com/containers/#/registry.access.redhat.com/ubi9/images/9.4-1123"
`

// fixtureRPMDB is rpmscan's own fixture: a Berkeley DB rpmdb of seven
// file-less packages with RHEL names and vendor Red Hat.
func fixtureRPMDB(tb testing.TB) []byte {
	tb.Helper()
	if b, ok := rpmdbs.Load("rpmscan"); ok {
		return b.([]byte)
	}
	b, err := os.ReadFile("../rpmscan/testdata/rpmdb/bdb/Packages")
	require.NoError(tb, err)
	rpmdbs.Store("rpmscan", b)
	return b
}

var rpmdbTestdata = sync.OnceValues(testutil.RPMDBTestdataDir)

// goRPMDB returns a real database shipped with go-rpmdb's module
// ("ubi8-s390x/Packages": 183 packages of a UBI 8 image, with files).
func goRPMDB(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, err := rpmdbTestdata()
	if err != nil {
		tb.Skipf("go-rpmdb testdata not in the module cache: %v", err)
	}
	if b, ok := rpmdbs.Load(name); ok {
		return b.([]byte)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(tb, err)
	rpmdbs.Store(name, b)
	return b
}

var rpmdbs sync.Map // name -> []byte, so that baseLayers hits

var baseLayers sync.Map // *byte (the rpmdb's first byte) -> v1.Layer

// baseLayer is a UBI-like base: an rpmdb, a few RPM-owned files and the
// build record. Layers are immutable, so tests share one per rpmdb.
func baseLayer(tb testing.TB, db []byte) v1.Layer {
	if l, ok := baseLayers.Load(&db[0]); ok {
		return l.(v1.Layer)
	}
	l := layerOf(tb,
		file{name: "usr/", typ: tar.TypeDir}, file{name: "usr/bin/", typ: tar.TypeDir},
		file{name: "usr/bin/bash", mode: 0o755, body: []byte("#!bash")},
		file{name: "usr/bin/chage", mode: 0o4755, body: []byte("chage")},
		file{name: "usr/share/doc/bash/FAQ", body: []byte("faq")},
		file{name: "etc/skel/.bashrc", body: []byte("# bashrc")},
		file{name: "var/lib/rpm/Packages", body: db},
		reg("root/buildinfo/Dockerfile-ubi9-container-9.4-1123", ubiDockerfile),
	)
	baseLayers.Store(&db[0], l)
	return l
}

// rpmdbLister is a FileLister over go-rpmdb alone, independent of
// rpmscan: it copies the image's rpmdb out of its flattened filesystem and
// lists each package's files. Tests run HasModifiedFiles with both.
type rpmdbLister struct{ dir string }

func (l rpmdbLister) Files(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var db string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(h.Name, "/")
		if name != "var/lib/rpm/Packages" && name != "var/lib/rpm/rpmdb.sqlite" {
			continue
		}
		dir, err := os.MkdirTemp(l.dir, "rpmdb")
		if err != nil {
			return nil, err
		}
		db = filepath.Join(dir, filepath.Base(name))
		f, err := os.Create(db)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(f, tr)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if db == "" {
		return &rpmscan.Inventory{}, nil
	}
	d, err := rpmdb.Open(db)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	pkgs, err := d.ListPackages()
	if err != nil {
		return nil, err
	}
	inv := &rpmscan.Inventory{}
	for _, p := range pkgs {
		files, err := p.InstalledFiles()
		if err != nil {
			return nil, err
		}
		pkg := rpmscan.Package{Name: p.Name, Epoch: p.EpochNum(), Version: p.Version, Release: p.Release, Arch: p.Arch, Vendor: p.Vendor}
		pf := rpmscan.InstalledFiles{NEVRA: pkg.NEVRA(), InstallTime: int64(p.InstallTime)}
		for _, f := range files {
			pf.Files = append(pf.Files, rpmscan.File{Path: f.Path, Mode: f.Mode, Flags: rpmscan.FileFlags(f.Flags)})
		}
		inv.Packages = append(inv.Packages, pkg)
		inv.Files = append(inv.Files, pf)
	}
	return inv, nil
}

// statuses maps check names to their statuses on the only platform.
func statuses(tb testing.TB, rep *certify.Report) map[string]certify.Status {
	tb.Helper()
	require.Len(tb, rep.Platforms, 1)
	m := map[string]certify.Status{}
	for _, r := range rep.Platforms[0].Results {
		m[r.Check] = r.Status
	}
	return m
}

// syntheticLister reports, for an image of n layers, the packages
// states(n) returns.
type syntheticLister func(layers int) []testPkg

func (states syntheticLister) Files(_ context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	inv := &rpmscan.Inventory{}
	for _, p := range states(len(ls)) {
		pkg := rpmscan.Package{Name: p.name, Version: p.version, Release: "1.el9", Arch: p.arch, Vendor: p.vendor}
		pf := rpmscan.InstalledFiles{NEVRA: pkg.NEVRA(), InstallTime: p.install}
		for _, f := range p.files {
			pf.Files = append(pf.Files, rpmscan.File{Path: f, Mode: 0o100755})
		}
		for _, f := range p.docs {
			pf.Files = append(pf.Files, rpmscan.File{Path: f, Mode: 0o100644, Flags: rpmscan.FileDoc})
		}
		pf.Files = append(pf.Files, rpmscan.File{Path: "/usr", Mode: 0o040755})
		inv.Packages = append(inv.Packages, pkg)
		inv.Files = append(inv.Files, pf)
	}
	return inv, nil
}

type failingLister struct{ err error }

func (f failingLister) Files(context.Context, v1.Image) (*rpmscan.Inventory, error) {
	return nil, f.err
}
