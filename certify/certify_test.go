package certify_test

import (
	"archive/tar"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/rpmscan"
)

// allChecks are the checks of the full container policy.
var allChecks = []string{"HasLicense", "HasUniqueTag", "LayerCountAcceptable", "HasNoProhibitedPackages",
	"HasRequiredLabel", "HasNoProhibitedLabels", "RunAsNonRoot", "HasModifiedFiles", "BasedOnUbi", "HasProhibitedContainerName"}

// appFiles is what a partner's layer adds on a UBI base: its license, its
// program and changes rpm allows (config under etc/, a doc file, a
// setuid bit dropped).
func appFiles() []file {
	return []file{
		file{name: "licenses/", typ: tar.TypeDir},
		reg("licenses/LICENSE", "Copyright Acme Corp. All rights reserved."),
		file{name: "opt/widget/bin/widget", mode: 0o755, body: []byte("ELF")},
		reg("etc/skel/.bashrc", "# changed"),
		reg("usr/share/doc/bash/FAQ", "new faq"),
		file{name: "usr/bin/chage", mode: 0o755, body: []byte("chage")},
	}
}

type fixture struct {
	db     []byte // rpmdb of the base layer
	base   []file // replaces the base layer when set
	app    []file // replaces the app layer when set
	extra  int    // more layers on top
	edit   func(*v1.ConfigFile)
	repo   string
	tags   []string
	anno   map[string]string
	policy certify.Variant
	lister certify.FileLister // default: the policy's (rpmscan)
}

func (f fixture) image(t *testing.T) v1.Image {
	t.Helper()
	var layers []v1.Layer
	if f.base != nil {
		layers = append(layers, layerOf(t, f.base...))
	} else {
		layers = append(layers, baseLayer(t, f.db))
	}
	app := appFiles()
	if f.app != nil {
		app = f.app
	}
	layers = append(layers, layerOf(t, app...))
	for i := range f.extra {
		layers = append(layers, layerOf(t, reg(fmt.Sprintf("opt/widget/data/%d", i), "x")))
	}
	img := imageOf(t, func(cf *v1.ConfigFile) {
		cf.Config.Labels = redHatLabels()
		cf.Config.User = "1001"
		if f.edit != nil {
			f.edit(cf)
		}
	}, layers...)
	if f.anno != nil {
		img = mutate.Annotations(img, f.anno).(v1.Image)
	}
	return img
}

func (f fixture) run(t *testing.T) *certify.Report {
	t.Helper()
	v := f.policy
	if v == "" {
		v = certify.Container
	}
	var opts []certify.Option
	if f.lister != nil {
		opts = append(opts, certify.WithFileLister(f.lister))
	}
	p, err := certify.New(v, append(opts,
		certify.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))))...)
	require.NoError(t, err)
	repo, tags := "quay.io/acme/widget", []string{"1.2-3", "latest"}
	if f.repo != "" {
		repo = f.repo
	}
	if f.tags != nil {
		tags = f.tags
	}
	rep, err := p.Certify(t.Context(), f.image(t), certify.Subject{Repository: repo, Tags: tags})
	require.NoError(t, err)
	return rep
}

