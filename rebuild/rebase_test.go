package rebuild_test

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

// rebaseFixture pushes base:1, an app built on it that records its base in
// annotations, an impostor that claims the same base but is not built on
// it, and then moves base:1 to a new image.
type rebaseFixture struct {
	reg                  string
	oldBase, newBase     v1.Image
	app                  v1.Image
	oldDigest, newDigest string
}

func annotateBase(t testing.TB, img v1.Image, baseName, digest string) v1.Image {
	t.Helper()
	out, ok := mutate.Annotations(img, map[string]string{
		rebuild.AnnotationBaseName:   baseName,
		rebuild.AnnotationBaseDigest: digest,
	}).(v1.Image)
	require.True(t, ok)
	return out
}

func newRebaseFixture(t testing.TB) *rebaseFixture {
	t.Helper()
	f := &rebaseFixture{reg: startRegistry(t)}
	f.oldBase = image(t, nil, map[string]string{"name": "base", "release": "1"},
		layer(t, map[string]string{"etc/os-release": "v1"}), layer(t, map[string]string{"usr/lib/libssl.so": "vulnerable"}))
	f.oldDigest = push(t, f.reg+"/base:1", f.oldBase).String()

	f.app = image(t, f.oldBase, map[string]string{"name": "app", "release": "7"},
		layer(t, map[string]string{"app/bin": "app v1"}), layer(t, map[string]string{"app/conf": "x=1"}))
	f.app = annotateBase(t, f.app, f.reg+"/base:1", f.oldDigest)
	push(t, f.reg+"/app:1", f.app)

	impostor := image(t, nil, map[string]string{"name": "impostor"},
		layer(t, map[string]string{"etc/os-release": "other"}), layer(t, map[string]string{"app/bin": "x"}))
	push(t, f.reg+"/impostor:1", annotateBase(t, impostor, f.reg+"/base:1", f.oldDigest))
	return f
}

// moveBase pushes a new base:1 with a fixed library and returns it.
func (f *rebaseFixture) moveBase(t testing.TB) {
	t.Helper()
	f.newBase = image(t, nil, map[string]string{"name": "base", "release": "2"},
		layer(t, map[string]string{"etc/os-release": "v1"}), layer(t, map[string]string{"usr/lib/libssl.so": "fixed"}),
		layer(t, map[string]string{"etc/extra": "3rd layer"}))
	f.newDigest = push(t, f.reg+"/base:1", f.newBase).String()
}

func layerDigests(t testing.TB, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	require.NoError(t, err)
	var out []v1.Hash
	for _, l := range ls {
		d, err := l.Digest()
		require.NoError(t, err)
		out = append(out, d)
	}
	return out
}

