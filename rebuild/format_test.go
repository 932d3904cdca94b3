package rebuild_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

// imageIn stacks layers like image, in the manifest family of mt
// (types.OCIManifestSchema1 or types.DockerManifestSchema2).
func imageIn(t testing.TB, mt types.MediaType, base v1.Image, labels map[string]string, layers ...v1.Layer) v1.Image {
	t.Helper()
	lt, ct := types.DockerLayer, types.DockerConfigJSON
	if mt == types.OCIManifestSchema1 {
		lt, ct = types.OCILayer, types.OCIConfigJSON
	}
	if base == nil {
		base = mutate.MediaType(empty.Image, mt)
		base = mutate.ConfigMediaType(base, ct)
	}
	img := base
	var err error
	for i, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: lt, History: v1.History{
			CreatedBy: "layer " + string(rune('A'+i)), Created: v1.Time{Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)},
		}})
		require.NoError(t, err)
	}
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cf.Config.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

// mediaTypes returns the manifest, config and layer media types of img.
func mediaTypes(t testing.TB, img v1.Image) (manifest, config types.MediaType, layers []types.MediaType) {
	t.Helper()
	m, err := img.Manifest()
	require.NoError(t, err)
	for _, l := range m.Layers {
		layers = append(layers, l.MediaType)
	}
	return m.MediaType, m.Config.MediaType, layers
}

// TestRebaseKeepsFormat rebases OCI and Docker images onto OCI and Docker
// bases: the result is always in the image's own family, passes
// CheckPullable, and reuses the new base's blobs (no recompression).
func TestRebaseKeepsFormat(t *testing.T) {
	fams := map[string]types.MediaType{"oci": types.OCIManifestSchema1, "docker": types.DockerManifestSchema2}
	layerOf := map[types.MediaType]types.MediaType{types.OCIManifestSchema1: types.OCILayer, types.DockerManifestSchema2: types.DockerLayer}
	configOf := map[types.MediaType]types.MediaType{types.OCIManifestSchema1: types.OCIConfigJSON, types.DockerManifestSchema2: types.DockerConfigJSON}
	now := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for appName, appMT := range fams {
		for baseName, baseMT := range fams {
			t.Run(appName+" app on "+baseName+" base", func(t *testing.T) {
				reg := startRegistry(t)
				oldBase := imageIn(t, appMT, nil, map[string]string{"name": "base"}, layer(t, map[string]string{"etc/os-release": "v1"}))
				oldDigest := push(t, reg+"/base:1", oldBase).String()
				app := imageIn(t, appMT, oldBase, map[string]string{"name": "app"}, layer(t, map[string]string{"app": "1"}))
				app = annotateBase(t, app, reg+"/base:1", oldDigest)
				push(t, reg+"/app:1", app)
				newBase := imageIn(t, baseMT, nil, map[string]string{"name": "base"},
					layer(t, map[string]string{"etc/os-release": "v2"}), layer(t, map[string]string{"usr/lib/fixed": "1"}))
				push(t, reg+"/base:1", newBase)

				res, err := (&rebuild.Rebase{Now: func() time.Time { return now }}).Build(t.Context(), &rebuild.Request{Ref: reg + "/app:1"})
				require.NoError(t, err)
				mt, ct, lts := mediaTypes(t, res.Image)
				assert.Equal(t, appMT, mt)
				assert.Equal(t, configOf[appMT], ct)
				assert.Equal(t, []types.MediaType{layerOf[appMT], layerOf[appMT], layerOf[appMT]}, lts)
				assert.Equal(t, append(layerDigests(t, newBase), layerDigests(t, app)[1]), layerDigests(t, res.Image),
					"the new base's blobs, byte for byte")
				cf, err := res.Image.ConfigFile()
				require.NoError(t, err)
				assert.Equal(t, now, cf.Created.Time)
				require.NoError(t, rebuild.CheckPullable(res.Image))

				// What go-containerregistry's own Rebase makes of the same
				// images (the manifest starts from empty.Image) is caught.
				gcr, err := mutate.Rebase(app, oldBase, newBase)
				require.NoError(t, err)
				err = rebuild.CheckPullable(gcr)
				require.ErrorIs(t, err, rebuild.ErrNotPullable)
				assert.Contains(t, err.Error(), "no creation time")
			})
		}
	}
}