// TestEachCheckFailsAlone builds a Red Hat-like image that passes, then
// for each check an image made to break only that check.
func TestEachCheckFailsAlone(t *testing.T) {
	ubi8 := goRPMDB(t, "ubi8-s390x/Packages")
	small := fixtureRPMDB(t) // file-less: HasModifiedFiles has nothing to check
	withKernel := goRPMDB(t, "centos6-devtools/Packages")
	noLabel := func(name string) func(*v1.ConfigFile) {
		return func(cf *v1.ConfigFile) { delete(cf.Config.Labels, name) }
	}
	label := func(name, value string) func(*v1.ConfigFile) {
		return func(cf *v1.ConfigFile) { cf.Config.Labels[name] = value }
	}
	user := func(u string) func(*v1.ConfigFile) { return func(cf *v1.ConfigFile) { cf.Config.User = u } }
	withApp := func(files ...file) []file { return append(appFiles(), files...) }
	noBuildinfo := []file{
		file{name: "usr/bin/bash", mode: 0o755, body: []byte("#!bash")},
		file{name: "usr/bin/chage", mode: 0o4755, body: []byte("chage")},
		file{name: "var/lib/rpm/Packages", body: ubi8},
	}

	tests := []struct {
		name string
		fix  fixture
		fail string // "" = every check passes
	}{
		{"red hat like (ubi8 rpmdb)", fixture{db: ubi8}, ""},
		{"red hat like (rpmscan fixture rpmdb)", fixture{db: fixtureRPMDB(t)}, ""},
		{"for red hat in a label", fixture{db: small, edit: label("vendor", "Acme for Red Hat")}, ""},
		{"40 layers", fixture{db: small, extra: 38}, ""},
		{"license through a symlink", fixture{db: small, app: []file{
			file{name: "usr/share/licenses/widget/LICENSE", body: []byte("MIT")},
			file{name: "licenses", typ: tar.TypeSymlink, link: "/usr/share/licenses/widget"},
		}}, ""},
		{"package reinstalls its file", fixture{db: ubi8, app: withApp(
			file{name: "usr/bin/bash", mode: 0o755, body: []byte("new bash")},
			file{name: "var/lib/rpm/Packages", body: ubi8},
		)}, "HasModifiedFiles"}, // same install time: rpm did not reinstall it

		{"no licenses", fixture{db: small, app: []file{reg("opt/widget/bin/widget", "ELF")}}, "HasLicense"},
		{"only empty licenses", fixture{db: small, app: []file{reg("licenses/LICENSE", "")}}, "HasLicense"},
		{"licenses is a file", fixture{db: small, app: []file{reg("licenses", "MIT")}}, "HasLicense"},
		{"license symlink escapes", fixture{db: small, app: []file{
			file{name: "licenses/LICENSE", typ: tar.TypeSymlink, link: "../../../../host/LICENSE"},
		}}, "HasLicense"},
		{"only latest", fixture{db: small, tags: []string{"latest"}}, "HasUniqueTag"},
		{"no tag", fixture{db: small, tags: []string{}}, "HasUniqueTag"},
		{"41 layers", fixture{db: small, extra: 39}, "LayerCountAcceptable"},
		{"kernel package", fixture{db: withKernel}, "HasNoProhibitedPackages"},
		{"no release label", fixture{db: small, edit: noLabel("release")}, "HasRequiredLabel"},
		{"empty maintainer", fixture{db: small, edit: label("maintainer", " ")}, "HasRequiredLabel"},
		{"red hat vendor", fixture{db: small, edit: label("vendor", "Red Hat Widgets")}, "HasNoProhibitedLabels"},
		{"red hat in the name", fixture{db: small, edit: label("name", "acme/widget-redhat")}, "HasNoProhibitedLabels"},
		{"no user", fixture{db: small, edit: user("")}, "RunAsNonRoot"},
		{"root", fixture{db: small, edit: user("root")}, "RunAsNonRoot"},
		{"uid 0 with group", fixture{db: small, edit: user("0:1001")}, "RunAsNonRoot"},
		{"rpm file changed", fixture{db: ubi8, app: withApp(reg("usr/bin/bash", "patched"))}, "HasModifiedFiles"},
		{"rpm file deleted", fixture{db: ubi8, app: withApp(reg("usr/bin/.wh.bash", ""))}, "HasModifiedFiles"},
		{"not on ubi", fixture{base: noBuildinfo}, "BasedOnUbi"},
		{"base recorded elsewhere", fixture{db: small, anno: map[string]string{
			"org.opencontainers.image.base.name": "docker.io/library/alpine:3",
		}}, "BasedOnUbi"},
		{"red hat container name", fixture{db: small, repo: "quay.io/acme/red-hat-widget"}, "HasProhibitedContainerName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := tt.fix.run(t)
			got := statuses(t, rep)
			want := map[string]certify.Status{}
			for _, c := range allChecks {
				want[c] = certify.Passed
			}
			if tt.fail != "" {
				want[tt.fail] = certify.Failed
			}
			assert.Equal(t, want, got, "%+v", rep.Platforms[0].Results)
			assert.Equal(t, tt.fail == "", rep.Passed())
			assert.Equal(t, "linux/amd64", rep.Platforms[0].Platform)
			for _, r := range rep.Platforms[0].Results {
				assert.NotEmpty(t, r.Reason, r.Check)
			}
		})
	}
}