func TestRebase(t *testing.T) {
	f := newRebaseFixture(t)
	r := &rebuild.Rebase{}

	_, err := r.Build(t.Context(), &rebuild.Request{Ref: f.reg + "/app:1"})
	require.ErrorIs(t, err, rebuild.ErrBaseUnchanged, "base tag still points at the recorded digest")

	f.moveBase(t)
	res, err := r.Build(t.Context(), &rebuild.Request{
		Ref:         f.reg + "/app:1",
		Labels:      map[string]string{"release": "8", rebuild.LabelAdvisories: "RHSA-2026:0001"},
		Annotations: map[string]string{rebuild.LabelAdvisories: "RHSA-2026:0001"},
	})
	require.NoError(t, err)
	img := res.Image
	// The image is well-formed: it round-trips through the registry.
	d := push(t, f.reg+"/app:rebased", img)
	assert.Equal(t, d.String(), mustDigest(t, pull(t, f.reg+"/app:rebased")))

	// Layers: the new base's three, then the app's own two.
	want := append(layerDigests(t, f.newBase), layerDigests(t, f.app)[2:]...)
	assert.Equal(t, want, layerDigests(t, img))

	// Config: the app's config with the new labels; history follows layers.
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "app", cf.Config.Labels["name"])
	assert.Equal(t, "8", cf.Config.Labels["release"])
	assert.Equal(t, "RHSA-2026:0001", cf.Config.Labels[rebuild.LabelAdvisories])
	assert.Equal(t, f.newDigest, cf.Config.Labels[rebuild.AnnotationBaseDigest])
	assert.Equal(t, "linux", cf.OS)
	var created []string
	for _, h := range cf.History {
		created = append(created, h.CreatedBy)
	}
	require.Len(t, created, 6)
	assert.Equal(t, []string{"layer A", "layer B", "layer C", "layer A", "layer B"}, created[:5])
	assert.Equal(t, "openabs rebase onto "+f.reg+"/base@"+f.newDigest, created[5])
	assert.True(t, cf.History[5].EmptyLayer)
	assert.Len(t, cf.RootFS.DiffIDs, 5)
	assert.False(t, cf.Created.IsZero(), "a real creation time")
	require.NoError(t, rebuild.CheckPullable(img))

	// Manifest annotations record the new base.
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, f.reg+"/base:1", m.Annotations[rebuild.AnnotationBaseName])
	assert.Equal(t, f.newDigest, m.Annotations[rebuild.AnnotationBaseDigest])
	assert.Equal(t, "RHSA-2026:0001", m.Annotations[rebuild.LabelAdvisories])
	assert.Equal(t, f.newDigest, res.BaseDigest)
}

func TestRebaseRefusesForeignImage(t *testing.T) {
	f := newRebaseFixture(t)
	f.moveBase(t)
	_, err := (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{Ref: f.reg + "/impostor:1"})
	var pe *rebuild.PrefixError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 0, pe.Index)
	assert.Contains(t, err.Error(), "is not based on")
}

func TestRebaseExplicitBaseAndPins(t *testing.T) {
	f := newRebaseFixture(t)
	// An image without base annotations, declared explicitly.
	plain := image(t, f.oldBase, map[string]string{"name": "plain", "release": "3"}, layer(t, map[string]string{"p": "p"}))
	push(t, f.reg+"/plain:1", plain)

	// The parent was rebuilt and stored by digest only: the tag has not
	// moved, the pin says where the new base is.
	newBase := image(t, nil, map[string]string{"name": "base", "release": "2"}, layer(t, map[string]string{"etc/os-release": "v2"}))
	d := push(t, f.reg+"/base@"+mustDigest(t, newBase), newBase)
	pinned := f.reg + "/base@" + d.String()

	res, err := (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{
		Ref:   f.reg + "/plain:1",
		Image: plain,
		Base:  f.reg + "/base:1@" + f.oldDigest,
		Pins:  map[string]string{rebuild.Repository(f.reg + "/base:1"): pinned},
	})
	require.NoError(t, err)
	assert.Equal(t, d.String(), res.BaseDigest)
	assert.Equal(t, append(layerDigests(t, newBase), layerDigests(t, plain)[2]), layerDigests(t, res.Image))

	_, err = (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{Ref: f.reg + "/plain:1", Image: plain})
	require.ErrorIs(t, err, rebuild.ErrNoBase)
}

func mustDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