func TestRebaseZstdBaseUnderDockerManifest(t *testing.T) {
	reg := startRegistry(t)
	oldBase := imageIn(t, types.DockerManifestSchema2, nil, nil, layer(t, map[string]string{"a": "1"}))
	oldDigest := push(t, reg+"/base:1", oldBase).String()
	app := annotateBase(t, imageIn(t, types.DockerManifestSchema2, oldBase, nil, layer(t, map[string]string{"b": "1"})), reg+"/base:1", oldDigest)
	push(t, reg+"/app:1", app)
	zl := typed{layer(t, map[string]string{"a": "2"}), types.OCILayerZStd}
	newBase, err := mutate.Append(image(t, nil, nil), mutate.Addendum{Layer: zl, MediaType: types.OCILayerZStd})
	require.NoError(t, err)
	push(t, reg+"/base:1", newBase)
	_, err = (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{Ref: reg + "/app:1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no Docker schema 2 equivalent without recompressing")
}

// typed overrides a layer's media type.
type typed struct {
	v1.Layer
	mt types.MediaType
}

func (l typed) MediaType() (types.MediaType, error) { return l.mt, nil }

// rawImage serves a hand-edited manifest and config.
type rawImage struct {
	manifest, config []byte
	mt               types.MediaType
	layers           map[v1.Hash]v1.Layer
}

func (r *rawImage) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *rawImage) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *rawImage) MediaType() (types.MediaType, error) { return r.mt, nil }
func (r *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := r.layers[h]; ok {
		return l, nil
	}
	return nil, errors.New("no such layer")
}

// edit returns img with its manifest and config changed by the functions
// (either may be nil); the config descriptor is updated unless keepDesc.
func edit(t *testing.T, img v1.Image, em func(m map[string]any), ec func(c map[string]any), keepDesc bool) v1.Image {
	t.Helper()
	rawCfg, err := img.RawConfigFile()
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(rawCfg, &c))
	if ec != nil {
		ec(c)
	}
	cfg, err := json.Marshal(c)
	require.NoError(t, err)
	rawM, err := img.RawManifest()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(rawM, &m))
	if !keepDesc {
		d, n, err := v1.SHA256(bytes.NewReader(cfg))
		require.NoError(t, err)
		m["config"].(map[string]any)["digest"] = d.String()
		m["config"].(map[string]any)["size"] = n
	}
	if em != nil {
		em(m)
	}
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	mt, _ := m["mediaType"].(string)
	ls, err := img.Layers()
	require.NoError(t, err)
	r := &rawImage{manifest: raw, config: cfg, mt: types.MediaType(mt), layers: map[v1.Hash]v1.Layer{}}
	for _, l := range ls {
		d, err := l.Digest()
		require.NoError(t, err)
		r.layers[d] = l
	}
	out, err := partial.CompressedToImage(r)
	require.NoError(t, err)
	return out
}

