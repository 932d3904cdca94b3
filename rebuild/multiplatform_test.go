package rebuild_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/rebuild"
)

// fourPlatforms are the platforms of a typical certified image.
var fourPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
}

// withPlatform returns img with its config's platform set to p.
func withPlatform(t testing.TB, img v1.Image, p v1.Platform) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	out, err := mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return out
}

// indexOf puts imgs (one per platform) into an index of media type mt
// with annotations on the index and on each descriptor.
func indexOf(t testing.TB, mt types.MediaType, imgs map[string]v1.Image, plats []v1.Platform) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, mt)
	for _, p := range plats {
		img, ok := imgs[p.Architecture]
		if !ok {
			continue
		}
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &p, Annotations: map[string]string{"io.example.arch": p.Architecture},
		}})
	}
	out, ok := mutate.Annotations(idx, map[string]string{"org.opencontainers.image.title": "multi"}).(v1.ImageIndex)
	require.True(t, ok)
	return out
}

func pushIndex(t testing.TB, ref string, idx v1.ImageIndex) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(r, idx, remote.WithContext(t.Context())))
	d, err := idx.Digest()
	require.NoError(t, err)
	return d.String()
}

func pullIndex(t testing.TB, ref string) v1.ImageIndex {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	idx, err := remote.Index(r, remote.WithContext(t.Context()))
	require.NoError(t, err)
	return idx
}

// multiFixture is a four-platform base index (base:1) and an application
// index (app:1) built on it, in one repository namespace of a registry.
type multiFixture struct {
	ns                 string
	family, indexMT    types.MediaType
	base               map[string]v1.Image // version 1, by architecture
	app                map[string]v1.Image
	appIndex           v1.ImageIndex
	baseDigest         string // of the base index the app records
	baseRef, appRef    string
	newBase            map[string]v1.Image
	newBaseIndexDigest string
}

func newMultiFixture(t testing.TB, reg *regtest.Registry, ns string, family types.MediaType) *multiFixture {
	t.Helper()
	f := &multiFixture{ns: ns, family: family, indexMT: types.OCIImageIndex, base: map[string]v1.Image{}, app: map[string]v1.Image{}}
	if family == types.DockerManifestSchema2 {
		f.indexMT = types.DockerManifestList
	}
	f.baseRef, f.appRef = reg.Repo(ns+"/base")+":1", reg.Repo(ns+"/app")+":1"
	for _, p := range fourPlatforms {
		a := p.Architecture
		f.base[a] = withPlatform(t, imageIn(t, family, nil, map[string]string{"name": "base"},
			layer(t, map[string]string{"etc/os-release": "v1 " + a}),
			layer(t, map[string]string{"usr/lib/libssl.so": "vulnerable " + a})), p)
	}
	f.baseDigest = pushIndex(t, f.baseRef, indexOf(t, f.indexMT, f.base, fourPlatforms))
	for _, p := range fourPlatforms {
		a := p.Architecture
		app := withPlatform(t, imageIn(t, family, f.base[a], map[string]string{"name": "app", rebuild.LabelRelease: "4"},
			layer(t, map[string]string{"app/bin": "app for " + a})), p)
		f.app[a] = annotateBase(t, app, f.baseRef, f.baseDigest)
	}
	f.appIndex = indexOf(t, f.indexMT, f.app, fourPlatforms)
	pushIndex(t, f.appRef, f.appIndex)
	return f
}

// moveBase pushes a new base:1 whose images for the architectures in
// fixed have a fixed library (the others are the old images), leaving
// out the architectures in drop.
func (f *multiFixture) moveBase(t testing.TB, fixed []string, drop ...string) {
	t.Helper()
	f.newBase = map[string]v1.Image{}
	for _, p := range fourPlatforms {
		a := p.Architecture
		switch {
		case slices.Contains(drop, a):
		case slices.Contains(fixed, a):
			f.newBase[a] = withPlatform(t, imageIn(t, f.family, nil, map[string]string{"name": "base"},
				layer(t, map[string]string{"etc/os-release": "v1 " + a}),
				layer(t, map[string]string{"usr/lib/libssl.so": "fixed " + a})), p)
		default:
			f.newBase[a] = f.base[a]
		}
	}
	f.newBaseIndexDigest = pushIndex(t, f.baseRef, indexOf(t, f.indexMT, f.newBase, fourPlatforms))
}