// TestExecuteRebase runs Rebase through a plan: the moved base rebases the
// app (release bumped, reasons recorded); an image whose base has not moved
// is reported unchanged.
func TestExecuteRebase(t *testing.T) {
	f := newRebaseFixture(t)
	other := image(t, nil, map[string]string{"name": "other-base"}, layer(t, map[string]string{"o": "1"}))
	otherDigest := push(t, f.reg+"/other-base:1", other).String()
	still := annotateBase(t, image(t, other, map[string]string{"release": "1"}, layer(t, map[string]string{"s": "s"})), f.reg+"/other-base:1", otherDigest)
	push(t, f.reg+"/still:1", still)
	f.moveBase(t)

	r := &rebuild.Rebase{}
	plan, err := rebuild.NewPlan([]*rebuild.Target{
		{Name: "app", Ref: f.reg + "/app:1", Builder: r, Reason: rebuild.Reason{Text: "base image updated", Advisories: []string{"RHSA-2026:0007"}}},
		{Name: "still", Ref: f.reg + "/still:1", Builder: r},
	})
	require.NoError(t, err)
	rep, err := rebuild.Execute(t.Context(), plan, rebuild.WithStore(&rebuild.RegistryStore{}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rep.Close() })
	require.NoError(t, rep.Err())

	app := rep.Get("app")
	require.Equal(t, rebuild.StatusBuilt, app.Status)
	assert.Equal(t, "8", app.Release)
	img := pull(t, app.Pinned)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "8", cf.Config.Labels[rebuild.LabelRelease])
	assert.Equal(t, "rebase", cf.Config.Labels[rebuild.LabelMethod])
	assert.Equal(t, "base image updated: RHSA-2026:0007", cf.Config.Labels[rebuild.LabelReason])
	assert.Equal(t, f.newDigest, cf.Config.Labels[rebuild.AnnotationBaseDigest])
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, f.newDigest, m.Annotations[rebuild.AnnotationBaseDigest])

	assert.Equal(t, rebuild.StatusUnchanged, rep.Get("still").Status)
	assert.Contains(t, rep.Get("still").Reason, "unchanged")
}

// TestRebaseMultiPlatformBase rebases an image whose base tag points to an
// image index; the image recorded the platform manifest's digest.
func TestRebaseMultiPlatformBase(t *testing.T) {
	reg := startRegistry(t)
	index := func(img v1.Image) v1.ImageIndex {
		return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
			Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		})
	}
	pushIndex := func(ref string, idx v1.ImageIndex) {
		r, err := name.ParseReference(ref)
		require.NoError(t, err)
		require.NoError(t, remote.WriteIndex(r, idx, remote.WithContext(t.Context())))
	}
	oldBase := image(t, nil, nil, layer(t, map[string]string{"v": "1"}))
	pushIndex(reg+"/base:1", index(oldBase))
	app := annotateBase(t, image(t, oldBase, map[string]string{"release": "1"}, layer(t, map[string]string{"a": "a"})), reg+"/base:1", mustDigest(t, oldBase))
	push(t, reg+"/app:1", app)

	_, err := (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{Ref: reg + "/app:1"})
	require.ErrorIs(t, err, rebuild.ErrBaseUnchanged, "the index still holds the recorded platform image")

	newBase := image(t, nil, nil, layer(t, map[string]string{"v": "2"}))
	pushIndex(reg+"/base:1", index(newBase))
	res, err := (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{Ref: reg + "/app:1"})
	require.NoError(t, err)
	assert.Equal(t, mustDigest(t, newBase), res.BaseDigest, "platform manifest recorded like the original")
	assert.Equal(t, append(layerDigests(t, newBase), layerDigests(t, app)[1]), layerDigests(t, res.Image))
}

func TestCheckPrefix(t *testing.T) {
	a := layer(t, map[string]string{"a": "a"})
	b := layer(t, map[string]string{"b": "b"})
	c := layer(t, map[string]string{"c": "c"})
	tests := []struct {
		name      string
		img, base v1.Image
		wantIndex int // -1: no error
	}{
		{"prefix", image(t, nil, nil, a, b, c), image(t, nil, nil, a, b), -1},
		{"equal", image(t, nil, nil, a, b), image(t, nil, nil, a, b), -1},
		{"empty base", image(t, nil, nil, a), image(t, nil, nil), -1},
		{"second differs", image(t, nil, nil, a, c, b), image(t, nil, nil, a, b), 1},
		{"base longer", image(t, nil, nil, a), image(t, nil, nil, a, b), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := rebuild.CheckPrefix(tc.img, tc.base, "img", "base")
			if tc.wantIndex < 0 {
				require.NoError(t, err)
				return
			}
			var pe *rebuild.PrefixError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.wantIndex, pe.Index)
		})
	}
}
