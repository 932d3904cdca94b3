package rebuild

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ShareBaseLayers returns img with its bottom layers replaced by the
// blobs of base wherever they hold the same content: layer i of img is
// swapped for layer i of base as long as their diff_ids (digests of the
// uncompressed content) are equal. Build tools that export an image
// recompress, or leave uncompressed, the layers they pulled, so an image
// built on base does not share base's blobs; after ShareBaseLayers it
// does, byte for byte, so that a later Rebase finds base as a prefix and
// the registry stores base's layers once.
//
// The config is kept byte for byte; the layers taken from base are
// re-typed to img's manifest family without recompressing them (a layer
// that cannot be, such as zstd under a Docker manifest, stops the
// sharing). It returns the number of layers shared; when that is 0, img
// itself.
func ShareBaseLayers(img, base v1.Image) (v1.Image, int, error) {
	fam, err := manifestFamily(img)
	if err != nil {
		return nil, 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, 0, err
	}
	bm, err := base.Manifest()
	if err != nil {
		return nil, 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, 0, err
	}
	baseLayers, err := base.Layers()
	if err != nil {
		return nil, 0, err
	}
	if len(layers) != len(m.Layers) || len(baseLayers) != len(bm.Layers) {
		return nil, 0, fmt.Errorf("rebuild: share base layers: manifest and layers disagree")
	}
	descs := append([]v1.Descriptor{}, m.Layers...)
	shared, changed := 0, false
	for i := 0; i < len(layers) && i < len(baseLayers); i++ {
		a, err := layers[i].DiffID()
		if err != nil {
			return nil, 0, err
		}
		b, err := baseLayers[i].DiffID()
		if err != nil {
			return nil, 0, err
		}
		if a != b {
			break
		}
		if _, err := fam.layerType(bm.Layers[i].MediaType); err != nil {
			break
		}
		shared++
		if m.Layers[i].Digest == bm.Layers[i].Digest {
			continue
		}
		layers[i], descs[i], changed = baseLayers[i], bm.Layers[i], true
	}
	if !changed {
		return img, shared, nil
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, 0, err
	}
	out, err := assemble(fam, cfg, layers, descs, m.Annotations)
	if err != nil {
		return nil, 0, fmt.Errorf("rebuild: share base layers: %w", err)
	}
	return out, shared, nil
}

// pullConfig is how a builder reaches the registries of its bases with
// go-containerregistry.
type pullConfig struct {
	creds    map[string]Credential
	insecure []string
	opts     []remote.Option
}

// shareBase pulls the base an image was built on (baseRef, for img's
// platform) and shares its layers into img. It returns the new image and
// the digest of the base's manifest. baseRef "" or "scratch" leaves img
// alone.
func (p pullConfig) shareBase(ctx context.Context, img v1.Image, baseRef string) (v1.Image, string, error) {
	if baseRef == "" || baseRef == "scratch" {
		return img, "", nil
	}
	var nopts []name.Option
	if r, err := name.ParseReference(baseRef); err == nil && isInsecure(p.insecure, r.Context().RegistryStr()) {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(baseRef, nopts...)
	if err != nil {
		return nil, "", fmt.Errorf("rebuild: base %q: %w", baseRef, err)
	}
	opts := append([]remote.Option{remote.WithAuthFromKeychain(keychain(p.creds))}, p.opts...)
	opts = append(opts, remote.WithContext(ctx))
	var plat *v1.Platform
	if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
		plat = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	}
	// The base's image for img's platform when it is an index; a single
	// base image is taken as it is.
	desc, err := remote.Get(ref, opts...)
	var base v1.Image
	switch {
	case err != nil:
	case desc.MediaType.IsIndex() && plat != nil:
		var idx v1.ImageIndex
		if idx, err = desc.ImageIndex(); err == nil {
			base, err = childFor(idx, *plat, baseRef)
		}
	default:
		base, err = desc.Image()
	}
	if err != nil {
		return nil, "", fmt.Errorf("rebuild: pull base %s to share its layers: %w", baseRef, err)
	}
	d, err := base.Digest()
	if err != nil {
		return nil, "", err
	}
	out, _, err := ShareBaseLayers(img, base)
	return out, d.String(), err
}
