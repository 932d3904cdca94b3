package rebuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Rebase rebuilds an image by swapping its base layers for those of the
// base's current version, with go-containerregistry's mutate.Rebase: no
// source, no container runtime, seconds. Use it when only the base has
// moved and the image's own layers need nothing.
//
// The old base is taken from the image's manifest annotations
// (org.opencontainers.image.base.name and .base.digest), falling back to
// Request.Base. The new base is the parent's pinned digest from
// Request.Pins when there is one, else whatever the old base's tag points
// to now. Before rebasing, Rebase checks that the old base's layers are
// exactly the first layers of the image and refuses with a *PrefixError
// otherwise. When the base has not moved it returns ErrBaseUnchanged.
//
// The rebased image keeps the manifest family of the image (OCI or Docker
// schema 2) for its manifest, config and every layer: layers of the new
// base that come in the other family are re-typed to the image's family
// without recompressing them (an error when that is impossible, e.g. a
// zstd layer under a Docker manifest). Its config is the image's config
// with the new base's platform, the new base's history followed by the
// image's own, one history entry recording the rebase, and the time of
// the rebase as its creation time. The result passes CheckPullable.
//
// With Request.Platform set (Run sets it for every platform of a
// multi-platform target), the image, the old base and the new base are
// each that platform's image of their index, matched by os, architecture
// and variant (SamePlatform). A new base index without an image for the
// platform is a *PlatformError matching ErrPlatformMissing; a base index
// that moved while its image for the platform did not is
// ErrBaseUnchanged, so that Run carries the platform over.
type Rebase struct {
	// Options are used for every registry access (auth, transport,
	// platform). remote.WithContext is added per call.
	Options []remote.Option
	// Now is the clock the rebased image's creation time comes from
	// (default time.Now).
	Now func() time.Time
}

var _ Builder = (*Rebase)(nil)

// ErrBaseUnchanged is returned by Rebase when the base tag still points at
// the digest the image was built on.
var ErrBaseUnchanged = errors.New("rebuild: base image unchanged")

// ErrNoBase is returned by Rebase when neither the image's annotations nor
// the request say what the image was built on.
var ErrNoBase = errors.New("rebuild: image records no base image")

// PrefixError reports that an image is not built on the base it names: the
// base's layers are not a prefix of the image's layers.
type PrefixError struct {
	Image, Base string
	// Index is the first layer that differs (or the image's layer count
	// when the base has more layers).
	Index     int
	Want, Got v1.Hash // base layer, image layer at Index (Got zero when missing)
}

// Error names the image, the base and the first differing layer.
func (e *PrefixError) Error() string {
	if e.Got == (v1.Hash{}) {
		return fmt.Sprintf("rebuild: %s is not based on %s: base has more layers than the image (%d)", e.Image, e.Base, e.Index)
	}
	return fmt.Sprintf("rebuild: %s is not based on %s: layer %d is %s, base has %s", e.Image, e.Base, e.Index, e.Got, e.Want)
}

// Name returns "rebase".
func (r *Rebase) Name() string { return "rebase" }

func (r *Rebase) opts(ctx context.Context) []remote.Option {
	return append(append([]remote.Option{}, r.Options...), remote.WithContext(ctx))
}

