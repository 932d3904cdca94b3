package rpmscan_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver"
)

const (
	ubi9OSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
`
	ubi9RedHatRelease = "Red Hat Enterprise Linux release 9.3 (Plow)\n"
	baseManifest      = `{"metadata":{"icm_version":1,"image_layer_index":0},"content_sets":["rhel-9-for-x86_64-baseos-rpms","rhel-9-for-x86_64-appstream-rpms"],"image_contents":[]}`
	appManifest       = `{"metadata":{"icm_version":1,"image_layer_index":1},"content_sets":["rhel-9-for-x86_64-appstream-rpms","codeready-builder-for-rhel-9-x86_64-rpms"]}`
)

var ubi9OS = rpmscan.OS{
	ID: "rhel", VersionID: "9.3", Name: "Red Hat Enterprise Linux",
	PrettyName:    "Red Hat Enterprise Linux 9.3 (Plow)",
	CPEName:       "cpe:/o:redhat:enterprise_linux:9::baseos",
	RedHatRelease: "Red Hat Enterprise Linux release 9.3 (Plow)",
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// fixturePackages parses testdata/packages.txt, written by gen.sh with rpm -qa.
func fixturePackages(t testing.TB) []rpmscan.Package {
	t.Helper()
	var out []rpmscan.Package
	sc := bufio.NewScanner(bytes.NewReader(readFixture(t, "packages.txt")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		require.GreaterOrEqual(t, len(f), 2, sc.Text())
		nevra := f[0]
		dot := strings.LastIndex(nevra, ".")
		nevr, arch := nevra[:dot], nevra[dot+1:]
		dash := strings.LastIndex(nevr, "-")
		nev, rel := nevr[:dash], nevr[dash+1:]
		dash = strings.LastIndex(nev, "-")
		name, ev := nev[:dash], nev[dash+1:]
		e, v, _ := strings.Cut(ev, ":")
		epoch, err := strconv.Atoi(e)
		require.NoError(t, err)
		p := rpmscan.Package{Name: name, Epoch: epoch, Version: v, Release: rel, Arch: arch, SourceRPM: f[1], Vendor: "Red Hat, Inc."}
		if len(f) > 2 {
			p.Module = f[2]
		}
		out = append(out, p)
	}
	require.NoError(t, sc.Err())
	return out
}

func baseLayer(t testing.TB, dbPath string, db []byte) []testutil.Entry {
	t.Helper()
	return []testutil.Entry{
		testutil.Dir("etc"),
		testutil.Symlink("etc/os-release", "../usr/lib/os-release"),
		testutil.File("etc/redhat-release", []byte(ubi9RedHatRelease)),
		testutil.Symlink("etc/system-release", "redhat-release"),
		testutil.File("root/buildinfo/content_manifests/ubi9-container-9.3-1361.json", []byte(baseManifest)),
		testutil.File("usr/bin/bash", bytes.Repeat([]byte{0x7f}, 1000)),
		testutil.File("usr/lib/os-release", []byte(ubi9OSRelease)),
		testutil.Dir(filepath.Dir(dbPath)),
		testutil.File(dbPath, db),
	}
}

func scanner(t testing.TB, opts ...rpmscan.Option) *rpmscan.LayerScanner {
	opts = append([]rpmscan.Option{rpmscan.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)
	return rpmscan.New(opts...)
}

func TestScanFixtures(t *testing.T) {
	want := fixturePackages(t)
	require.Len(t, want, 7)
	labels := map[string]string{
		"com.redhat.component": "myapp-container", "name": "acme/myapp", "version": "1.2",
		"release": "3", "architecture": "x86_64", "org.opencontainers.image.base.name": "registry.access.redhat.com/ubi9:9.3-1361",
		"maintainer": "nobody", // not reported
	}
	for _, tc := range []struct {
		name, fixture, path, backend string
	}{
		{"sqlite var/lib/rpm", "rpmdb/sqlite/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite", "sqlite"},
		{"sqlite sysimage", "rpmdb/sqlite/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", "sqlite"},
		{"bdb var/lib/rpm", "rpmdb/bdb/Packages", "var/lib/rpm/Packages", "bdb"},
		{"bdb sysimage", "rpmdb/bdb/Packages", "usr/lib/sysimage/rpm/Packages", "bdb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := testutil.Layer(baseLayer(t, tc.path, readFixture(t, tc.fixture))...)
			require.NoError(t, err)
			app, err := testutil.Layer(
				testutil.File("root/buildinfo/content_manifests/myapp-container-1.2-3.json", []byte(appManifest)),
				testutil.File("opt/app/app.jar", bytes.Repeat([]byte("jar"), 5000)),
			)
			require.NoError(t, err)
			img, err := testutil.Image(testutil.Config{Labels: labels}, base, app)
			require.NoError(t, err)

			tmp := t.TempDir()
			inv, err := scanner(t, rpmscan.WithTempDir(tmp)).Scan(t.Context(), img)
			require.NoError(t, err)

			digest, err := img.Digest()
			require.NoError(t, err)
			baseDigest, err := base.Digest()
			require.NoError(t, err)
			assert.Equal(t, digest.String(), inv.Image.Digest)
			wantLabels := maps(labels)
			delete(wantLabels, "maintainer")
			assert.Equal(t, wantLabels, inv.Image.Labels)
			assert.Equal(t, ubi9OS, inv.OS)
			assert.Equal(t, []string{"codeready-builder-for-rhel-9-x86_64-rpms", "rhel-9-for-x86_64-appstream-rpms", "rhel-9-for-x86_64-baseos-rpms"}, inv.ContentSets)
			assert.Equal(t, &rpmscan.RPMDB{Path: tc.path, Backend: tc.backend, LayerDigest: baseDigest.String()}, inv.RPMDB)
			assert.Equal(t, want, inv.Packages)
			assertEmptyDir(t, tmp)
		})
	}
}

func maps(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "scan left files in its temp dir")
}

func TestScanNoRPMDB(t *testing.T) {
	debian := testutil.MustImage(t, testutil.Config{}, []testutil.Entry{
		testutil.File("etc/os-release", []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n")),
		testutil.File("var/lib/dpkg/status", []byte("Package: base-files\n")),
	})
	distroless := testutil.MustImage(t, testutil.Config{}, []testutil.Entry{
		testutil.File("app", []byte("\x7fELF")),
	})
	for _, tc := range []struct {
		name string
		img  v1.Image
		os   rpmscan.OS
	}{
		{"scratch", empty.Image, rpmscan.OS{}},
		{"distroless", distroless, rpmscan.OS{}},
		{"debian", debian, rpmscan.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := scanner(t).Scan(t.Context(), tc.img)
			require.NoError(t, err)
			assert.Nil(t, inv.RPMDB)
			assert.Empty(t, inv.Packages)
			assert.NotNil(t, inv.Packages, "packages must encode as [] in JSON")
			assert.NotNil(t, inv.ContentSets)
			assert.Equal(t, tc.os, inv.OS)
		})
	}
}

func TestScanCancelled(t *testing.T) {
	img := testutil.MustImage(t, testutil.Config{}, baseLayer(t, "var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages")))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := scanner(t).Scan(ctx, img)
	require.ErrorIs(t, err, context.Canceled)
}

// TestScanLayering covers whiteouts, opaque directories, replaced and
// moved databases: each case is a stack of layers, bottom first.
func TestScanLayering(t *testing.T) {
	sqliteDB := readFixture(t, "rpmdb/sqlite/rpmdb.sqlite")
	bdbDB := readFixture(t, "rpmdb/bdb/Packages")
	fixture := fixturePackages(t)
	osRel := func(id, ver string) []byte { return []byte("ID=" + id + "\nVERSION_ID=\"" + ver + "\"\n") }

	for _, tc := range []struct {
		name         string
		layers       [][]testutil.Entry
		wantPath     string // "" means no rpmdb
		wantLayer    int
		wantOS       rpmscan.OS
		wantSets     []string
		wantPackages int
	}{
		{
			name: "db deleted by whiteout",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", bdbDB)},
				{testutil.Whiteout("var/lib/rpm/Packages")},
			},
		},
		{
			name: "db dir deleted by whiteout",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/rpmdb.sqlite", sqliteDB)},
				{testutil.Whiteout("var/lib/rpm")},
			},
		},
		{
			name: "opaque db dir without db",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", bdbDB)},
				{testutil.Dir("var/lib/rpm"), testutil.Opaque("var/lib/rpm"), testutil.File("var/lib/rpm/README", []byte("x"))},
			},
		},
		{
			name: "opaque db dir with new db",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", []byte("not a database"))},
				{testutil.Opaque("var/lib/rpm"), testutil.File("var/lib/rpm/rpmdb.sqlite", sqliteDB)},
			},
			wantPath: "var/lib/rpm/rpmdb.sqlite", wantLayer: 1, wantPackages: len(fixture),
		},
		{
			name: "db replaced by upper layer",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", []byte("stale and broken"))},
				{testutil.File("etc/motd", nil)},
				{testutil.File("var/lib/rpm/Packages", bdbDB)},
				{testutil.File("opt/app", nil)},
			},
			wantPath: "var/lib/rpm/Packages", wantLayer: 2, wantPackages: len(fixture),
		},
		{
			name: "topmost db wins over another backend below",
			layers: [][]testutil.Entry{
				{testutil.File("usr/lib/sysimage/rpm/rpmdb.sqlite", []byte("stale and broken"))},
				{testutil.File("var/lib/rpm/Packages", bdbDB)},
			},
			wantPath: "var/lib/rpm/Packages", wantLayer: 1, wantPackages: len(fixture),
		},
		{
			name: "sqlite preferred within a layer",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", []byte("stale and broken")), testutil.File("var/lib/rpm/rpmdb.sqlite", sqliteDB)},
			},
			wantPath: "var/lib/rpm/rpmdb.sqlite", wantLayer: 0, wantPackages: len(fixture),
		},
		{
			name: "var/lib/rpm replaced by a symlink into sysimage",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", []byte("stale and broken"))},
				{testutil.Symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"), testutil.File("usr/lib/sysimage/rpm/rpmdb.sqlite", sqliteDB)},
			},
			wantPath: "usr/lib/sysimage/rpm/rpmdb.sqlite", wantLayer: 1, wantPackages: len(fixture),
		},
		{
			name: "var/lib/rpm whited out, sysimage db below",
			layers: [][]testutil.Entry{
				{testutil.File("usr/lib/sysimage/rpm/Packages", bdbDB), testutil.File("var/lib/rpm/Packages", []byte("broken"))},
				{testutil.Whiteout("var/lib/rpm")},
			},
			wantPath: "usr/lib/sysimage/rpm/Packages", wantLayer: 0, wantPackages: len(fixture),
		},
		{
			name: "duplicate entry in one layer: the last one counts",
			layers: [][]testutil.Entry{
				{testutil.File("var/lib/rpm/Packages", []byte("broken")), testutil.File("var/lib/rpm/Packages", bdbDB)},
			},
			wantPath: "var/lib/rpm/Packages", wantLayer: 0, wantPackages: len(fixture),
		},
		{
			name: "os-release symlink into a lower layer",
			layers: [][]testutil.Entry{
				{testutil.File("usr/lib/os-release", osRel("rhel", "9.2"))},
				{testutil.Symlink("etc/os-release", "/usr/lib/os-release")},
			},
			wantOS: rpmscan.OS{ID: "rhel", VersionID: "9.2"},
		},
		{
			name: "etc/os-release whited out falls back to usr/lib",
			layers: [][]testutil.Entry{
				{testutil.File("usr/lib/os-release", osRel("rhel", "8.9")), testutil.File("etc/os-release", osRel("centos", "7"))},
				{testutil.Whiteout("etc/os-release")},
			},
			wantOS: rpmscan.OS{ID: "rhel", VersionID: "8.9"},
		},
		{
			name: "upper os-release overrides",
			layers: [][]testutil.Entry{
				{testutil.File("etc/os-release", osRel("rhel", "8.9")), testutil.File("etc/redhat-release", []byte("Red Hat Enterprise Linux release 8.9 (Ootpa)"))},
				{testutil.File("etc/os-release", osRel("rhel", "8.10"))},
			},
			wantOS: rpmscan.OS{ID: "rhel", VersionID: "8.10", RedHatRelease: "Red Hat Enterprise Linux release 8.9 (Ootpa)"},
		},
		{
			name: "symlink loop in os-release",
			layers: [][]testutil.Entry{
				{testutil.Symlink("etc/os-release", "../usr/lib/os-release"), testutil.Symlink("usr/lib/os-release", "../../etc/os-release")},
			},
		},
		{
			name: "os-release symlink out of the root is clamped",
			layers: [][]testutil.Entry{
				{testutil.Symlink("etc/os-release", "../../../../usr/lib/os-release"), testutil.File("usr/lib/os-release", osRel("fedora", "39"))},
			},
			wantOS: rpmscan.OS{ID: "fedora", VersionID: "39"},
		},
		{
			name: "content manifests from every layer, minus whited-out ones, plus content-sets.json",
			layers: [][]testutil.Entry{
				{testutil.File("root/buildinfo/content_manifests/base.json", []byte(baseManifest)), testutil.File("root/buildinfo/content_manifests/gone.json", []byte(`{"content_sets":["deleted-repo"]}`))},
				{testutil.File("root/buildinfo/content_manifests/app.json", []byte(appManifest)), testutil.Whiteout("root/buildinfo/content_manifests/gone.json")},
				{testutil.File("usr/share/buildinfo/content-sets.json", []byte(`{"metadata":{"icm_version":1},"content_sets":["rhel-9-for-x86_64-baseos-eus-rpms"]}`)), testutil.File("root/buildinfo/content_manifests/not-json.txt", []byte("ignored"))},
			},
			wantSets: []string{"codeready-builder-for-rhel-9-x86_64-rpms", "rhel-9-for-x86_64-appstream-rpms", "rhel-9-for-x86_64-baseos-eus-rpms", "rhel-9-for-x86_64-baseos-rpms"},
		},
		{
			name: "opaque buildinfo hides lower manifests",
			layers: [][]testutil.Entry{
				{testutil.File("root/buildinfo/content_manifests/base.json", []byte(baseManifest))},
				{testutil.Opaque("root/buildinfo"), testutil.File("root/buildinfo/content_manifests/app.json", []byte(`{"content_sets":["only-this"]}`))},
			},
			wantSets: []string{"only-this"},
		},
		{
			name: "./-prefixed names",
			layers: [][]testutil.Entry{
				{testutil.File("./var/lib/rpm/Packages", bdbDB), testutil.File("./etc/os-release", osRel("rhel", "7.9"))},
			},
			wantPath: "var/lib/rpm/Packages", wantLayer: 0, wantPackages: len(fixture), wantOS: rpmscan.OS{ID: "rhel", VersionID: "7.9"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testutil.MustImage(t, testutil.Config{}, tc.layers...)
			inv, err := scanner(t).Scan(t.Context(), img)
			require.NoError(t, err)
			assert.Equal(t, tc.wantOS, inv.OS)
			if tc.wantSets == nil {
				tc.wantSets = []string{}
			}
			assert.Equal(t, tc.wantSets, inv.ContentSets)
			if tc.wantPath == "" {
				assert.Nil(t, inv.RPMDB)
				assert.Empty(t, inv.Packages)
				return
			}
			require.NotNil(t, inv.RPMDB)
			assert.Equal(t, tc.wantPath, inv.RPMDB.Path)
			layers, err := img.Layers()
			require.NoError(t, err)
			d, err := layers[tc.wantLayer].Digest()
			require.NoError(t, err)
			assert.Equal(t, d.String(), inv.RPMDB.LayerDigest)
			assert.Len(t, inv.Packages, tc.wantPackages)
		})
	}
}

// TestScanStopsEarly shows that the walk does not read layers that cannot
// change the result: the bottom layer is a truncated gzip stream, which
// would fail the scan if it were read.
func TestScanStopsEarly(t *testing.T) {
	raw, err := testutil.Tar(testutil.File("var/lib/rpm/Packages", []byte("x")))
	require.NoError(t, err)
	gz := testutil.Gzip(raw)
	broken := testutil.RawLayer(gz[:len(gz)/2], raw)

	top, err := testutil.Layer(
		testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages")),
		testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.4\n")),
		testutil.Opaque("etc"),
		testutil.Opaque("usr/share/buildinfo"),
		testutil.Opaque("root/buildinfo/content_manifests"),
		testutil.File("root/buildinfo/content_manifests/app.json", []byte(appManifest)),
	)
	require.NoError(t, err)
	img, err := testutil.Image(testutil.Config{}, broken, top)
	require.NoError(t, err)
	inv, err := scanner(t).Scan(t.Context(), img)
	require.NoError(t, err)
	assert.Len(t, inv.Packages, len(fixturePackages(t)))
	assert.Equal(t, "9.4", inv.OS.VersionID)

	// Without the opaque manifests directory the broken layer must be read.
	top2, err := testutil.Layer(testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages")))
	require.NoError(t, err)
	img2, err := testutil.Image(testutil.Config{}, broken, top2)
	require.NoError(t, err)
	_, err = scanner(t).Scan(t.Context(), img2)
	require.ErrorIs(t, err, rpmscan.ErrCorruptLayer)
}

func TestScanHostile(t *testing.T) {
	bdbDB := readFixture(t, "rpmdb/bdb/Packages")
	sqliteDB := readFixture(t, "rpmdb/sqlite/rpmdb.sqlite")
	okDB := testutil.File("var/lib/rpm/Packages", bdbDB)

	truncated := func(entries ...testutil.Entry) v1.Layer {
		raw, err := testutil.Tar(entries...)
		require.NoError(t, err)
		gz := testutil.Gzip(raw)
		return testutil.RawLayer(gz[:len(gz)*3/4], raw)
	}
	layer := func(entries ...testutil.Entry) v1.Layer {
		l, err := testutil.Layer(entries...)
		require.NoError(t, err)
		return l
	}
	// tarTail cuts the tar stream itself in the middle of the rpmdb body.
	tarTail := func() v1.Layer {
		raw, err := testutil.Tar(okDB)
		require.NoError(t, err)
		raw = raw[:2048]
		return testutil.RawLayer(testutil.Gzip(raw), raw)
	}

	for _, tc := range []struct {
		name    string
		layers  []v1.Layer
		opts    []rpmscan.Option
		want    error
		wantTyp any
	}{
		{"absolute path", []v1.Layer{layer(testutil.File("/etc/passwd", []byte("root")), okDB)}, nil, rpmscan.ErrUnsafePath, &rpmscan.LayerError{}},
		{"path traversal", []v1.Layer{layer(testutil.File("../../../tmp/pwned", []byte("x")))}, nil, rpmscan.ErrUnsafePath, &rpmscan.LayerError{}},
		{"traversal through a subdir", []v1.Layer{layer(testutil.File("var/../../pwned", []byte("x")))}, nil, rpmscan.ErrUnsafePath, &rpmscan.LayerError{}},
		{"hard link out of the root", []v1.Layer{layer(testutil.Hardlink("etc/os-release", "../../etc/shadow"))}, nil, rpmscan.ErrUnsafePath, &rpmscan.LayerError{}},
		{"malformed whiteout", []v1.Layer{layer(okDB), layer(testutil.File("var/lib/.wh...", nil))}, nil, rpmscan.ErrUnsafePath, &rpmscan.LayerError{}},
		{"rpmdb symlink", []v1.Layer{layer(testutil.Symlink("var/lib/rpm/Packages", "/etc/shadow"))}, nil, rpmscan.ErrRPMDBNotRegular, &rpmscan.LayerError{}},
		{"rpmdb hard link", []v1.Layer{layer(testutil.File("etc/shadow", []byte("secret")), testutil.Hardlink("var/lib/rpm/rpmdb.sqlite", "etc/shadow"))}, nil, rpmscan.ErrRPMDBNotRegular, &rpmscan.LayerError{}},
		{"rpmdb is a directory", []v1.Layer{layer(testutil.Dir("usr/lib/sysimage/rpm/Packages.db"))}, nil, rpmscan.ErrRPMDBNotRegular, &rpmscan.LayerError{}},
		{"rpmdb wal symlink", []v1.Layer{layer(testutil.File("var/lib/rpm/rpmdb.sqlite", sqliteDB), testutil.Symlink("var/lib/rpm/rpmdb.sqlite-wal", "/proc/self/mem"))}, nil, rpmscan.ErrRPMDBNotRegular, &rpmscan.LayerError{}},
		{"rpmdb above the size limit", []v1.Layer{layer(okDB)}, []rpmscan.Option{rpmscan.WithMaxFileSize(1024)}, rpmscan.ErrEntryTooLarge, &rpmscan.LayerError{}},
		{"os-release above the size limit", []v1.Layer{layer(testutil.File("usr/lib/os-release", bytes.Repeat([]byte("#"), 2048)))}, []rpmscan.Option{rpmscan.WithMaxFileSize(1024)}, rpmscan.ErrEntryTooLarge, &rpmscan.LayerError{}},
		{"truncated gzip", []v1.Layer{truncated(okDB, testutil.File("opt/big", bytes.Repeat([]byte("abc"), 100000)))}, nil, rpmscan.ErrCorruptLayer, &rpmscan.LayerError{}},
		{"truncated gzip in an upper layer", []v1.Layer{layer(okDB), truncated(testutil.File("opt/big", bytes.Repeat([]byte("abc"), 100000)))}, nil, rpmscan.ErrCorruptLayer, &rpmscan.LayerError{}},
		{"truncated tar", []v1.Layer{tarTail()}, nil, rpmscan.ErrCorruptLayer, &rpmscan.LayerError{}},
		{"garbage rpmdb", []v1.Layer{layer(testutil.File("var/lib/rpm/Packages", bytes.Repeat([]byte("garbage!"), 100)))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"tiny rpmdb", []v1.Layer{layer(testutil.File("var/lib/rpm/Packages", []byte("x")))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"truncated bdb", []v1.Layer{layer(testutil.File("var/lib/rpm/Packages", bdbDB[:len(bdbDB)/2]))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"truncated sqlite", []v1.Layer{layer(testutil.File("var/lib/rpm/rpmdb.sqlite", sqliteDB[:8192]))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"sqlite without Packages table", []v1.Layer{layer(testutil.File("var/lib/rpm/rpmdb.sqlite", emptySQLite(t)))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"header blob go-rpmdb rejects", []v1.Layer{layer(testutil.File("var/lib/rpm/rpmdb.sqlite", badHeaderSQLite(t)))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"header blob with absurd counts", []v1.Layer{layer(testutil.File("var/lib/rpm/rpmdb.sqlite", hugeCountSQLite(t)))}, nil, rpmscan.ErrCorruptRPMDB, &rpmscan.RPMDBError{}},
		{"corrupt content manifest", []v1.Layer{layer(testutil.File("root/buildinfo/content_manifests/x.json", []byte("{not json")))}, nil, rpmscan.ErrCorruptMetadata, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := testutil.Image(testutil.Config{}, tc.layers...)
			require.NoError(t, err)
			tmp := t.TempDir()
			opts := append([]rpmscan.Option{rpmscan.WithTempDir(tmp)}, tc.opts...)
			inv, err := scanner(t, opts...).Scan(t.Context(), img)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, inv)
			switch typ := tc.wantTyp.(type) {
			case *rpmscan.LayerError:
				require.ErrorAs(t, err, &typ)
			case *rpmscan.RPMDBError:
				require.ErrorAs(t, err, &typ)
			}
			t.Log(err)
			assertEmptyDir(t, tmp)
		})
	}
}

// emptySQLite returns a valid sqlite database without rpm's tables.
func emptySQLite(t *testing.T) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.sqlite")
	db, err := sql.Open("sqlite", p)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE Other (x INTEGER)")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// sqliteWithBlob returns the fixture database with one more header blob.
func sqliteWithBlob(t *testing.T, blob []byte) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	require.NoError(t, os.WriteFile(p, readFixture(t, "rpmdb/sqlite/rpmdb.sqlite"), 0o600))
	db, err := sql.Open("sqlite", p)
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO Packages(blob) VALUES (?)", blob)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// header builds an rpm header blob from index entries {tag, type, offset,
// count} and data.
func header(entries [][4]uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(entries)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	for _, e := range entries {
		for _, v := range e {
			b = binary.BigEndian.AppendUint32(b, v)
		}
	}
	return append(b, data...)
}

// badHeaderSQLite holds a header that passes the structural checks but
// that go-rpmdb refuses (tag 5 is below the valid tag range).
func badHeaderSQLite(t *testing.T) []byte {
	return sqliteWithBlob(t, header([][4]uint32{{5, 6, 0, 1}}, []byte("name\x00")))
}

// hugeCountSQLite holds a header whose string array claims four billion
// elements, which would keep go-rpmdb looping for minutes.
func hugeCountSQLite(t *testing.T) []byte {
	return sqliteWithBlob(t, header([][4]uint32{{1000, 8, 0, 0xffffffff}}, []byte("a\x00")))
}

// TestScanTarTypes makes sure odd but legal entries (devices, fifos, long
// names) do not disturb the walk.
func TestScanTarTypes(t *testing.T) {
	img := testutil.MustImage(t, testutil.Config{}, []testutil.Entry{
		{Name: "dev/null", Type: tar.TypeChar},
		{Name: "run/fifo", Type: tar.TypeFifo},
		testutil.File(strings.Repeat("d/", 200)+"file", []byte("x")),
		testutil.File("var/lib/rpm/Packages", readFixture(t, "rpmdb/bdb/Packages")),
		{Name: "etc/os-release", Type: tar.TypeFifo},
	})
	inv, err := scanner(t).Scan(t.Context(), img)
	require.NoError(t, err)
	assert.Len(t, inv.Packages, 7)
	assert.Equal(t, rpmscan.OS{}, inv.OS)
}

// TestScanSQLiteWAL checks that a write-ahead log next to rpmdb.sqlite is
// copied along: the extra package exists only in the WAL.
func TestScanSQLiteWAL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rpmdb.sqlite")
	require.NoError(t, os.WriteFile(p, readFixture(t, "rpmdb/sqlite/rpmdb.sqlite"), 0o600))
	db, err := sql.Open("sqlite", p)
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"PRAGMA journal_mode=WAL",
		"PRAGMA wal_autocheckpoint=0",
		"INSERT INTO Packages(blob) SELECT blob FROM Packages ORDER BY hnum LIMIT 1",
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	// Copy while the connection is open: closing would checkpoint the WAL.
	main, err := os.ReadFile(p)
	require.NoError(t, err)
	wal, err := os.ReadFile(p + "-wal")
	require.NoError(t, err)
	require.NotEmpty(t, wal)
	require.NoError(t, db.Close())

	for _, tc := range []struct {
		name   string
		layers [][]testutil.Entry
		want   int
	}{
		{"wal in the same layer", [][]testutil.Entry{{testutil.File("var/lib/rpm/rpmdb.sqlite", main), testutil.File("var/lib/rpm/rpmdb.sqlite-wal", wal)}}, 8},
		{"wal in an upper layer", [][]testutil.Entry{{testutil.File("var/lib/rpm/rpmdb.sqlite", main)}, {testutil.File("var/lib/rpm/rpmdb.sqlite-wal", wal)}}, 8},
		{"wal whited out", [][]testutil.Entry{{testutil.File("var/lib/rpm/rpmdb.sqlite", main), testutil.File("var/lib/rpm/rpmdb.sqlite-wal", wal)}, {testutil.Whiteout("var/lib/rpm/rpmdb.sqlite-wal")}}, 7},
		{"wal of the other directory ignored", [][]testutil.Entry{{testutil.File("var/lib/rpm/rpmdb.sqlite", main), testutil.File("usr/lib/sysimage/rpm/rpmdb.sqlite-wal", wal)}}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testutil.MustImage(t, testutil.Config{}, tc.layers...)
			inv, err := scanner(t).Scan(t.Context(), img)
			require.NoError(t, err)
			assert.Len(t, inv.Packages, tc.want)
		})
	}
}
