package rebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrNotPullable is matched (errors.Is) by every *FormatError: the image
// breaks a rule that clients built on containers/image (skopeo, podman,
// buildah, CRI-O and so OpenShift) enforce when they pull.
var ErrNotPullable = errors.New("rebuild: image not pullable by containers/image clients")

// FormatError lists every rule an image breaks. See CheckPullable.
type FormatError struct {
	// Digest is the manifest digest of the image ("" when it could not
	// be computed).
	Digest string
	// Problems are the broken rules, one sentence each, in the order the
	// manifest, config and layers were checked.
	Problems []string
}

// Error names the image and its problems.
func (e *FormatError) Error() string {
	return fmt.Sprintf("rebuild: image %s is not pullable: %s", e.Digest, strings.Join(e.Problems, "; "))
}

// Is makes errors.Is(err, ErrNotPullable) true.
func (e *FormatError) Is(target error) bool { return target == ErrNotPullable }

// family is a manifest format: OCI or Docker schema 2. A manifest, its
// config and its layers must all use one family's media types.
type family struct {
	name     string
	manifest types.MediaType
	config   types.MediaType
	// layers maps every layer media type of either family to this
	// family's type of the same kind and compression ("" when this
	// family has none, e.g. zstd in Docker schema 2).
	layers map[types.MediaType]types.MediaType
}

// Media types containers/image knows that go-containerregistry names no
// constant for.
const (
	dockerForeignUncompressed types.MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar"
	ociRestrictedZstd         types.MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
	ociEncrypted              types.MediaType = "application/vnd.oci.image.layer.v1.tar+encrypted"
	ociEncryptedGzip          types.MediaType = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
)

var (
	familyOCI = &family{
		name: "OCI", manifest: types.OCIManifestSchema1, config: types.OCIConfigJSON,
		layers: map[types.MediaType]types.MediaType{
			types.OCILayer: types.OCILayer, types.DockerLayer: types.OCILayer,
			types.OCIUncompressedLayer: types.OCIUncompressedLayer, types.DockerUncompressedLayer: types.OCIUncompressedLayer,
			types.OCIRestrictedLayer: types.OCIRestrictedLayer, types.DockerForeignLayer: types.OCIRestrictedLayer,
			types.OCIUncompressedRestrictedLayer: types.OCIUncompressedRestrictedLayer, dockerForeignUncompressed: types.OCIUncompressedRestrictedLayer,
			types.OCILayerZStd: types.OCILayerZStd, ociRestrictedZstd: ociRestrictedZstd,
			ociEncrypted: ociEncrypted, ociEncryptedGzip: ociEncryptedGzip,
		},
	}
	familyDocker = &family{
		name: "Docker schema 2", manifest: types.DockerManifestSchema2, config: types.DockerConfigJSON,
		layers: map[types.MediaType]types.MediaType{
			types.DockerLayer: types.DockerLayer, types.OCILayer: types.DockerLayer,
			types.DockerUncompressedLayer: types.DockerUncompressedLayer, types.OCIUncompressedLayer: types.DockerUncompressedLayer,
			types.DockerForeignLayer: types.DockerForeignLayer, types.OCIRestrictedLayer: types.DockerForeignLayer,
			dockerForeignUncompressed: dockerForeignUncompressed, types.OCIUncompressedRestrictedLayer: dockerForeignUncompressed,
			types.OCILayerZStd: "", ociRestrictedZstd: "", ociEncrypted: "", ociEncryptedGzip: "",
		},
	}
)

// familyOf returns the family of a manifest media type, or nil.
func familyOf(mt types.MediaType) *family {
	switch mt {
	case types.OCIManifestSchema1:
		return familyOCI
	case types.DockerManifestSchema2:
		return familyDocker
	}
	return nil
}

// owns reports whether mt is one of the family's own layer types.
func (f *family) owns(mt types.MediaType) bool {
	to, ok := f.layers[mt]
	return ok && to == mt
}

// layerType returns the family's layer media type of the same kind and
// compression as mt, or an error when the family has none: re-typing a
// layer never changes its bytes, so a zstd layer cannot become a Docker
// one.
func (f *family) layerType(mt types.MediaType) (types.MediaType, error) {
	to, ok := f.layers[mt]
	switch {
	case !ok:
		return "", fmt.Errorf("rebuild: unknown layer media type %q", mt)
	case to == "":
		return "", fmt.Errorf("rebuild: layer media type %q has no %s equivalent without recompressing", mt, f.name)
	}
	return to, nil
}

