package rebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrPlatformMissing is matched (errors.Is) by the *PlatformError of a
// platform that an image needs and something lacks: the new base index
// has no image for it, or a builder made an image for another platform.
var ErrPlatformMissing = errors.New("rebuild: no image for the platform")

// PlatformError is the failure of one platform of a multi-platform image.
// A multi-platform image is rebuilt as one unit: when one platform fails,
// the whole image fails with this error and nothing is staged.
type PlatformError struct {
	// Platform is the platform that failed.
	Platform v1.Platform
	// Err is why.
	Err error
}

// Error names the platform and the cause ("rebuild: platform linux/s390x:
// ...").
func (e *PlatformError) Error() string {
	return "rebuild: platform " + PlatformString(e.Platform) + ": " + strings.TrimPrefix(fmt.Sprint(e.Err), "rebuild: ")
}

// Unwrap returns the cause, so that errors.Is and errors.As see it.
func (e *PlatformError) Unwrap() error { return e.Err }

// PlatformString renders p as "os/arch[/variant]" ("linux/arm64/v8").
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses "os/arch[/variant]" ("linux/amd64",
// "linux/arm/v7").
func ParsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return v1.Platform{}, fmt.Errorf("rebuild: platform %q is not os/arch[/variant]", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// SamePlatform reports whether a and b name the same platform: the same
// os and architecture, and the same variant, where an arm64 image without
// a variant is "v8" and a 32-bit arm image without one is "v7" (the
// defaults container runtimes assume).
func SamePlatform(a, b v1.Platform) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && variant(a) == variant(b)
}

func variant(p v1.Platform) string {
	if p.Variant != "" {
		return p.Variant
	}
	switch p.Architecture {
	case "arm64":
		return "v8"
	case "arm":
		return "v7"
	}
	return ""
}

// Platforms returns the platforms of the images of idx, in index order
// (attestations and other artifacts are left out). An image descriptor
// without a platform gets the one of its config.
func Platforms(idx v1.ImageIndex) ([]v1.Platform, error) {
	descs, err := imageChildren(idx)
	if err != nil {
		return nil, err
	}
	out := make([]v1.Platform, len(descs))
	for i, d := range descs {
		out[i] = *d.Platform
	}
	return out, nil
}

// imageChildren returns the image descriptors of idx, each with its
// platform filled in.
func imageChildren(idx v1.ImageIndex) ([]v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("rebuild: index manifest: %w", err)
	}
	var out []v1.Descriptor
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		if d.Platform == nil {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("rebuild: index child %s: %w", d.Digest, err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("rebuild: index child %s: %w", d.Digest, err)
			}
			d.Platform = cf.Platform()
			if d.Platform == nil {
				return nil, fmt.Errorf("rebuild: index child %s has no platform", d.Digest)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// childFor returns the image of idx for platform p, or a *PlatformError
// matching ErrPlatformMissing naming what the index has.
func childFor(idx v1.ImageIndex, p v1.Platform, what string) (v1.Image, error) {
	descs, err := imageChildren(idx)
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range descs {
		if SamePlatform(*d.Platform, p) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, &PlatformError{Platform: p, Err: fmt.Errorf("%s: %w", what, err)}
			}
			return img, nil
		}
		have = append(have, PlatformString(*d.Platform))
	}
	return nil, &PlatformError{Platform: p, Err: fmt.Errorf("%w: %s has only %s", ErrPlatformMissing, what, strings.Join(have, ", "))}
}

// imagePlatform returns the platform of img's config.
func imagePlatform(img v1.Image) (v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, err
	}
	if p := cf.Platform(); p != nil {
		return *p, nil
	}
	return v1.Platform{}, errors.New("rebuild: image config has no platform")
}

// pullFor pulls ref. When ref names an index and p is set, it returns the
// index's image for p (a *PlatformError when there is none); a single
// image must then be of platform p. opts must carry the context.
func pullFor(ref name.Reference, p *v1.Platform, opts []remote.Option) (v1.Image, *remote.Descriptor, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		img, err := desc.Image()
		return img, desc, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, nil, err
		}
		img, err := childFor(idx, *p, ref.String())
		return img, desc, err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, nil, err
	}
	got, err := imagePlatform(img)
	if err == nil && !SamePlatform(got, *p) {
		err = &PlatformError{Platform: *p, Err: fmt.Errorf("%w: %s is a single %s image", ErrPlatformMissing, ref, PlatformString(got))}
	}
	if err != nil {
		return nil, nil, err
	}
	return img, desc, nil
}

// PlatformOutcome is what happened to one platform of a multi-platform
// target.
type PlatformOutcome struct {
	// Platform is the platform, as the index lists it.
	Platform v1.Platform
	// Status is StatusBuilt (rebuilt) or StatusUnchanged (carried over
	// from Target.Index byte for byte).
	Status Status
	// Reason is why an unchanged platform was carried over.
	Reason string
	// Builder names the builder that made the image ("" when carried
	// over).
	Builder string
	// Image is the platform's image in the new index, Digest its
	// manifest digest (the old digest when carried over).
	Image  v1.Image
	Digest v1.Hash
	// BaseName and BaseDigest are the base the image was built on.
	BaseName, BaseDigest string
}

// IndexStore is a Store that can also stage a multi-platform index (with
// its images) and return its pinned reference. Run needs one for targets
// with Index or Platforms; RegistryStore is one.
type IndexStore interface {
	Store
	PutIndex(ctx context.Context, t *Target, idx v1.ImageIndex) (string, error)
}

