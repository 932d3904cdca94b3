package abs

import (
	"context"
	"encoding/json"
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
// and the packages of their rpmdb layers, each distinct package held once
// (layers list them by index), with the reverse index from package name
// to layers and the images grouped by what matching reads (same layer,
// product and base). It is reloaded when the store's fleet generation
// moves (a new inventory, a managed image's new digest, in this process
// or another sharing the database).
type fleetCache struct {
	gen     int64
	managed map[string]string // image name (or platform key) -> digest
	recs    map[string]store.ImageRecord
	pkgs    []rpmscan.Package
	layers  map[string][]uint32
	index   map[string][]string // package name -> layer keys
	groups  []*group
	// names are the managed keys, sorted; nameGroup[i] is the group of
	// names[i], -1 for an index's own entry (its platforms are grouped).
	names     []string
	nameGroup []int32
}

// group is managed images (names or platform keys, sorted) that matching
// cannot tell apart: the same rpmdb layer, OS, content sets and base.
type group struct {
	key    string
	layer  string
	inv    *rpmscan.Inventory // without Packages: see fleetCache.inventory
	images []string
}

// inventory is the group's inventory with its layer's packages, built
// anew for each use so that the fleet holds each package once.
func (c *fleetCache) inventory(g *group) *rpmscan.Inventory {
	inv := *g.inv
	ids := c.layers[g.layer]
	inv.Packages = make([]rpmscan.Package, len(ids))
	for i, id := range ids {
		inv.Packages[i] = c.pkgs[id]
	}
	return &inv
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
	d, err := store.LoadFleet(ctx, o.db)
	if err != nil {
		return nil, err
	}
	c := &fleetCache{gen: gen, managed: d.Managed, recs: d.Images, pkgs: d.Packages, layers: d.Layers, index: map[string][]string{}}
	for layer, ids := range c.layers {
		var last string
		for _, id := range ids {
			n := c.pkgs[id].Name
			if n != last && !slices.Contains(c.index[n], layer) {
				c.index[n] = append(c.index[n], layer)
			}
			last = n
		}
	}
	c.names = sortedKeys(c.managed)
	c.nameGroup = make([]int32, len(c.names))
	byKey := map[string]int32{}
	for i, n := range c.names {
		rec, ok := c.recs[c.managed[n]]
		if !ok {
			c.nameGroup[i] = -1
			continue
		}
		key := groupKey(rec.Layer, &rec.Inventory)
		gi, ok := byKey[key]
		if !ok {
			gi = int32(len(c.groups))
			byKey[key] = gi
			inv := rec.Inventory
			inv.Packages = nil
			c.groups = append(c.groups, &group{key: key, layer: rec.Layer, inv: &inv})
		}
		c.groups[gi].images = append(c.groups[gi].images, n)
		c.nameGroup[i] = gi
	}
	o.fcache = c
	return c, nil
}

// Affected returns the managed images (by name) that a stored advisory
// affects, through the reverse index from package names to rpmdb layers
// to images: only the groups of images holding a package the advisory
// fixes are matched, against that advisory alone and only those
// packages, each distinct (packages, product) once, and nothing is
// rescanned.
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
	hit := make([]bool, len(c.groups))
	verdict := map[string]bool{}
	var key strings.Builder
	for gi, g := range c.groups {
		if !layerSet[g.layer] {
			continue
		}
		// Only the packages the advisory names can match it; groups with
		// the same ones and product share the verdict.
		key.Reset()
		key.WriteString(g.key[len(g.layer):])
		var ids []uint32
		for _, id := range c.layers[g.layer] {
			if fixed[c.pkgs[id].Name] {
				ids = append(ids, id)
				fmt.Fprintf(&key, "|%d", id)
			}
		}
		v, ok := verdict[key.String()]
		if !ok {
			inv := *g.inv
			inv.Packages = make([]rpmscan.Package, len(ids))
			for i, id := range ids {
				inv.Packages[i] = c.pkgs[id]
			}
			v = len(m.Match(&inv)) > 0
			verdict[key.String()] = v
		}
		hit[gi] = v
	}
	out := o.affectedByBase(c, m, advisoryID)
	for i, n := range c.names {
		if gi := c.nameGroup[i]; gi >= 0 && hit[gi] {
			out = append(out, n)
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
	for _, n := range c.names {
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

// groupKey identifies the images that matching cannot tell apart: the
// same rpmdb layer (so the same packages), OS, content sets and base.
func groupKey(layer string, inv *rpmscan.Inventory) string {
	k := layer + "|" + inv.OS.ID + "|" + inv.OS.VersionID + "|" + inv.OS.CPEName + "|" + strings.Join(inv.ContentSets, ",")
	if inv.Base != nil {
		doc, _ := json.Marshal(struct {
			Base      *rpmscan.BaseImage
			BuildInfo []rpmscan.BuildInfo
			Arch      string
		}{inv.Base, inv.BuildInfo, inv.Image.Labels["architecture"]})
		k += "|" + string(doc)
	}
	return k
}