func TestCheckPullable(t *testing.T) {
	oci := imageIn(t, types.OCIManifestSchema1, nil, nil, layer(t, map[string]string{"a": "1"}), layer(t, map[string]string{"b": "2"}))
	docker := imageIn(t, types.DockerManifestSchema2, nil, nil, layer(t, map[string]string{"a": "1"}))
	layersOf := func(m map[string]any) []any { return m["layers"].([]any) }
	for _, tc := range []struct {
		name string
		img  v1.Image
		want []string // substrings of the problems; none: pullable
	}{
		{"oci", oci, nil},
		{"docker", docker, nil},
		{"docker manifest with OCI layers", edit(t, docker, func(m map[string]any) {
			layersOf(m)[0].(map[string]any)["mediaType"] = string(types.OCILayer)
		}, nil, false), []string{`layer 0 media type "application/vnd.oci.image.layer.v1.tar+gzip" is not a Docker schema 2 layer type`}},
		{"OCI manifest with Docker config", edit(t, oci, func(m map[string]any) {
			m["config"].(map[string]any)["mediaType"] = string(types.DockerConfigJSON)
		}, nil, false), []string{"config media type"}},
		{"zero created", edit(t, oci, nil, func(c map[string]any) { c["created"] = "0001-01-01T00:00:00Z" }, false), []string{"no creation time"}},
		{"no created", edit(t, oci, nil, func(c map[string]any) { delete(c, "created") }, false), []string{"no creation time"}},
		{"diff_ids short", edit(t, oci, nil, func(c map[string]any) {
			r := c["rootfs"].(map[string]any)
			r["diff_ids"] = r["diff_ids"].([]any)[:1]
		}, false), []string{"1 diff_ids for 2 layers"}},
		{"history short", edit(t, oci, nil, func(c map[string]any) { c["history"] = c["history"].([]any)[:1] }, false), []string{"1 non-empty entries for 2 layers"}},
		{"no platform", edit(t, oci, nil, func(c map[string]any) { delete(c, "architecture") }, false), []string{"no platform"}},
		{"stale config descriptor", edit(t, oci, nil, func(c map[string]any) { c["author"] = "x" }, true), []string{"does not match its descriptor"}},
		{"ambiguous manifest", edit(t, oci, func(m map[string]any) { m["manifests"] = []any{} }, nil, false), []string{`"manifests" field`}},
		{"schema 1", edit(t, docker, func(m map[string]any) {
			m["schemaVersion"] = 1
			m["mediaType"] = string(types.DockerManifestSchema1)
		}, nil, false), []string{"schemaVersion is 1", "neither"}},
		{"unknown layer type", edit(t, oci, func(m map[string]any) {
			layersOf(m)[1].(map[string]any)["mediaType"] = "application/x-tar"
		}, nil, false), []string{`layer 1 media type "application/x-tar"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rebuild.CheckPullable(tc.img)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var fe *rebuild.FormatError
			require.ErrorAs(t, err, &fe)
			require.ErrorIs(t, err, rebuild.ErrNotPullable)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotEmpty(t, fe.Digest)
		})
	}
}

func TestCheckPullableIndex(t *testing.T) {
	oci := imageIn(t, types.OCIManifestSchema1, nil, nil, layer(t, map[string]string{"a": "1"}))
	docker := imageIn(t, types.DockerManifestSchema2, nil, nil, layer(t, map[string]string{"a": "1"}))
	plat := &v1.Platform{OS: "linux", Architecture: "amd64"}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: oci, Descriptor: v1.Descriptor{Platform: plat}})
	require.NoError(t, rebuild.CheckPullableIndex(idx))

	mixed := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: docker, Descriptor: v1.Descriptor{Platform: plat}})
	err := rebuild.CheckPullableIndex(mixed)
	require.ErrorIs(t, err, rebuild.ErrNotPullable)
	assert.Contains(t, err.Error(), "linux/amd64: manifest media type")

	bad := edit(t, oci, nil, func(c map[string]any) { c["created"] = "0001-01-01T00:00:00Z" }, false)
	err = rebuild.CheckPullableIndex(mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: bad, Descriptor: v1.Descriptor{Platform: plat}}))
	require.ErrorIs(t, err, rebuild.ErrNotPullable)
	assert.Contains(t, err.Error(), "linux/amd64: config has no creation time")
}

// FuzzCheckPullable feeds arbitrary manifests and configs to
// CheckPullable: it returns an error or nil, never panics.
func FuzzCheckPullable(f *testing.F) {
	for _, mt := range []types.MediaType{types.OCIManifestSchema1, types.DockerManifestSchema2} {
		img := imageIn(f, mt, nil, nil, layer(f, map[string]string{"a": "1"}))
		m, err := img.RawManifest()
		require.NoError(f, err)
		c, err := img.RawConfigFile()
		require.NoError(f, err)
		f.Add(m, c, string(mt))
	}
	f.Add([]byte(`{"schemaVersion":2,"layers":[{}],"manifests":null}`), []byte(`{"rootfs":{"diff_ids":["x"]},"history":[{}]}`), "")
	f.Fuzz(func(t *testing.T, manifest, config []byte, mt string) {
		img, err := partial.CompressedToImage(&rawImage{manifest: manifest, config: config, mt: types.MediaType(mt)})
		if err != nil {
			return
		}
		var fe *rebuild.FormatError
		if err := rebuild.CheckPullable(img); errors.As(err, &fe) {
			require.NotEmpty(t, fe.Problems)
		}
	})
}

// TestExecuteVerifyPullable stages nothing when the rebuilt image would
// not be pullable (here: what go-containerregistry's mutate.Rebase makes
// of pulled OCI images), and stages the image Rebase makes.
func TestExecuteVerifyPullable(t *testing.T) {
	reg := startRegistry(t)
	base := imageIn(t, types.OCIManifestSchema1, nil, nil, layer(t, map[string]string{"a": "1"}))
	baseDigest := push(t, reg+"/base:1", base).String()
	app := annotateBase(t, imageIn(t, types.OCIManifestSchema1, base, map[string]string{"release": "1"}, layer(t, map[string]string{"b": "1"})), reg+"/base:1", baseDigest)
	push(t, reg+"/app:1", app)
	push(t, reg+"/base:1", imageIn(t, types.OCIManifestSchema1, nil, nil, layer(t, map[string]string{"a": "2"})))

	var checked int
	verify := func(ctx context.Context, tg *rebuild.Target, img v1.Image) error {
		checked++
		return rebuild.VerifyPullable(ctx, tg, img)
	}
	bad, err := mutate.Rebase(pull(t, reg+"/app:1"), pull(t, reg+"/base@"+baseDigest), pull(t, reg+"/base:1"))
	require.NoError(t, err)
	plan, err := rebuild.NewPlan([]*rebuild.Target{
		{Name: "app", Ref: reg + "/app:1", Builder: &rebuild.Rebase{}},
		{Name: "bad", Ref: reg + "/bad:1", Builder: fixedBuilder{bad}},
	})
	require.NoError(t, err)
	rep, err := rebuild.Execute(t.Context(), plan, rebuild.WithVerify(verify), rebuild.WithStore(&rebuild.RegistryStore{}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rep.Close() })
	assert.Equal(t, 2, checked)
	assert.Equal(t, rebuild.StatusBuilt, rep.Get("app").Status)
	require.Equal(t, rebuild.StatusFailed, rep.Get("bad").Status)
	require.ErrorIs(t, rep.Get("bad").Err, rebuild.ErrNotPullable)
	assert.Empty(t, rep.Get("bad").Pinned, "nothing staged")
	require.NoError(t, rebuild.CheckPullable(pull(t, rep.Get("app").Pinned)))
}

// fixedBuilder returns the same image for every request.
type fixedBuilder struct{ img v1.Image }

func (fixedBuilder) Name() string { return "fixed" }

func (b fixedBuilder) Build(context.Context, *rebuild.Request) (*rebuild.Result, error) {
	return &rebuild.Result{Image: b.img}, nil
}

// BenchmarkCheckPullable checks a 20-layer image (a UBI-based application
// image has 2 to 20).
func BenchmarkCheckPullable(b *testing.B) {
	var ls []v1.Layer
	for i := range 20 {
		ls = append(ls, layer(b, map[string]string{"f": strconv.Itoa(i)}))
	}
	img := imageIn(b, types.OCIManifestSchema1, nil, nil, ls...)
	b.ReportAllocs()
	for b.Loop() {
		if err := rebuild.CheckPullable(img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebaseAcrossFamilies rebases a 20-layer OCI image (10 base
// layers) onto a Docker base, re-typing its layers.
func BenchmarkRebaseAcrossFamilies(b *testing.B) {
	reg := startRegistry(b)
	var baseLayers, appLayers []v1.Layer
	for i := range 10 {
		baseLayers = append(baseLayers, layer(b, map[string]string{"base": strconv.Itoa(i)}))
		appLayers = append(appLayers, layer(b, map[string]string{"app": strconv.Itoa(i)}))
	}
	oldBase := imageIn(b, types.OCIManifestSchema1, nil, nil, baseLayers...)
	oldDigest := push(b, reg+"/base:1", oldBase).String()
	app := annotateBase(b, imageIn(b, types.OCIManifestSchema1, oldBase, nil, appLayers...), reg+"/base:1", oldDigest)
	push(b, reg+"/app:1", app)
	push(b, reg+"/base:1", imageIn(b, types.DockerManifestSchema2, nil, nil, append(baseLayers[:9:9], layer(b, map[string]string{"fixed": "1"}))...))
	r := &rebuild.Rebase{}
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Build(b.Context(), &rebuild.Request{Ref: reg + "/app:1", Image: app})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := res.Image.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}