// manifestFamily returns the family of img's manifest.
func manifestFamily(img v1.Image) (*family, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	if f := familyOf(mt); f != nil {
		return f, nil
	}
	if m, err := img.Manifest(); err == nil {
		if f := familyOf(m.MediaType); f != nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("rebuild: manifest media type %q is neither OCI nor Docker schema 2", mt)
}

// CheckPullable reports whether a client built on containers/image
// (skopeo, podman, buildah, CRI-O) can pull img, by the structural rules
// those clients enforce. It returns nil, a *FormatError listing every
// broken rule (errors.Is(err, ErrNotPullable)), or the error that kept it
// from reading the image. The rules:
//
//   - the manifest is an OCI image manifest or a Docker schema 2 manifest
//     (schemaVersion 2), and it carries no field of another format
//     ("manifests", "fsLayers", "history");
//   - the config and every layer use media types of the manifest's family:
//     application/vnd.oci.image.config.v1+json and
//     application/vnd.oci.image.layer.v1.tar(+gzip, +zstd) for OCI,
//     application/vnd.docker.container.image.v1+json and
//     application/vnd.docker.image.rootfs.diff.tar(.gzip) (or the foreign
//     variants) for Docker; a Docker manifest with an OCI layer type is
//     what skopeo refuses with "unsupported docker v2s2 media type";
//   - the config blob matches its descriptor's digest and size and is a
//     valid image config: os and architecture set, a creation time that
//     is set (not 0001-01-01), rootfs type "layers" with one valid
//     diff_id per manifest layer, and, when there is a history, one
//     non-empty history entry per layer;
//   - every layer descriptor has a valid sha256 digest and a size.
//
// It reads the manifest and config only; layers are not downloaded. To
// check layer contents against their digests and diff_ids as well, use
// go-containerregistry's validate.Image.
func CheckPullable(img v1.Image) error {
	fe := &FormatError{}
	if d, err := img.Digest(); err == nil {
		fe.Digest = d.String()
	}
	raw, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("rebuild: check %s: manifest: %w", fe.Digest, err)
	}
	add := func(format string, args ...any) { fe.Problems = append(fe.Problems, fmt.Sprintf(format, args...)) }
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		add("manifest is not valid JSON: %v", err)
		return fe
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields)
	for _, k := range []string{"manifests", "fsLayers", "history"} {
		if _, ok := fields[k]; ok {
			add("manifest has a %q field, so it is ambiguous", k)
		}
	}
	if m.SchemaVersion != 2 {
		add("manifest schemaVersion is %d, not 2", m.SchemaVersion)
	}
	mt := m.MediaType
	if mt == "" {
		// OCI allows leaving it out; the registry's Content-Type names it.
		mt, _ = img.MediaType()
	}
	fam := familyOf(mt)
	if fam == nil {
		add("manifest media type %q is neither %s nor %s", mt, types.OCIManifestSchema1, types.DockerManifestSchema2)
		return fe
	}
	if m.Config.MediaType != fam.config {
		add("config media type %q is not %s's %s", m.Config.MediaType, fam.name, fam.config)
	}
	for i, l := range m.Layers {
		if !fam.owns(l.MediaType) {
			add("layer %d media type %q is not a %s layer type", i, l.MediaType, fam.name)
		}
		if l.Digest.Algorithm != "sha256" || len(l.Digest.Hex) != 64 {
			add("layer %d digest %q is not a sha256 digest", i, l.Digest)
		}
		if l.Size <= 0 {
			add("layer %d has no size", i)
		}
	}

	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("rebuild: check %s: config: %w", fe.Digest, err)
	}
	if d, n, err := v1.SHA256(bytes.NewReader(rawCfg)); err != nil || d != m.Config.Digest || n != m.Config.Size {
		add("config blob (%s, %d bytes) does not match its descriptor (%s, %d bytes)", d, n, m.Config.Digest, m.Config.Size)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		add("config is not a valid image config: %v", err)
		return fe
	}
	if cf.OS == "" || cf.Architecture == "" {
		add("config has no platform (os %q, architecture %q)", cf.OS, cf.Architecture)
	}
	if cf.Created.IsZero() {
		add("config has no creation time (created is %s)", cf.Created.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if cf.RootFS.Type != "layers" {
		add("config rootfs type is %q, not \"layers\"", cf.RootFS.Type)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		add("config lists %d diff_ids for %d layers", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	for i, d := range cf.RootFS.DiffIDs {
		if d.Algorithm != "sha256" || len(d.Hex) != 64 {
			add("diff_id %d %q is not a sha256 digest", i, d)
		}
	}
	if len(cf.History) > 0 {
		n := 0
		for _, h := range cf.History {
			if !h.EmptyLayer {
				n++
			}
		}
		if n != len(m.Layers) {
			add("config history has %d non-empty entries for %d layers", n, len(m.Layers))
		}
	}
	if len(fe.Problems) > 0 {
		return fe
	}
	return nil
}

// VerifyPullable is CheckPullable in the form WithVerify takes, so that
// Run and Execute stage only images every container runtime can pull:
//
//	rebuild.Execute(ctx, plan, rebuild.WithVerify(rebuild.VerifyPullable))
func VerifyPullable(_ context.Context, _ *Target, img v1.Image) error { return CheckPullable(img) }

// CheckPullableIndex checks every image of a multi-platform index with
// CheckPullable, and that the index's own media type is of the family of
// its images (an OCI index of OCI manifests, a Docker manifest list of
// Docker manifests). Problems of the images are prefixed with their
// platform.
func CheckPullableIndex(idx v1.ImageIndex) error {
	fe := &FormatError{}
	if d, err := idx.Digest(); err == nil {
		fe.Digest = d.String()
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("rebuild: check %s: index: %w", fe.Digest, err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return fmt.Errorf("rebuild: check %s: index: %w", fe.Digest, err)
	}
	want := map[types.MediaType]types.MediaType{
		types.OCIImageIndex: types.OCIManifestSchema1, types.DockerManifestList: types.DockerManifestSchema2,
	}
	child, ok := want[mt]
	if !ok {
		fe.Problems = append(fe.Problems, fmt.Sprintf("index media type %q is neither an OCI index nor a Docker manifest list", mt))
	}
	for _, d := range im.Manifests {
		where := d.Digest.String()
		if d.Platform != nil {
			where = d.Platform.String()
		}
		if !d.MediaType.IsImage() {
			continue // attestations and other artifacts
		}
		if ok && d.MediaType != child {
			fe.Problems = append(fe.Problems, fmt.Sprintf("%s: manifest media type %q in a %q index", where, d.MediaType, mt))
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("rebuild: check %s: %s: %w", fe.Digest, where, err)
		}
		var ce *FormatError
		switch err := CheckPullable(img); {
		case errors.As(err, &ce):
			for _, p := range ce.Problems {
				fe.Problems = append(fe.Problems, where+": "+p)
			}
		case err != nil:
			return err
		}
	}
	if len(fe.Problems) > 0 {
		return fe
	}
	return nil
}

// typedLayer is a layer whose media type is changed without touching its
// bytes (gzip stays gzip).
type typedLayer struct {
	v1.Layer
	mt types.MediaType
}

func (l typedLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// assembled is an image put together from a config blob and layers with
// their descriptors, so that a manifest can name blobs that came from
// different images.
type assembled struct {
	raw     []byte
	mt      types.MediaType
	config  []byte
	byDigst map[v1.Hash]v1.Layer
}

func (a *assembled) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a *assembled) MediaType() (types.MediaType, error) { return a.mt, nil }
func (a *assembled) RawConfigFile() ([]byte, error)      { return a.config, nil }

func (a *assembled) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := a.byDigst[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("rebuild: assembled image has no blob %s", h)
}

// assemble builds an image of family fam from a raw config and layers.
// descs[i] is the descriptor layers[i] is listed with; its media type is
// re-typed into fam (an error when that would need recompressing), its
// digest and size are taken from the layer.
func assemble(fam *family, config []byte, layers []v1.Layer, descs []v1.Descriptor, annotations map[string]string) (v1.Image, error) {
	d, n, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     fam.manifest,
		Config:        v1.Descriptor{MediaType: fam.config, Digest: d, Size: n},
		Annotations:   maps.Clone(annotations),
	}
	a := &assembled{mt: fam.manifest, config: config, byDigst: map[v1.Hash]v1.Layer{}}
	for i, l := range layers {
		desc := descs[i]
		mt, err := fam.layerType(desc.MediaType)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		if desc.Digest, err = l.Digest(); err != nil {
			return nil, err
		}
		if desc.Size, err = l.Size(); err != nil {
			return nil, err
		}
		desc.MediaType = mt
		desc.Platform, desc.Data = nil, nil
		m.Layers = append(m.Layers, desc)
		a.byDigst[desc.Digest] = typedLayer{Layer: l, mt: mt}
	}
	if a.raw, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(a)
}