// indexDigestAnnotation is the annotation attestation manifests in an
// index use to name the image they describe.
const indexDigestAnnotation = "vnd.docker.reference.digest"

// assembledIndex is an image index whose manifest is given raw and whose
// children are either new images or those of an earlier index.
type assembledIndex struct {
	raw    []byte
	mt     types.MediaType
	images map[v1.Hash]v1.Image
	old    v1.ImageIndex // nil when every child is new
}

func (a *assembledIndex) MediaType() (types.MediaType, error) { return a.mt, nil }
func (a *assembledIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(a.raw))
	return h, err
}
func (a *assembledIndex) Size() (int64, error)         { return int64(len(a.raw)), nil }
func (a *assembledIndex) RawManifest() ([]byte, error) { return a.raw, nil }
func (a *assembledIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(a.raw))
}

func (a *assembledIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := a.images[h]; ok {
		return img, nil
	}
	if a.old != nil {
		return a.old.Image(h)
	}
	return nil, fmt.Errorf("rebuild: index has no image %s", h)
}

func (a *assembledIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if a.old != nil {
		return a.old.ImageIndex(h)
	}
	return nil, fmt.Errorf("rebuild: index has no index %s", h)
}

// assembleIndex makes the index of a rebuilt multi-platform image: old's
// manifest (its media type, order, annotations and descriptors' platforms
// and annotations) with the image of every rebuilt platform swapped in,
// or, when old is nil, a new index of the family of the images. The
// rebuilt images are those of outs with StatusBuilt; descriptors of
// attestations naming a replaced image are dropped, as they describe an
// image no longer in the index. ann is merged into the index annotations.
func assembleIndex(old v1.ImageIndex, outs []*PlatformOutcome, ann map[string]string) (v1.ImageIndex, error) {
	var first v1.Image
	for _, o := range outs {
		if o.Status == StatusBuilt {
			first = o.Image
			break
		}
	}
	if first == nil {
		return nil, errors.New("rebuild: no platform was rebuilt")
	}
	fam, err := manifestFamily(first)
	if err != nil {
		return nil, err
	}
	im := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	if fam == familyDocker {
		im.MediaType = types.DockerManifestList
	}
	if old != nil {
		if im, err = old.IndexManifest(); err != nil {
			return nil, err
		}
		im = im.DeepCopy()
		if mt, err := old.MediaType(); err == nil && mt.IsIndex() {
			im.MediaType = mt
		}
		// An index of the other family than its rebuilt images would be
		// refused by containers/image clients.
		if fam == familyDocker && im.MediaType == types.OCIImageIndex {
			im.MediaType = types.DockerManifestList
		} else if fam == familyOCI && im.MediaType == types.DockerManifestList {
			im.MediaType = types.OCIImageIndex
		}
	}
	a := &assembledIndex{mt: im.MediaType, images: map[v1.Hash]v1.Image{}, old: old}
	replaced := map[string]bool{}
	for _, o := range outs {
		if o.Status != StatusBuilt {
			continue
		}
		mt, err := o.Image.MediaType()
		if err != nil {
			return nil, err
		}
		size, err := o.Image.Size()
		if err != nil {
			return nil, err
		}
		desc := v1.Descriptor{MediaType: mt, Digest: o.Digest, Size: size, Platform: &o.Platform}
		i := slices.IndexFunc(im.Manifests, func(d v1.Descriptor) bool {
			return d.MediaType.IsImage() && d.Platform != nil && SamePlatform(*d.Platform, o.Platform)
		})
		if i < 0 && old != nil {
			// A child without a platform in the descriptor.
			if ds, err := imageChildren(old); err == nil {
				for _, d := range ds {
					if SamePlatform(*d.Platform, o.Platform) {
						i = slices.IndexFunc(im.Manifests, func(x v1.Descriptor) bool { return x.Digest == d.Digest })
						break
					}
				}
			}
		}
		if i < 0 {
			im.Manifests = append(im.Manifests, desc)
		} else {
			replaced[im.Manifests[i].Digest.String()] = true
			desc.Platform = im.Manifests[i].Platform
			if desc.Platform == nil {
				desc.Platform = &o.Platform
			}
			desc.Annotations = im.Manifests[i].Annotations
			desc.ArtifactType = im.Manifests[i].ArtifactType
			im.Manifests[i] = desc
		}
		a.images[o.Digest] = o.Image
	}
	im.Manifests = slices.DeleteFunc(im.Manifests, func(d v1.Descriptor) bool {
		return !d.MediaType.IsImage() && replaced[d.Annotations[indexDigestAnnotation]]
	})
	if len(ann) > 0 {
		if im.Annotations == nil {
			im.Annotations = map[string]string{}
		}
		maps.Copy(im.Annotations, ann)
	}
	if a.raw, err = json.Marshal(im); err != nil {
		return nil, err
	}
	return a, nil
}

// PutIndex pushes idx with its images and returns its digest reference.
func (s *RegistryStore) PutIndex(ctx context.Context, t *Target, idx v1.ImageIndex) (string, error) {
	repoName := Repository(t.Ref)
	if s.Repository != nil {
		repoName = s.Repository(t)
	}
	repo, err := name.NewRepository(repoName)
	if err != nil {
		return "", fmt.Errorf("rebuild: store %s: %w", repoName, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	ref := repo.Digest(d.String())
	opts := append(append([]remote.Option{}, s.Options...), remote.WithContext(ctx))
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return "", fmt.Errorf("rebuild: push %s: %w", ref, err)
	}
	return ref.String(), nil
}

var _ IndexStore = (*RegistryStore)(nil)
