package abs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// matcherFor returns a matcher over every stored advisory and VEX
// document, rebuilt only when they changed.
func (o *Orchestrator) matcherFor(ctx context.Context) (Matcher, error) {
	if ov := overlayOf(ctx); ov != nil {
		advs, err := store.Advisories(ctx, o.db)
		if err != nil {
			return nil, err
		}
		vex, err := store.VEX(ctx, o.db)
		if err != nil {
			return nil, err
		}
		m, err := o.matcher(ov.advisories(advs), ov.vexDocs(vex))
		if err != nil {
			return nil, fmt.Errorf("abs: build matcher: %w", err)
		}
		return m, nil
	}
	stamp, err := store.AdvisoryStamp(ctx, o.db)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.mcache != nil && o.mcacheK == stamp {
		return o.mcache, nil
	}
	advs, err := store.Advisories(ctx, o.db)
	if err != nil {
		return nil, err
	}
	vex, err := store.VEX(ctx, o.db)
	if err != nil {
		return nil, err
	}
	m, err := o.matcher(advs, vex)
	if err != nil {
		return nil, fmt.Errorf("abs: build matcher: %w", err)
	}
	o.mcache, o.mcacheK = m, stamp
	return m, nil
}

// fleetCache is the stored fleet in memory: every managed image's record
// and the packages of every rpmdb layer, with the reverse index from
// package name to layers. It is reloaded when the store's fleet
// generation moves (a new inventory, a managed image's new digest, in
// this process or another sharing the database).
type fleetCache struct {
	gen     int64
	managed map[string]string // image name -> digest
	recs    map[string]store.ImageRecord
	layers  map[string][]rpmscan.Package
	index   map[string][]string // package name -> layer keys
	byLayer map[string][]string // layer key -> image names
}

func (o *Orchestrator) fleetCache(ctx context.Context) (*fleetCache, error) {
	gen, err := store.FleetGeneration(ctx, o.db)
	if err != nil {
		return nil, err
	}
	o.fmu.Lock()
	defer o.fmu.Unlock()
	if o.fcache != nil && o.fcache.gen == gen {
		return o.fcache, nil
	}
	c := &fleetCache{gen: gen, index: map[string][]string{}, byLayer: map[string][]string{}}
	if c.managed, err = store.Managed(ctx, o.db); err != nil {
		return nil, err
	}
	if c.recs, err = store.Images(ctx, o.db, nil); err != nil {
		return nil, err
	}
	if c.layers, err = store.AllLayers(ctx, o.db); err != nil {
		return nil, err
	}
	for layer, pk := range c.layers {
		seen := map[string]bool{}
		for _, p := range pk {
			if !seen[p.Name] {
				seen[p.Name] = true
				c.index[p.Name] = append(c.index[p.Name], layer)
			}
		}
	}
	for _, n := range sortedKeys(c.managed) {
		if rec, ok := c.recs[c.managed[n]]; ok {
			c.byLayer[rec.Layer] = append(c.byLayer[rec.Layer], n)
		}
	}
	o.fcache = c
	return c, nil
}