func (f *multiFixture) target(t testing.TB) *rebuild.Target {
	return &rebuild.Target{Ref: f.appRef, Index: pullIndex(t, f.appRef), Builder: &rebuild.Rebase{},
		Reason: rebuild.Reason{Advisories: []string{"RHSA-2026:1500"}}}
}

// countingStore stages indexes in a registry and counts what it was
// asked to stage.
type countingStore struct {
	rebuild.RegistryStore
	images, indexes atomic.Int32
}

func (s *countingStore) Put(ctx context.Context, t *rebuild.Target, img v1.Image) (string, error) {
	s.images.Add(1)
	return s.RegistryStore.Put(ctx, t, img)
}

func (s *countingStore) PutIndex(ctx context.Context, t *rebuild.Target, idx v1.ImageIndex) (string, error) {
	s.indexes.Add(1)
	return s.RegistryStore.PutIndex(ctx, t, idx)
}

// TestRebaseIndex rebases a four-platform application index onto a new
// four-platform base index in a real registry (Debian's docker-registry),
// in both manifest families, and has skopeo copy the result with --all.
func TestRebaseIndex(t *testing.T) {
	bin := requireSkopeo(t)
	reg := regtest.Distribution(t)
	for fam, mt := range map[string]types.MediaType{"oci": types.OCIManifestSchema1, "docker": types.DockerManifestSchema2} {
		t.Run(fam, func(t *testing.T) {
			f := newMultiFixture(t, reg, "all-"+fam, mt)
			f.moveBase(t, []string{"amd64", "arm64", "ppc64le", "s390x"})
			store := &countingStore{}
			start := time.Now()
			out, err := rebuild.Run(t.Context(), f.target(t), nil, rebuild.WithStore(store),
				rebuild.WithVerify(rebuild.VerifyPullable), rebuild.WithWorkDir(t.TempDir()),
				rebuild.WithClock(func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }))
			t.Logf("rebase of a 4-platform %s index: %s", fam, time.Since(start))
			require.NoError(t, err)
			t.Cleanup(func() { _ = out.Close() })
			require.Equal(t, rebuild.StatusBuilt, out.Status)
			assert.Nil(t, out.Image, "an index stays an index")
			require.NotNil(t, out.Index)
			assert.Equal(t, int32(1), store.indexes.Load())
			assert.Zero(t, store.images.Load())
			assert.Equal(t, "5", out.Release)

			// The new index keeps media type, order, platforms and
			// annotations.
			im, err := out.Index.IndexManifest()
			require.NoError(t, err)
			gotMT, err := out.Index.MediaType()
			require.NoError(t, err)
			assert.Equal(t, f.indexMT, gotMT)
			assert.Equal(t, "multi", im.Annotations["org.opencontainers.image.title"])
			assert.Equal(t, "RHSA-2026:1500", im.Annotations[rebuild.LabelAdvisories])
			require.Len(t, im.Manifests, 4)
			require.Len(t, out.Platforms, 4)
			for i, p := range fourPlatforms {
				a := p.Architecture
				d := im.Manifests[i]
				assert.Equal(t, p, *d.Platform)
				assert.Equal(t, a, d.Annotations["io.example.arch"])
				assert.Equal(t, mt, d.MediaType)
				po := out.Platforms[i]
				assert.Equal(t, rebuild.StatusBuilt, po.Status, a)
				assert.Equal(t, d.Digest, po.Digest)
				assert.NotEqual(t, mustDigest(t, f.app[a]), po.Digest.String(), "%s rebased", a)

				// Each child: the new base's layers for its platform,
				// then the app's own layer for it.
				child, err := out.Index.Image(d.Digest)
				require.NoError(t, err)
				want := append(layerDigests(t, f.newBase[a]), layerDigests(t, f.app[a])[2:]...)
				assert.Equal(t, want, layerDigests(t, child), a)
				got, ok := readFile(t, child, "usr/lib/libssl.so")
				require.True(t, ok)
				assert.Equal(t, "fixed "+a, got)
				got, _ = readFile(t, child, "app/bin")
				assert.Equal(t, "app for "+a, got)
				cf, err := child.ConfigFile()
				require.NoError(t, err)
				assert.Equal(t, a, cf.Architecture)
				assert.Equal(t, "5", cf.Config.Labels[rebuild.LabelRelease])
				assert.Equal(t, "rebase", cf.Config.Labels[rebuild.LabelMethod])
				m, err := child.Manifest()
				require.NoError(t, err)
				assert.Equal(t, f.newBaseIndexDigest, m.Annotations[rebuild.AnnotationBaseDigest], "the base index digest, like the app recorded")
			}
			require.NoError(t, rebuild.CheckPullableIndex(out.Index))

			// A real containers/image client copies every platform.
			dir := filepath.Join(t.TempDir(), "layout")
			res, err := skopeo(t, bin, "copy", "--all", "--src-tls-verify=false", "docker://"+out.Pinned, "oci:"+dir+":app")
			require.NoError(t, err, "skopeo copy --all: %s", res)
			raw, err := skopeo(t, bin, "inspect", "--raw", "--tls-verify=false", "docker://"+out.Pinned)
			require.NoError(t, err, raw)
			var got v1.IndexManifest
			require.NoError(t, json.Unmarshal([]byte(raw), &got))
			assert.Len(t, got.Manifests, 4)
			assert.Equal(t, f.indexMT, got.MediaType)
		})
	}
}