// Build rebases req.Image (pulled from req.Ref when nil) onto the new base
// and applies req.Labels and req.Annotations.
func (r *Rebase) Build(ctx context.Context, req *Request) (*Result, error) {
	img := req.Image
	if img == nil {
		ref, err := name.ParseReference(req.Ref)
		if err != nil {
			return nil, fmt.Errorf("rebuild: rebase: %w", err)
		}
		if img, _, err = pullFor(ref, req.Platform, r.opts(ctx)); err != nil {
			return nil, fmt.Errorf("rebuild: rebase: pull %s: %w", req.Ref, err)
		}
	}
	oldName, oldDigest, err := recordedBase(img, req.Base)
	if err != nil {
		return nil, err
	}
	oldRef, err := name.ParseReference(oldName)
	if err != nil {
		return nil, fmt.Errorf("rebuild: rebase: base %q: %w", oldName, err)
	}
	repo := oldRef.Context()

	// Where the base is now.
	newRefStr, pinned := req.Pins[repo.Name()]
	if !pinned {
		newRefStr = oldName
		if _, isDigest := oldRef.(name.Digest); isDigest {
			return nil, fmt.Errorf("%w: base %s is pinned by digest and no new base was given", ErrBaseUnchanged, oldName)
		}
	}
	newRef, err := name.ParseReference(newRefStr)
	if err != nil {
		return nil, fmt.Errorf("rebuild: rebase: new base %q: %w", newRefStr, err)
	}
	if oldDigest == "" {
		return nil, fmt.Errorf("%w: %s has no recorded digest", ErrNoBase, oldName)
	}
	// For a multi-platform base, the new base is its image for
	// req.Platform (without one: the platform of r.Options, default
	// linux/amd64); the image may have recorded either the index digest
	// or that platform's manifest digest.
	newBase, desc, err := pullFor(newRef, req.Platform, r.opts(ctx))
	if err != nil {
		var pe *PlatformError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("rebuild: rebase: new base %s: %w", newRefStr, err)
	}
	if desc.Digest.String() == oldDigest {
		return nil, fmt.Errorf("%w: %s is still %s", ErrBaseUnchanged, newRefStr, oldDigest)
	}
	newDigest := desc.Digest
	if desc.MediaType.IsIndex() {
		d, err := newBase.Digest()
		if err != nil {
			return nil, fmt.Errorf("rebuild: rebase: new base %s: %w", newRefStr, err)
		}
		if d.String() == oldDigest {
			return nil, fmt.Errorf("%w: %s is still %s", ErrBaseUnchanged, newRefStr, oldDigest)
		}
		if !isIndexDigest(ctx, r, repo, oldDigest) {
			newDigest = d // record like for like: a platform manifest
		}
	}
	oldBase, _, err := pullFor(repo.Digest(oldDigest), req.Platform, r.opts(ctx))
	if err != nil {
		return nil, fmt.Errorf("rebuild: rebase: old base %s@%s: %w", repo.Name(), oldDigest, err)
	}
	if od, err := oldBase.Digest(); err == nil {
		if nd, err := newBase.Digest(); err == nil && od == nd {
			// The base index moved, but not for this platform.
			return nil, fmt.Errorf("%w: %s for %s is still %s", ErrBaseUnchanged, newRefStr, platformOf(req), od)
		}
	}
	if err := CheckPrefix(img, oldBase, req.Ref, repo.Name()+"@"+oldDigest); err != nil {
		return nil, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	out, err := rebase(img, oldBase, newBase, repo.Name()+"@"+newDigest.String(), now())
	if err != nil {
		return nil, fmt.Errorf("rebuild: rebase: %w", err)
	}
	newName := oldName
	if pinned {
		newName = repo.Name()
		if t, ok := oldRef.(name.Tag); ok {
			newName = t.Name()
		}
	}
	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	ann := maps.Clone(req.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	for _, m := range []map[string]string{labels, ann} {
		m[AnnotationBaseName] = newName
		m[AnnotationBaseDigest] = newDigest.String()
	}
	cf, err := out.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := *cf.Config.DeepCopy()
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, labels)
	if out, err = mutate.Config(out, cfg); err != nil {
		return nil, err
	}
	out = mutate.Annotations(out, ann).(v1.Image)
	return &Result{Image: out, BaseName: newName, BaseDigest: newDigest.String()}, nil
}

func platformOf(req *Request) string {
	if req.Platform == nil {
		return "the default platform"
	}
	return PlatformString(*req.Platform)
}

// isIndexDigest reports whether digest names an image index in repo.
func isIndexDigest(ctx context.Context, r *Rebase, repo name.Repository, digest string) bool {
	d, err := remote.Head(repo.Digest(digest), r.opts(ctx)...)
	return err == nil && d.MediaType.IsIndex()
}

// recordedBase returns the base name and digest the image records in its
// manifest annotations (or, failing that, its labels), else those of
// explicit ("name@digest" or "name:tag").
func recordedBase(img v1.Image, explicit string) (baseName, digest string, err error) {
	if m, err := img.Manifest(); err == nil && m.Annotations[AnnotationBaseName] != "" {
		return m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest], nil
	}
	if cf, err := img.ConfigFile(); err == nil && cf.Config.Labels[AnnotationBaseName] != "" {
		return cf.Config.Labels[AnnotationBaseName], cf.Config.Labels[AnnotationBaseDigest], nil
	}
	if explicit == "" {
		return "", "", ErrNoBase
	}
	if n, d, ok := strings.Cut(explicit, "@"); ok {
		return n, d, nil
	}
	return explicit, "", nil
}

