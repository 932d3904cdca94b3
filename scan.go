package abs

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rpmscan"
)

// Annotation and label keys that record an image's base.
const (
	annBaseName   = "org.opencontainers.image.base.name"
	annBaseDigest = "org.opencontainers.image.base.digest"
)

// VersionedScanner is a scanner that names its release. The name and
// version are part of the key stored inventories are kept under, so a new
// scanner release rescans images instead of reusing what an older release
// read. rpmscan.LayerScanner implements it; any other scanner is keyed by
// its Go type alone.
type VersionedScanner interface {
	rpmscan.Scanner
	Name() string
	Version() string
}

var _ VersionedScanner = (*rpmscan.LayerScanner)(nil)

// scannerKey names the configured scanner's release for the store.
func scannerKey(s rpmscan.Scanner) string {
	if v, ok := s.(VersionedScanner); ok {
		return v.Name() + "/" + v.Version()
	}
	return reflect.TypeOf(s).String()
}

// imageState is what one cycle knows about one managed image.
type imageState struct {
	img         *Image
	digest      string
	inv         *rpmscan.Inventory
	layers      []string
	baseName    string // the base reference the image records (or declares)
	baseDigest  string // the base digest it was built on
	baseNow     string // the digest the base reference resolves to now
	rpmdbInBase bool   // the rpmdb lies in the base's layers (rebase can fix packages)
	inputs      string // fingerprint of what else can change a rebuild's outcome (Orchestrator.inputs)
	findings    []advisory.Finding
	unfixed     []advisory.Unfixed
	expl        healthindex.Explanation
	// platforms are the platforms of a multi-platform image (an index),
	// in index order; nil for a single image. digest is then the index's,
	// findings and expl those of every platform together (the grade is
	// the worst platform's), and inv is nil.
	platforms []*platformState
	err       error
	manual    string // the cycle id, when the cycle rebuilds the image on request (RebuildNow)
}

func stateOf(states []*imageState, name string) *imageState {
	for _, s := range states {
		if s.img.Name == name {
			return s
		}
	}
	return nil
}

// ref parses an image reference with the name options, adding
// name.Insecure for the registries WithInsecureRegistries lists.
func (o *Orchestrator) ref(s string) (name.Reference, error) {
	r, err := name.ParseReference(s, o.nameOpts...)
	if err != nil || !o.insecure[r.Context().RegistryStr()] {
		return r, err
	}
	return name.ParseReference(s, append(slices.Clone(o.nameOpts), name.Insecure)...)
}

// digestRef parses "repository@digest" as ref does.
func (o *Orchestrator) digestRef(s string) (name.Digest, error) {
	r, err := name.NewDigest(s, o.nameOpts...)
	if err != nil || !o.insecure[r.Context().RegistryStr()] {
		return r, err
	}
	return name.NewDigest(s, append(slices.Clone(o.nameOpts), name.Insecure)...)
}

func (o *Orchestrator) ropts(ctx context.Context) []remote.Option {
	return append(append([]remote.Option{}, o.remote...), remote.WithContext(ctx))
}