// TestRebaseIndexCarriesOver moves the base for two platforms only: those
// two are rebased, the other two keep their images byte for byte.
func TestRebaseIndexCarriesOver(t *testing.T) {
	reg := regtest.InProcess(t)
	f := newMultiFixture(t, reg, "two", types.OCIManifestSchema1)
	f.moveBase(t, []string{"amd64", "arm64"})
	out, err := rebuild.Run(t.Context(), f.target(t), nil, rebuild.WithStore(&countingStore{}), rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	require.Len(t, out.Platforms, 4)
	status := map[string]rebuild.Status{}
	for _, po := range out.Platforms {
		status[po.Platform.Architecture] = po.Status
		if po.Status == rebuild.StatusUnchanged {
			assert.Equal(t, mustDigest(t, f.app[po.Platform.Architecture]), po.Digest.String(), "carried over byte for byte")
			assert.Contains(t, po.Reason, "unchanged")
		} else {
			assert.NotEqual(t, mustDigest(t, f.app[po.Platform.Architecture]), po.Digest.String())
		}
	}
	assert.Equal(t, map[string]rebuild.Status{
		"amd64": rebuild.StatusBuilt, "arm64": rebuild.StatusBuilt,
		"ppc64le": rebuild.StatusUnchanged, "s390x": rebuild.StatusUnchanged,
	}, status)
	assert.Contains(t, (&rebuild.Report{Outcomes: []*rebuild.Outcome{out}}).String(),
		" platforms=linux/amd64=built,linux/arm64=built,linux/ppc64le=unchanged,linux/s390x=unchanged")
	// The carried-over images are in the staged index.
	staged := pullIndex(t, out.Pinned)
	for _, a := range []string{"ppc64le", "s390x"} {
		h, err := v1.NewHash(mustDigest(t, f.app[a]))
		require.NoError(t, err)
		img, err := staged.Image(h)
		require.NoError(t, err)
		_, err = img.Layers()
		require.NoError(t, err)
	}

	// Only some platforms asked for: the others are carried over even
	// though their base moved.
	f2 := newMultiFixture(t, reg, "subset", types.OCIManifestSchema1)
	f2.moveBase(t, []string{"amd64", "arm64", "ppc64le", "s390x"})
	tg := f2.target(t)
	tg.Platforms = []v1.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}}
	out, err = rebuild.Run(t.Context(), tg, nil, rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	var built []string
	for _, po := range out.Platforms {
		if po.Status == rebuild.StatusBuilt {
			built = append(built, po.Platform.Architecture)
		}
	}
	assert.Equal(t, []string{"arm64"}, built, "arm64/v8 matches the index's arm64")

	// No platform's base moved: unchanged, nothing built.
	f3 := newMultiFixture(t, reg, "none", types.OCIManifestSchema1)
	moved, ok := mutate.Annotations(indexOf(t, f3.indexMT, f3.base, fourPlatforms), map[string]string{"io.example.rebuilt": "yes"}).(v1.ImageIndex)
	require.True(t, ok)
	pushIndex(t, f3.baseRef, moved) // a new index of the same images
	store := &countingStore{}
	out, err = rebuild.Run(t.Context(), f3.target(t), nil, rebuild.WithStore(store), rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err)
	assert.Equal(t, rebuild.StatusUnchanged, out.Status, out.Reason)
	assert.Contains(t, out.Reason, "no platform's base moved (linux/amd64, linux/arm64, linux/ppc64le, linux/s390x)")
	assert.Zero(t, store.indexes.Load())
}

