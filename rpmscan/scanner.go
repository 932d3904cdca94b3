package rpmscan

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayerScanner is the default [Scanner]. It streams the image's layers from
// the top down, follows whiteouts as an overlay filesystem would, copies the
// rpmdb (and nothing else) into a private temporary directory that is always
// removed, and reads it with a bounded reader of its own. On more than one
// processor it reads a few layers at once ([WithLayerConcurrency]) and
// merges them top-down, with the result of a one-by-one walk. It is safe
// for concurrent use.
type LayerScanner struct {
	log     *slog.Logger
	limits  limits
	tempDir string
	files   bool
	// concurrency is how many layers are read at once.
	concurrency int
}

var _ Scanner = (*LayerScanner)(nil)

// New returns a LayerScanner configured by opts.
func New(opts ...Option) *LayerScanner {
	s := &LayerScanner{log: discardLogger(), limits: defaultLimits(), concurrency: defaultConcurrency()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Scan returns the inventory of img. An image without an rpmdb (scratch,
// distroless, Debian) gives an inventory with no packages and a nil RPMDB.
// Damaged or hostile images give an error wrapping one of the package's
// sentinel errors, usually inside a [*LayerError] or [*RPMDBError]; Scan
// never writes outside its temporary directory.
//
// Reading a sqlite rpmdb needs a database/sql driver named "sqlite"; without
// one Scan returns [ErrNoSQLiteDriver] (see package sqlitedriver).
func (s *LayerScanner) Scan(ctx context.Context, img v1.Image) (inv *Inventory, err error) {
	defer func() {
		if r := recover(); r != nil {
			inv, err = nil, fmt.Errorf("rpmscan: unexpected panic: %v", r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The image digest and the manifest's check of the config do not
	// depend on the layers' contents, and for a docker archive the digest
	// means hashing every compressed layer file: they are worked out while
	// the walk reads the layers. A failing check stops the walk, and the
	// error reported is the one checking in order (digest, config,
	// manifest, layers, walk) would have reported first.
	wctx, cancelWalk := context.WithCancel(ctx)
	defer cancelWalk()
	heads := make(chan head, 1)
	go func() {
		h := readHead(img)
		if h.digestErr != nil || h.verifyErr != nil {
			cancelWalk()
		}
		heads <- h
	}()
	var h *head
	join := func() *head {
		if h == nil {
			hh := <-heads
			h = &hh
		}
		return h
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, cmp.Or(join().digestErr, fmt.Errorf("rpmscan: image config: %w", err))
	}
	first := func(err error) error {
		h := join()
		return cmp.Or(h.digestErr, h.verifyErr, err)
	}
	inv = &Inventory{
		ContentSets: []string{},
		Packages:    []Package{},
	}
	for k, v := range cf.Config.Labels {
		if labelMatters(k) {
			if inv.Image.Labels == nil {
				inv.Image.Labels = map[string]string{}
			}
			inv.Image.Labels[k] = v
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, first(fmt.Errorf("rpmscan: image layers: %w", err))
	}
	if len(layers) > s.limits.layers {
		return nil, first(fmt.Errorf("%w: %d layers > %d", ErrTooManyLayers, len(layers), s.limits.layers))
	}

	tmp, err := os.MkdirTemp(s.tempDir, "rpmscan-")
	if err != nil {
		return nil, first(tempErr("temp dir", err))
	}
	defer os.RemoveAll(tmp)

	// The rpmdb is read as soon as it is final, while the walk goes on to
	// the lower layers for the metadata files. Its result counts only if
	// the walk succeeds, as if it had been read after the walk.
	w := newWalker(tmp, s.limits)
	rctx, cancelRead := context.WithCancel(wctx)
	var db chan rpmdbRead
	defer func() {
		cancelRead()
		if db != nil {
			<-db // the copy it reads is removed next
		}
	}()
	err = w.walk(wctx, layers, s.concurrency, func(i int) {
		s.log.DebugContext(ctx, "rpmscan: lower layers cannot change the result; stopping",
			slog.Int("layer", i), slog.Int("skipped", i))
	}, func() {
		if dbPath, dbFile, dbLayer, ok := w.rpmdb(); ok {
			db = make(chan rpmdbRead, 1)
			go func() { db <- s.readRPMDB(rctx, tmp, dbPath, dbFile, dbLayer) }()
		}
	})
	if err := first(err); err != nil {
		return nil, err
	}
	inv.Image.Digest = h.digest
	inv.Base = baseFrom(h.annotations, "annotation")
	if inv.Base == nil {
		inv.Base = baseFrom(cf.Config.Labels, "label")
	}

	inv.OS = osFrom(w.osRelease(), w.file(pathRedHatRelease))
	var sets [][]string
	manifests := w.manifests()
	paths := make([]string, 0, len(manifests)+1)
	for p := range manifests {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	if b := w.file(pathContentSets); b != nil {
		manifests[pathContentSets] = b
		paths = append(paths, pathContentSets)
	}
	for _, p := range paths {
		cs, err := ParseContentSets(manifests[p])
		if err != nil {
			return nil, fmt.Errorf("rpmscan: %s: %w", p, err)
		}
		sets = append(sets, cs)
	}
	inv.ContentSets = mergeSets(sets...)
	inv.BuildInfo = buildInfo(manifests, paths)

	if db == nil {
		s.log.DebugContext(ctx, "rpmscan: no rpmdb", slog.String("image", inv.Image.Digest))
		return inv, nil
	}
	r := <-db
	db = nil
	if r.err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, r.err
	}
	dbPath, backend, dbLayer, pkgs, files := r.path, r.backend, r.layer, r.pkgs, r.files
	layerDigest, err := layers[dbLayer].Digest()
	if err != nil {
		return nil, fmt.Errorf("rpmscan: layer %d digest: %w", dbLayer, err)
	}
	inv.Packages, inv.Files = pkgs, files
	inv.RPMDB = &RPMDB{Path: dbPath, Backend: backend, LayerDigest: layerDigest.String()}
	s.log.DebugContext(ctx, "rpmscan: scanned",
		slog.String("image", inv.Image.Digest), slog.String("rpmdb", dbPath),
		slog.String("backend", backend), slog.Int("layer", dbLayer), slog.Int("packages", len(pkgs)))
	return inv, nil
}

// rpmdbRead is the outcome of reading the rpmdb.
type rpmdbRead struct {
	path, backend string
	layer         int
	pkgs          []Package
	files         []InstalledFiles
	err           error
}

// readRPMDB reads the rpmdb copied to file, from path in layer; errors
// are those Scan returns.
func (s *LayerScanner) readRPMDB(ctx context.Context, tmp, path, file string, layer int) (r rpmdbRead) {
	defer func() {
		if p := recover(); p != nil {
			r = rpmdbRead{err: fmt.Errorf("rpmscan: unexpected panic: %v", p)}
		}
	}()
	r = rpmdbRead{path: path, layer: layer}
	backend, err := sniff(file)
	if err != nil {
		r.err = &RPMDBError{Path: path, Err: err}
		return r
	}
	r.backend = backend
	r.pkgs, r.files, err = readRPMDB(ctx, file, backend, s.limits, s.files)
	if err != nil {
		r.pkgs, r.files = nil, nil
		if cerr := ctx.Err(); cerr != nil {
			r.err = cerr
		} else if derr := diskFull(tmp, err); derr != nil {
			r.err = derr
		} else {
			r.err = &RPMDBError{Path: path, Backend: backend, Err: err}
		}
	}
	return r
}

// head is what a scan learns from the image's manifest.
type head struct {
	digest      string
	annotations map[string]string
	digestErr   error // the image digest could not be computed
	verifyErr   error // the config does not match the manifest
}

// readHead computes the image digest, reads the manifest's annotations and
// checks the config against the manifest; it never panics.
func readHead(img v1.Image) (h head) {
	defer func() {
		if r := recover(); r != nil {
			h = head{digestErr: fmt.Errorf("rpmscan: unexpected panic: %v", r)}
		}
	}()
	digest, err := img.Digest()
	if err != nil {
		return head{digestErr: fmt.Errorf("rpmscan: image digest: %w", err)}
	}
	h.digest = digest.String()
	if m, err := img.Manifest(); err == nil && m != nil {
		h.annotations = m.Annotations
	}
	h.verifyErr = verifyConfig(img)
	return h
}

// Annotation (and label) keys naming an image's base, from the OCI image
// spec.
const (
	annotationBaseName   = "org.opencontainers.image.base.name"
	annotationBaseDigest = "org.opencontainers.image.base.digest"
)

func baseFrom(m map[string]string, source string) *BaseImage {
	name, digest := strings.TrimSpace(m[annotationBaseName]), strings.TrimSpace(m[annotationBaseDigest])
	if name == "" && digest == "" {
		return nil
	}
	return &BaseImage{Name: name, Digest: digest, Source: source}
}

// buildInfo lists the content manifests under root/buildinfo/content_manifests,
// the highest layer index first.
func buildInfo(manifests map[string][]byte, paths []string) []BuildInfo {
	var out []BuildInfo
	for _, p := range paths {
		if p == pathContentSets || !strings.HasSuffix(p, ".json") {
			continue
		}
		bi := BuildInfo{NVR: strings.TrimSuffix(path.Base(p), ".json"), LayerIndex: -1}
		var doc struct {
			Metadata struct {
				Index *int `json:"image_layer_index"`
			} `json:"metadata"`
		}
		if json.Unmarshal(manifests[p], &doc) == nil && doc.Metadata.Index != nil {
			bi.LayerIndex = *doc.Metadata.Index
		}
		out = append(out, bi)
	}
	slices.SortStableFunc(out, func(a, b BuildInfo) int { return cmp.Compare(b.LayerIndex, a.LayerIndex) })
	return out
}