func TestVariants(t *testing.T) {
	ubi8 := goRPMDB(t, "ubi8-s390x/Packages")
	scratch := []file{reg("opt/widget/bin/widget", "ELF")}
	tests := []struct {
		name string
		fix  fixture
		want map[string]certify.Status // checks that do not pass; every other runs and passes
		ran  int
	}{
		{"root exception ignores root", fixture{db: ubi8, policy: certify.RootException, edit: func(cf *v1.ConfigFile) { cf.Config.User = "" }}, nil, 9},
		{"scratch skips packages, files, ubi", fixture{base: scratch, policy: certify.ScratchNonRoot}, nil, 7},
		{"scratch root", fixture{base: scratch, policy: certify.ScratchRoot, edit: func(cf *v1.ConfigFile) { cf.Config.User = "0" }}, nil, 6},
		{"scratch image under the container policy", fixture{base: scratch}, map[string]certify.Status{
			"HasNoProhibitedPackages": certify.Error, "BasedOnUbi": certify.Failed,
		}, 10},
		{"konflux skips trademark checks", fixture{db: ubi8, policy: certify.Konflux, repo: "quay.io/acme/redhat", edit: func(cf *v1.ConfigFile) { cf.Config.Labels["vendor"] = "Red Hat" }}, nil, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statuses(t, tt.fix.run(t))
			assert.Len(t, got, tt.ran)
			for c, s := range got {
				want, ok := tt.want[c]
				if !ok {
					want = certify.Passed
				}
				assert.Equal(t, want, s, c)
			}
		})
	}
	_, err := certify.New("operator")
	require.Error(t, err)
	assert.ElementsMatch(t, []certify.Variant{"container", "root", "scratch-nonroot", "scratch-root", "konflux"}, certify.Variants())
}

// maxUID is a user's own check: the user id must be at most 65535.
type maxUID struct{}

func (maxUID) Name() string        { return "UserBelow65536" }
func (maxUID) Description() string { return "The user id fits in 16 bits." }
func (c maxUID) Validate(_ context.Context, t *certify.Target) certify.Result {
	cfg, err := t.Config()
	if err != nil {
		return certify.Result{Status: certify.Error, Reason: err.Error(), Err: err}
	}
	var uid int
	if _, err := fmt.Sscan(cfg.Config.User, &uid); err != nil || uid > 65535 {
		return certify.Result{Status: certify.Failed, Reason: "user " + cfg.Config.User}
	}
	return certify.Result{Status: certify.Passed, Reason: "user " + cfg.Config.User}
}

type panicking struct{}

func (panicking) Name() string                                             { return "Panics" }
func (panicking) Description() string                                      { return "panics" }
func (panicking) Validate(context.Context, *certify.Target) certify.Result { panic("boom") }

type badStatus struct{}

func (badStatus) Name() string        { return "BadStatus" }
func (badStatus) Description() string { return "returns no status" }
func (badStatus) Validate(context.Context, *certify.Target) certify.Result {
	return certify.Result{Reason: "forgot the status"}
}