// TestRebaseIndexFailsAsOneUnit: a new base index without one platform of
// the image, or one platform refused by the verify hook, fails the whole
// image, names the platform and stages nothing.
func TestRebaseIndexFailsAsOneUnit(t *testing.T) {
	reg := regtest.InProcess(t)
	errWorse := errors.New("grade would drop from A to C")
	tests := []struct {
		name     string
		drop     []string
		verify   func(context.Context, *rebuild.Target, v1.Image) error
		platform string
		is       error
		contains string
	}{
		{name: "base lacks s390x", drop: []string{"s390x"}, platform: "linux/s390x", is: rebuild.ErrPlatformMissing,
			contains: "has only linux/amd64, linux/arm64, linux/ppc64le"},
		{name: "rescan of ppc64le is worse", platform: "linux/ppc64le", is: errWorse, contains: errWorse.Error(),
			verify: func(_ context.Context, _ *rebuild.Target, img v1.Image) error {
				cf, err := img.ConfigFile()
				if err != nil {
					return err
				}
				if cf.Architecture == "ppc64le" {
					return errWorse
				}
				return nil
			}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newMultiFixture(t, reg, fmt.Sprint("fail", i), types.OCIManifestSchema1)
			f.moveBase(t, []string{"amd64", "arm64", "ppc64le", "s390x"}, tc.drop...)
			store := &countingStore{}
			opts := []rebuild.Option{rebuild.WithStore(store), rebuild.WithWorkDir(t.TempDir())}
			if tc.verify != nil {
				opts = append(opts, rebuild.WithVerify(tc.verify))
			}
			tg := f.target(t)
			tg.Fallback = &stubBuilder{name: "buildah", err: errors.New("must not be asked")}
			out, err := rebuild.Run(t.Context(), tg, nil, opts...)
			require.Error(t, err)
			t.Log(err)
			assert.Equal(t, rebuild.StatusFailed, out.Status)
			var pe *rebuild.PlatformError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.platform, rebuild.PlatformString(pe.Platform))
			require.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.platform)
			assert.Contains(t, err.Error(), tc.contains)
			assert.Nil(t, out.Index)
			assert.Empty(t, out.Pinned)
			assert.Zero(t, store.indexes.Load()+store.images.Load(), "nothing staged")
			assert.Nil(t, out.FallbackCause, "a missing platform is no reason to build from source")
		})
	}
}