// resolve finds the digest each managed image's tag points to, scans the
// digests not scanned before, and learns where each image's base stands.
func (o *Orchestrator) resolve(ctx context.Context, cycle string) ([]*imageState, error) {
	if err := o.refreshImages(ctx); err != nil { // projects changed by any replica
		return nil, err
	}
	images := o.fleetImages()
	states := make([]*imageState, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.scanWork)
	bases := newLayerCache(o.baseFetch)
	for i := range images {
		s := &imageState{img: &images[i]}
		states[i] = s
		g.Go(func() error {
			s.err = o.scrubErr(o.resolveOne(gctx, cycle, s, bases))
			if s.err == nil {
				s.inputs = o.inputs(s)
			}
			if s.err != nil {
				o.note(cycle, "scan", s.img.Name, "image unreadable", fmt.Sprintf("%s: %v", s.img.Name, s.err), "error", s.err.Error())
			}
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return states, nil
}

func (o *Orchestrator) resolveOne(ctx context.Context, cycle string, s *imageState, bases *layerCache) error {
	ref, err := o.ref(s.img.Ref())
	if err != nil {
		return err
	}
	desc, err := remote.Get(ref, o.ropts(ctx)...)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", s.img.Ref(), err)
	}
	if desc.MediaType.IsIndex() {
		return o.resolveIndex(ctx, cycle, s, desc, bases)
	}
	img, err := desc.Image()
	if err != nil {
		return fmt.Errorf("resolve %s: %w", s.img.Ref(), err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	s.digest = d.String()
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	for _, l := range m.Layers {
		s.layers = append(s.layers, l.Digest.String())
	}
	if s.inv, err = o.inventory(ctx, cycle, s.img, img, s.digest, ""); err != nil {
		return err
	}
	if err := store.SetManaged(ctx, o.db, s.img.Name, s.digest, o.now()); err != nil {
		return err
	}
	// An image that was an index before has no platforms any more.
	if err := store.SetManagedPlatforms(ctx, o.db, s.img.Name, nil, o.now()); err != nil {
		return err
	}
	s.baseName, s.baseDigest = recordedBase(m, img, s.img.Base)
	if s.baseName == "" {
		return nil
	}
	bref, err := o.ref(s.baseName)
	if err != nil {
		return fmt.Errorf("base %s: %w", s.baseName, err)
	}
	if _, pinned := bref.(name.Digest); !pinned {
		bd, err := remote.Head(bref, o.ropts(ctx)...)
		if err != nil {
			return fmt.Errorf("base %s: %w", s.baseName, err)
		}
		s.baseNow = bd.Digest.String()
	}
	if s.baseDigest != "" && s.inv != nil && s.inv.RPMDB != nil {
		layers, err := bases.get(ctx, bref.Context().Name()+"@"+s.baseDigest)
		if err == nil {
			s.rpmdbInBase = slices.Contains(layers, s.inv.RPMDB.LayerDigest)
		}
	}
	return nil
}

// recordedBase returns the base an image records: the manifest
// annotations, else the labels, else the declared base.
func recordedBase(m *v1.Manifest, img v1.Image, declared string) (baseName, baseDigest string) {
	baseName, baseDigest = m.Annotations[annBaseName], m.Annotations[annBaseDigest]
	if baseName == "" {
		if cf, err := img.ConfigFile(); err == nil {
			baseName, baseDigest = cf.Config.Labels[annBaseName], cf.Config.Labels[annBaseDigest]
		}
	}
	if baseName == "" {
		baseName = declared
	}
	return baseName, baseDigest
}

// inventory returns the inventory of the image with the given digest:
// the stored one when this scanner release read it before, else a new
// scan, stored. platform names the platform of an index's image ("" for
// a single image).
func (o *Orchestrator) inventory(ctx context.Context, cycle string, mi *Image, img v1.Image, digest, platform string) (*rpmscan.Inventory, error) {
	has, err := store.HasImage(ctx, o.db, digest, o.scannerKey)
	if err != nil {
		return nil, err
	}
	if has {
		return store.Inventory(ctx, o.db, digest)
	}
	what, on := mi.Name, ""
	var plat []any
	if platform != "" {
		what, on, plat = mi.Name+" "+platform, " ("+platform+")", []any{"platform", platform}
	}
	o.note(cycle, "scan", mi.Name, "scanning", fmt.Sprintf("scanning %s@%s%s", mi.Repository, short(digest), on),
		append([]any{"digest", digest, "scanner", o.scannerKey}, plat...)...)
	inv, err := o.scanner.Scan(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("scan %s%s: %w", mi.Ref(), on, err)
	}
	if inv.Image.Digest == "" {
		inv.Image.Digest = digest
	}
	if err := store.PutInventory(ctx, o.db, inv, o.scannerKey, o.now()); err != nil {
		return nil, err
	}
	o.note(cycle, "scan", mi.Name, "scanned", fmt.Sprintf("%s: %d packages", what, len(inv.Packages)),
		append([]any{"digest", digest, "packages", len(inv.Packages)}, plat...)...)
	return inv, nil
}

// baseLayers reads the layer digests of an image by reference; a key
// "ref#os/arch[/variant]" reads those of the index's image for that
// platform (see baseKey).
func (o *Orchestrator) baseLayers(ctx context.Context, key string) ([]string, error) {
	ref, platform, _ := strings.Cut(key, "#")
	r, err := o.ref(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, o.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	var img v1.Image
	if platform != "" && desc.MediaType.IsIndex() {
		img, err = o.platformImage(desc, platform)
	} else {
		img, err = desc.Image()
	}
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m.Layers))
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out, nil
}

// layerCache remembers the layers of base images within one cycle, since
// many images share a few bases. Each base is fetched once; the lock
// guards only the map, never a network call, so lookups of different
// bases run in parallel and a slow registry holds up only the images
// waiting for its base.
type layerCache struct {
	fetch func(ctx context.Context, ref string) ([]string, error)
	mu    sync.Mutex
	m     map[string]*layerEntry
}

type layerEntry struct {
	done   chan struct{}
	layers []string
	err    error
}

func newLayerCache(fetch func(ctx context.Context, ref string) ([]string, error)) *layerCache {
	return &layerCache{fetch: fetch, m: map[string]*layerEntry{}}
}

func (c *layerCache) get(ctx context.Context, ref string) ([]string, error) {
	c.mu.Lock()
	e, ok := c.m[ref]
	if !ok {
		e = &layerEntry{done: make(chan struct{})}
		c.m[ref] = e
	}
	c.mu.Unlock()
	if !ok {
		e.layers, e.err = c.fetch(ctx, ref)
		close(e.done)
		return e.layers, e.err
	}
	select {
	case <-e.done:
		return e.layers, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