func TestUserChecks(t *testing.T) {
	p, err := certify.New(certify.ScratchNonRoot)
	require.NoError(t, err)
	q := p.With(maxUID{}, panicking{}, badStatus{}).Without("HasUniqueTag")
	assert.Equal(t, "scratch-nonroot+UserBelow65536+Panics+BadStatus-HasUniqueTag", q.Name())
	assert.Len(t, p.Checks(), 7, "With and Without copy the policy")
	img := imageOf(t, func(cf *v1.ConfigFile) { cf.Config.User = "70000"; cf.Config.Labels = redHatLabels() },
		layerOf(t, reg("licenses/L", "MIT")))
	rep, err := q.Certify(t.Context(), img, certify.Subject{Repository: "quay.io/acme/widget"})
	require.NoError(t, err)
	got := statuses(t, rep)
	assert.Equal(t, certify.Failed, got["UserBelow65536"])
	assert.Equal(t, certify.Error, got["Panics"])
	assert.Equal(t, certify.Error, got["BadStatus"])
	assert.NotContains(t, got, "HasUniqueTag")
	assert.Equal(t, certify.Passed, got["RunAsNonRoot"])

	// A check with a policy's name replaces it.
	r := p.With(certify.RunAsNonRoot{})
	assert.Equal(t, p.Name(), r.Name())
	assert.Len(t, r.Checks(), 7)
}

func TestIndex(t *testing.T) {
	ubi8 := goRPMDB(t, "ubi8-s390x/Packages")
	good := fixture{db: ubi8}.image(t)
	arm := fixture{db: ubi8, edit: func(cf *v1.ConfigFile) { cf.Architecture = "arm64"; cf.Config.User = "" }}.image(t)
	att := imageOf(t, nil, layerOf(t, reg("attestation.json", "{}")))
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: good, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}},
	)
	p, err := certify.New(certify.Container, certify.WithFileLister(rpmdbLister{dir: t.TempDir()}))
	require.NoError(t, err)
	rep, err := p.CertifyIndex(t.Context(), idx, certify.Subject{Repository: "quay.io/acme/widget", Tags: []string{"1.2-3"}})
	require.NoError(t, err)
	require.Len(t, rep.Platforms, 2)
	assert.Equal(t, "linux/amd64", rep.Platforms[0].Platform)
	assert.Equal(t, "linux/arm64/v8", rep.Platforms[1].Platform)
	gd, _ := good.Digest()
	assert.Equal(t, gd.String(), rep.Platforms[0].Digest)
	for i, want := range []certify.Status{certify.Passed, certify.Failed} {
		for _, r := range rep.Platforms[i].Results {
			if r.Check == "RunAsNonRoot" {
				assert.Equal(t, want, r.Status)
			} else {
				assert.Equal(t, certify.Passed, r.Status, r.Check)
			}
		}
	}
	assert.False(t, rep.Passed())

	_, err = p.CertifyIndex(t.Context(), empty.Index, certify.Subject{})
	require.Error(t, err)
}