func TestPlatforms(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm", "linux/arm/v7", true},
		{"linux/arm/v6", "linux/arm/v7", false},
		{"linux/amd64", "linux/arm64", false},
		{"linux/amd64", "windows/amd64", false},
		{"linux/ppc64le", "linux/ppc64le", true},
	} {
		a, err := rebuild.ParsePlatform(tc.a)
		require.NoError(t, err)
		b, err := rebuild.ParsePlatform(tc.b)
		require.NoError(t, err)
		assert.Equal(t, tc.same, rebuild.SamePlatform(a, b), "%s %s", tc.a, tc.b)
		assert.Equal(t, tc.a, rebuild.PlatformString(a))
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "linux/arm/v7/x"} {
		_, err := rebuild.ParsePlatform(bad)
		assert.Error(t, err, bad)
	}
}

// plainStore can stage single images only.
type plainStore struct{ put int }

func (s *plainStore) Put(context.Context, *rebuild.Target, v1.Image) (string, error) {
	s.put++
	return "", nil
}

// TestRunIndexGuards: a builder that ignores Request.Platform, and a
// store that cannot stage an index, fail the target before anything is
// staged.
func TestRunIndexGuards(t *testing.T) {
	amd64 := withPlatform(t, image(t, nil, nil, layer(t, map[string]string{"a": "1"})), fourPlatforms[0])
	hostOnly := &stubBuilder{name: "command", img: amd64}
	tg := &rebuild.Target{Ref: "reg.example/app:1", Platforms: fourPlatforms[:2], Builder: hostOnly}
	store := &countingStore{}
	out, err := rebuild.Run(t.Context(), tg, nil, rebuild.WithStore(store), rebuild.WithWorkDir(t.TempDir()))
	var pe *rebuild.PlatformError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "linux/arm64", rebuild.PlatformString(pe.Platform))
	require.ErrorIs(t, err, rebuild.ErrPlatformMissing)
	assert.Contains(t, err.Error(), "command built an image for linux/amd64")
	assert.Equal(t, rebuild.StatusFailed, out.Status)
	assert.Zero(t, store.indexes.Load())
	require.Len(t, hostOnly.reqs, 2)
	assert.Equal(t, "linux/amd64", rebuild.PlatformString(*hostOnly.reqs[0].Platform))
	assert.Equal(t, "linux/arm64", rebuild.PlatformString(*hostOnly.reqs[1].Platform))

	ps := &plainStore{}
	hostOnly.reqs = nil
	_, err = rebuild.Run(t.Context(), tg, nil, rebuild.WithStore(ps), rebuild.WithWorkDir(t.TempDir()))
	require.ErrorContains(t, err, "cannot stage a multi-platform index")
	assert.Empty(t, hostOnly.reqs, "refused before building")
	assert.Zero(t, ps.put)

	tg.Platforms = []v1.Platform{fourPlatforms[0], {OS: "linux", Architecture: "amd64"}}
	_, err = rebuild.Run(t.Context(), tg, nil, rebuild.WithWorkDir(t.TempDir()))
	require.ErrorContains(t, err, "listed twice")
}

// platformBuilder builds an image of the requested platform, or fails
// with errFor[arch].
type platformBuilder struct {
	name   string
	errFor map[string]error
	calls  atomic.Int32
}

func (b *platformBuilder) Name() string { return b.name }
func (b *platformBuilder) Build(_ context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	b.calls.Add(1)
	if err := b.errFor[req.Platform.Architecture]; err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: req.Platform.OS, Architecture: req.Platform.Architecture,
		Created: v1.Time{Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{Labels: req.Labels}})
	return &rebuild.Result{Image: img}, err
}