// CheckPrefix verifies that the layers of base are exactly the first layers
// of img, and returns a *PrefixError naming the first mismatch otherwise.
// imgName and baseName only label the error.
func CheckPrefix(img, base v1.Image, imgName, baseName string) error {
	il, err := img.Layers()
	if err != nil {
		return fmt.Errorf("rebuild: layers of %s: %w", imgName, err)
	}
	bl, err := base.Layers()
	if err != nil {
		return fmt.Errorf("rebuild: layers of %s: %w", baseName, err)
	}
	for i, l := range bl {
		want, err := l.Digest()
		if err != nil {
			return err
		}
		if i >= len(il) {
			return &PrefixError{Image: imgName, Base: baseName, Index: len(il), Want: want}
		}
		got, err := il[i].Digest()
		if err != nil {
			return err
		}
		if got != want {
			return &PrefixError{Image: imgName, Base: baseName, Index: i, Want: want, Got: got}
		}
	}
	return nil
}

// rebase swaps the layers of oldBase at the bottom of orig for those of
// newBase, keeping orig's manifest family for every media type. newRef
// names the new base in the history entry; now is the creation time.
func rebase(orig, oldBase, newBase v1.Image, newRef string, now time.Time) (v1.Image, error) {
	fam, err := manifestFamily(orig)
	if err != nil {
		return nil, err
	}
	om, err := orig.Manifest()
	if err != nil {
		return nil, err
	}
	nm, err := newBase.Manifest()
	if err != nil {
		return nil, err
	}
	origLayers, err := orig.Layers()
	if err != nil {
		return nil, err
	}
	oldLayers, err := oldBase.Layers()
	if err != nil {
		return nil, err
	}
	newLayers, err := newBase.Layers()
	if err != nil {
		return nil, err
	}
	if len(om.Layers) != len(origLayers) || len(nm.Layers) != len(newLayers) || len(oldLayers) > len(origLayers) {
		return nil, errors.New("rebuild: rebase: manifest and layers disagree")
	}
	ocf, err := orig.ConfigFile()
	if err != nil {
		return nil, err
	}
	oldCf, err := oldBase.ConfigFile()
	if err != nil {
		return nil, err
	}
	ncf, err := newBase.ConfigFile()
	if err != nil {
		return nil, err
	}

	layers := append(append([]v1.Layer{}, newLayers...), origLayers[len(oldLayers):]...)
	descs := append(append([]v1.Descriptor{}, nm.Layers...), om.Layers[len(oldLayers):]...)
	cf := ocf.DeepCopy()
	cf.Architecture, cf.OS, cf.OSVersion, cf.Variant, cf.OSFeatures = ncf.Architecture, ncf.OS, ncf.OSVersion, ncf.Variant, ncf.OSFeatures
	cf.Created = v1.Time{Time: now.UTC().Truncate(time.Second)}
	cf.RootFS.Type = "layers"
	cf.RootFS.DiffIDs = nil
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, d)
	}
	cf.History = append(historyOf(ncf.History, len(newLayers), ncf.Created),
		historyAbove(ocf.History, len(oldCf.History), len(oldLayers), len(origLayers)-len(oldLayers), ocf.Created)...)
	cf.History = append(cf.History, v1.History{
		Created:    cf.Created,
		CreatedBy:  "openabs rebase onto " + newRef,
		Comment:    "base layers replaced",
		EmptyLayer: true,
	})
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	out, err := assemble(fam, raw, layers, descs, om.Annotations)
	if err != nil {
		return nil, fmt.Errorf("rebuild: rebase onto %s: %w", newRef, err)
	}
	return out, nil
}

// historyOf returns h when it has one non-empty entry per layer, and
// otherwise one entry per layer stamped with created.
func historyOf(h []v1.History, layers int, created v1.Time) []v1.History {
	if nonEmpty(h) == layers {
		return slices.Clone(h)
	}
	out := make([]v1.History, layers)
	for i := range out {
		out[i] = v1.History{Created: created, CreatedBy: "layer " + strconv.Itoa(i)}
	}
	return out
}

// historyAbove returns the entries of an image's history h that belong to
// its own layers above a base whose history has baseEntries entries for
// baseLayers layers; own is the number of those layers.
func historyAbove(h []v1.History, baseEntries, baseLayers, own int, created v1.Time) []v1.History {
	if nonEmpty(h) != baseLayers+own {
		return historyOf(nil, own, created)
	}
	if baseEntries <= len(h) && nonEmpty(h[:baseEntries]) == baseLayers {
		return slices.Clone(h[baseEntries:])
	}
	// The base's history is not a prefix: skip entries up to the last
	// base layer.
	n := 0
	for i, e := range h {
		if n == baseLayers {
			return slices.Clone(h[i:])
		}
		if !e.EmptyLayer {
			n++
		}
	}
	return nil
}

func nonEmpty(h []v1.History) int {
	n := 0
	for _, e := range h {
		if !e.EmptyLayer {
			n++
		}
	}
	return n
}