func TestCancelled(t *testing.T) {
	p, err := certify.New(certify.Container)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = p.Certify(ctx, fixture{db: fixtureRPMDB(t)}.image(t), certify.Subject{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestNoFileLister(t *testing.T) {
	target, err := certify.NewTarget(fixture{db: fixtureRPMDB(t)}.image(t), certify.Subject{})
	require.NoError(t, err)
	r := certify.HasModifiedFiles{}.Validate(t.Context(), target)
	assert.Equal(t, certify.Error, r.Status)
	assert.ErrorIs(t, r.Err, certify.ErrNoFileLister)
}

// TestModifiedFilesListers runs HasModifiedFiles with rpmscan's file
// lists and with go-rpmdb read directly: both see the same changes.
func TestModifiedFilesListers(t *testing.T) {
	ubi8 := goRPMDB(t, "ubi8-s390x/Packages")
	for _, app := range [][]file{
		appFiles(),
		append(appFiles(), reg("usr/bin/bash", "patched")),
		append(appFiles(), reg("usr/bin/.wh.bash", "")),
	} {
		target, err := certify.NewTarget(fixture{db: ubi8, app: app}.image(t), certify.Subject{})
		require.NoError(t, err)
		a := certify.HasModifiedFiles{Files: certify.ScannerFiles{}}.Validate(t.Context(), target)
		b := certify.HasModifiedFiles{Files: rpmdbLister{dir: t.TempDir()}}.Validate(t.Context(), target)
		assert.Equal(t, b, a)
		assert.NotEqual(t, certify.Error, a.Status, a.Reason)
	}
}

func TestInventoryGiven(t *testing.T) {
	img := fixture{db: fixtureRPMDB(t)}.image(t)
	target, err := certify.NewTarget(img, certify.Subject{})
	require.NoError(t, err)
	inv, err := target.Inventory(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, inv.Packages)

	// The caller's inventory is used as is: here it claims a kernel.
	given := *inv
	given.Packages = append(slices.Clone(inv.Packages), inv.Packages[0])
	given.Packages[len(given.Packages)-1].Name = "kernel-core"
	target, err = certify.NewTarget(img, certify.Subject{Inventories: []*rpmscan.Inventory{&given}})
	require.NoError(t, err)
	r := certify.HasNoProhibitedPackages{}.Validate(t.Context(), target)
	assert.Equal(t, certify.Failed, r.Status)
	assert.Contains(t, r.Reason, "kernel-core")
}

func TestProhibitedPackages(t *testing.T) {
	img := fixture{db: fixtureRPMDB(t)}.image(t)
	d, err := img.Digest()
	require.NoError(t, err)
	for _, tt := range []struct {
		names []string
		want  certify.Status
	}{
		{[]string{"bash", "kernel-headers", "grub2-tools", "kernel-abi-stablelists"}, certify.Passed},
		{[]string{"bash", "kernel"}, certify.Failed},
		{[]string{"grub2"}, certify.Failed},
		{[]string{"kpatch-patch-5_14_0-70"}, certify.Failed},
		{[]string{"linux-firmware", "kmod-kvdo"}, certify.Failed},
	} {
		inv := &rpmscan.Inventory{Image: rpmscan.ImageInfo{Digest: d.String()}, RPMDB: &rpmscan.RPMDB{Path: "var/lib/rpm/Packages"}}
		for _, n := range tt.names {
			inv.Packages = append(inv.Packages, rpmscan.Package{Name: n})
		}
		target, err := certify.NewTarget(img, certify.Subject{Inventories: []*rpmscan.Inventory{inv}})
		require.NoError(t, err)
		r := certify.HasNoProhibitedPackages{}.Validate(t.Context(), target)
		assert.Equal(t, tt.want, r.Status, "%v: %s", tt.names, r.Reason)
	}
}

func TestTargetBase(t *testing.T) {
	img := fixture{db: fixtureRPMDB(t), edit: func(cf *v1.ConfigFile) {
		cf.Config.Labels["org.opencontainers.image.base.name"] = "registry.access.redhat.com/ubi9/ubi:9.4"
	}, anno: map[string]string{"org.opencontainers.image.base.digest": "sha256:aaaa"}}.image(t)
	target, err := certify.NewTarget(img, certify.Subject{})
	require.NoError(t, err)
	assert.Equal(t, "sha256:aaaa", target.BaseDigest())
	assert.Equal(t, "registry.access.redhat.com/ubi9/ubi:9.4", target.BaseName())
	target, err = certify.NewTarget(img, certify.Subject{BaseDigest: "sha256:bbbb", BaseName: "x/y"})
	require.NoError(t, err)
	assert.Equal(t, "sha256:bbbb", target.BaseDigest())
	assert.Equal(t, "x/y", target.BaseName())
}