// Affected returns the managed images (by name) that a stored advisory
// affects, through the reverse index from package names to rpmdb layers
// to images: only the images holding a package the advisory fixes are
// matched, each distinct (layer, product) once, against that advisory
// alone, and nothing is rescanned.
func (o *Orchestrator) Affected(ctx context.Context, advisoryID string) ([]string, error) {
	advs, err := store.AdvisoriesByID(ctx, o.db, []string{advisoryID})
	if ov := overlayOf(ctx); ov != nil && err == nil {
		advs = ov.advisories(advs)
		advs = slices.DeleteFunc(advs, func(a advisory.Advisory) bool { return a.ID != advisoryID })
	}
	if err != nil || len(advs) == 0 {
		return nil, err
	}
	c, err := o.fleetCache(ctx)
	if err != nil {
		return nil, err
	}
	layerSet := map[string]bool{}
	fixed := map[string]bool{}
	for _, f := range advs[0].Fixes {
		fixed[f.Name] = true
		for _, l := range c.index[f.Name] {
			layerSet[l] = true
		}
	}
	if len(layerSet) == 0 && len(advs[0].Images) == 0 {
		return nil, nil
	}
	m, err := o.matcher(advs, nil)
	if err != nil {
		return nil, err
	}
	out := o.affectedByBase(c, m, advisoryID)
	for layer := range layerSet {
		// Only the packages the advisory names can match it.
		var pk []rpmscan.Package
		for _, p := range c.layers[layer] {
			if fixed[p.Name] {
				pk = append(pk, p)
			}
		}
		verdict := map[string]bool{}
		for _, n := range c.byLayer[layer] {
			rec := c.recs[c.managed[n]]
			key := groupKey(layer, &rec.Inventory)
			hit, ok := verdict[key]
			if !ok {
				inv := rec.Inventory
				inv.Packages = pk
				hit = len(m.Match(&inv)) > 0
				verdict[key] = hit
			}
			if hit && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return imageNames(out), nil
}

// imageNames turns managed keys into image names, the platform keys of a
// multi-platform image (store.PlatformKey) into its name, once, sorted.
func imageNames(keys []string) []string {
	out := keys[:0:0]
	for _, k := range keys {
		if n, _, ok := store.SplitPlatformKey(k); ok {
			k = n
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// affectedByBase returns the managed images built on a Red Hat image the
// advisory fixes (advisory.Index.ImageRepositories) and whose base has not
// applied it: the matcher reports a base-image finding for it.
func (o *Orchestrator) affectedByBase(c *fleetCache, m Matcher, id string) []string {
	ix, ok := m.(interface{ ImageRepositories(id string) []string })
	if !ok {
		return nil
	}
	repos := ix.ImageRepositories(id)
	if len(repos) == 0 {
		return nil
	}
	var out []string
	for _, n := range sortedKeys(c.managed) {
		rec, ok := c.recs[c.managed[n]]
		if !ok || rec.Inventory.Base == nil || !slices.Contains(repos, redHatRepository(rec.Inventory.Base.Name)) {
			continue
		}
		inv := rec.Inventory
		inv.Packages = nil // the base alone decides
		if slices.ContainsFunc(m.Match(&inv), func(f advisory.Finding) bool {
			return f.Advisory == id && f.Match == advisory.MatchBaseImage
		}) {
			out = append(out, n)
		}
	}
	return out
}

// redHatRepository is an image reference's repository as
// ImageRepositories names it: without tag or digest, on registry.redhat.io.
func redHatRepository(ref string) string {
	repo := strings.ToLower(rebuild.Repository(strings.TrimSpace(ref)))
	if p, ok := strings.CutPrefix(repo, "registry.access.redhat.com/"); ok {
		return "registry.redhat.io/" + p
	}
	return repo
}

func groupKey(layer string, inv *rpmscan.Inventory) string {
	return layer + "|" + inv.OS.ID + "|" + inv.OS.VersionID + "|" + inv.OS.CPEName + "|" + strings.Join(inv.ContentSets, ",")
}

// fleet is a set of managed images grouped so that images with the same
// packages and product (same rpmdb layer, OS and content sets) are matched
// once.
type fleet struct {
	groups []*group
	digest map[string]string // image name (or platform key) -> digest
	index  map[string]string // multi-platform image name -> index digest
}

type group struct {
	inv    *rpmscan.Inventory
	images []string
}

func (o *Orchestrator) loadFleet(ctx context.Context) (*fleet, error) {
	c, err := o.fleetCache(ctx)
	if err != nil {
		return nil, err
	}
	f := &fleet{digest: map[string]string{}, index: map[string]string{}}
	byKey := map[string]*group{}
	for _, n := range sortedKeys(c.managed) {
		d := c.managed[n]
		rec, ok := c.recs[d]
		if !ok {
			// An index: its platforms' images are graded under their
			// platform keys (store.PlatformKey).
			f.index[n] = d
			continue
		}
		f.digest[n] = d
		key := groupKey(rec.Layer, &rec.Inventory)
		g := byKey[key]
		if g == nil {
			inv := rec.Inventory
			inv.Packages = c.layers[rec.Layer]
			g = &group{inv: &inv}
			byKey[key] = g
			f.groups = append(f.groups, g)
		}
		g.images = append(g.images, n)
	}
	return f, nil
}