// TestRunIndexFallback: when the rebase cannot apply to one platform (its
// base is not a layer prefix), every platform is built from source.
func TestRunIndexFallback(t *testing.T) {
	reg := regtest.InProcess(t)
	f := newMultiFixture(t, reg, "fallback", types.OCIManifestSchema1)
	rebaser := &platformBuilder{name: "rebase", errFor: map[string]error{"ppc64le": &rebuild.PrefixError{Image: "app", Base: "base"}}}
	source := &platformBuilder{name: "buildah"}
	tg := f.target(t)
	tg.Builder, tg.Fallback = rebaser, source
	out, err := rebuild.Run(t.Context(), tg, nil, rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	var pe *rebuild.PrefixError
	require.ErrorAs(t, out.FallbackCause, &pe)
	assert.Contains(t, out.FallbackCause.Error(), "linux/ppc64le")
	assert.Equal(t, "buildah", out.Builder)
	assert.Equal(t, int32(4), source.calls.Load(), "every platform from source")
	require.Len(t, out.Platforms, 4)
	for _, po := range out.Platforms {
		assert.Equal(t, "buildah", po.Builder)
		assert.Equal(t, rebuild.StatusBuilt, po.Status)
	}
}

// BenchmarkRebaseIndex rebases a four-platform application index (two
// layers of base, one of its own per platform) onto a moved base index in
// an in-process registry: per run, the four platforms' images and bases
// are read from the registry, rebased, stamped and assembled.
func BenchmarkRebaseIndex(b *testing.B) {
	reg := regtest.InProcess(b)
	f := newMultiFixture(b, reg, "bench", types.OCIManifestSchema1)
	f.moveBase(b, []string{"amd64", "arm64", "ppc64le", "s390x"})
	tg := f.target(b)
	now := func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		out, err := rebuild.Run(b.Context(), tg, nil, rebuild.WithClock(now), rebuild.WithWorkDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := out.Index.Digest(); err != nil {
			b.Fatal(err)
		}
		_ = out.Close()
	}
}

// TestRebaseIndexPinned rebases onto a parent's new index given as a pin
// (as Execute does for a rebuilt parent), while the base tag has not
// moved.
func TestRebaseIndexPinned(t *testing.T) {
	reg := regtest.InProcess(t)
	f := newMultiFixture(t, reg, "pinned", types.OCIManifestSchema1)
	fixed := map[string]v1.Image{}
	for _, p := range fourPlatforms {
		fixed[p.Architecture] = withPlatform(t, imageIn(t, f.family, nil, nil,
			layer(t, map[string]string{"etc/os-release": "v1 " + p.Architecture}),
			layer(t, map[string]string{"usr/lib/libssl.so": "pinned " + p.Architecture})), p)
	}
	idx := indexOf(t, f.indexMT, fixed, fourPlatforms)
	d, err := idx.Digest()
	require.NoError(t, err)
	repo := rebuild.Repository(f.baseRef)
	pushIndex(t, repo+"@"+d.String(), idx)

	out, err := rebuild.Run(t.Context(), f.target(t), map[string]string{repo: repo + "@" + d.String()}, rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	require.Len(t, out.Platforms, 4)
	for _, po := range out.Platforms {
		assert.Equal(t, rebuild.StatusBuilt, po.Status)
		assert.Equal(t, d.String(), po.BaseDigest)
		assert.Equal(t, f.baseRef, po.BaseName, "the tag the image was built from")
		got, ok := readFile(t, po.Image, "usr/lib/libssl.so")
		require.True(t, ok)
		assert.Equal(t, "pinned "+po.Platform.Architecture, got)
	}
}

// FuzzParsePlatform: what parses renders back to the same string, and
// SamePlatform holds for a platform and itself.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64", "linux", "//", "linux/ppc64le/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := rebuild.ParsePlatform(s)
		if err != nil {
			return
		}
		if got := rebuild.PlatformString(p); got != s {
			t.Fatalf("ParsePlatform(%q) renders as %q", s, got)
		}
		if !rebuild.SamePlatform(p, p) {
			t.Fatalf("%q is not the same as itself", s)
		}
	})
}
