package abs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
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

// fleetCache is the stored fleet in memory: every managed name and digest,
// the packages of their rpmdb layers, each distinct package held once
// (layers list them by index), the reverse index from package names to
// the packages and their layers, and the images grouped by what matching
// reads (same layer, product and base), each group with one inventory
// without packages. It is reloaded when the store's fleet generation
// moves (a new inventory, a managed image's new digest, in this process
// or another sharing the database).
type fleetCache struct {
	gen     int64
	managed map[string]string // image name (or platform key) -> digest
	pkgs    []rpmscan.Package
	layers  map[string][]uint32
	// pkgName[i] numbers the name of pkgs[i]: nameID[pkgs[i].Name].
	pkgName []int32
	nameID  map[string]int32
	// The reverse index: the packages named by name id n are
	// postPkg[postOff[n]:postOff[n+1]], listed by the layers (numbered as
	// in layerKeys) at the same places in postLayer, in layer order.
	layerKeys []string
	postOff   []int32
	postLayer []int32
	postPkg   []uint32
	groups    []*group
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
	layerN int32              // the layer's number in fleetCache.layerKeys
	inv    *rpmscan.Inventory // without Packages: see fleetCache.inventory
	images []string
}

// inventory is the group's inventory with its layer's packages, built
// anew for each use so that the fleet holds each package once.
func (c *fleetCache) inventory(g *group) *rpmscan.Inventory {
	return c.inventoryOf(g, c.layers[g.layer])
}

// inventoryOf is the group's inventory with the packages ids.
func (c *fleetCache) inventoryOf(g *group, ids []uint32) *rpmscan.Inventory {
	inv := *g.inv
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
	c := &fleetCache{gen: gen, managed: d.Managed, pkgs: d.Packages, layers: d.Layers}
	c.pkgName, c.nameID = make([]int32, len(c.pkgs)), map[string]int32{}
	for i, p := range c.pkgs {
		n, ok := c.nameID[p.Name]
		if !ok {
			n = int32(len(c.nameID))
			c.nameID[p.Name] = n
		}
		c.pkgName[i] = n
	}
	c.layerKeys = sortedKeys(c.layers)
	layerNum := make(map[string]int32, len(c.layerKeys))
	c.postOff = make([]int32, len(c.nameID)+1)
	for k, layer := range c.layerKeys {
		layerNum[layer] = int32(k)
		for _, id := range c.layers[layer] {
			c.postOff[c.pkgName[id]+1]++
		}
	}
	for n := range len(c.nameID) {
		c.postOff[n+1] += c.postOff[n]
	}
	c.postLayer = make([]int32, c.postOff[len(c.nameID)])
	c.postPkg = make([]uint32, len(c.postLayer))
	fill := slices.Clone(c.postOff[:len(c.nameID)])
	for k, layer := range c.layerKeys {
		for _, id := range c.layers[layer] {
			n := c.pkgName[id]
			c.postLayer[fill[n]], c.postPkg[fill[n]] = int32(k), id
			fill[n]++
		}
	}
	c.names = sortedKeys(c.managed)
	c.nameGroup = make([]int32, len(c.names))
	byID := map[groupID]int32{}
	for i, n := range c.names {
		rec, ok := d.Images[c.managed[n]]
		if !ok {
			c.nameGroup[i] = -1
			continue
		}
		id := groupIDOf(rec.Layer, &rec.Inventory)
		gi, ok := byID[id]
		if !ok {
			gi = int32(len(c.groups))
			byID[id] = gi
			inv := rec.Inventory
			inv.Packages = nil
			ln, ok := layerNum[rec.Layer]
			if !ok {
				ln = -1 // no packages stored
			}
			c.groups = append(c.groups, &group{key: id.key(), layer: rec.Layer, layerN: ln, inv: &inv})
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
	var fixed []int32 // the name ids of the packages the advisory fixes
	for _, f := range advs[0].Fixes {
		if n, ok := c.nameID[f.Name]; ok && !slices.Contains(fixed, n) {
			fixed = append(fixed, n)
		}
	}
	if len(fixed) == 0 && len(advs[0].Images) == 0 {
		return nil, nil
	}
	// named[k] are layer k's packages the advisory names; with one name,
	// runs of the posting list itself.
	named := make([][]uint32, len(c.layerKeys))
	for _, n := range fixed {
		for p := c.postOff[n]; p < c.postOff[n+1]; {
			k, q := c.postLayer[p], p+1
			for q < c.postOff[n+1] && c.postLayer[q] == k {
				q++
			}
			if len(fixed) == 1 {
				named[k] = c.postPkg[p:q:q]
			} else {
				named[k] = append(named[k], c.postPkg[p:q]...)
			}
			p = q
		}
	}
	m, err := o.matcher(advs, nil)
	if err != nil {
		return nil, err
	}
	hit := make([]bool, len(c.groups))
	verdict := map[string]bool{}
	var key []byte
	for gi, g := range c.groups {
		if g.layerN < 0 || len(named[g.layerN]) == 0 {
			continue
		}
		// Only the packages the advisory names can match it; groups with
		// the same ones and product share the verdict.
		ids := named[g.layerN]
		key = append(key[:0], g.key[len(g.layer):]...)
		for _, id := range ids {
			key = strconv.AppendUint(append(key, '|'), uint64(id), 10)
		}
		v, ok := verdict[string(key)]
		if !ok {
			v = len(m.Match(c.inventoryOf(g, ids))) > 0
			verdict[string(key)] = v
		}
		hit[gi] = v
	}
	byBase := o.affectedByBase(c, m, advisoryID)
	var out []string
	for i, n := range c.names {
		if gi := c.nameGroup[i]; gi >= 0 && (hit[gi] || byBase != nil && byBase[gi]) {
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

// affectedByBase returns which groups of images are built on a Red Hat image the
// advisory fixes (advisory.Index.ImageRepositories) and whose base has not
// applied it: the matcher reports a base-image finding for it.
func (o *Orchestrator) affectedByBase(c *fleetCache, m Matcher, id string) []bool {
	ix, ok := m.(interface{ ImageRepositories(id string) []string })
	if !ok {
		return nil
	}
	repos := ix.ImageRepositories(id)
	if len(repos) == 0 {
		return nil
	}
	hit := make([]bool, len(c.groups))
	for gi, g := range c.groups {
		if g.inv.Base == nil || !slices.Contains(repos, redHatRepository(g.inv.Base.Name)) {
			continue
		}
		// The base alone decides: the group's inventory has no packages.
		hit[gi] = slices.ContainsFunc(m.Match(g.inv), func(f advisory.Finding) bool {
			return f.Advisory == id && f.Match == advisory.MatchBaseImage
		})
	}
	return hit
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

// groupID identifies the images that matching cannot tell apart: the
// same rpmdb layer (so the same packages), OS, content sets and base.
type groupID struct {
	layer, osID, version, cpe, contentSets, base string
}

func groupIDOf(layer string, inv *rpmscan.Inventory) groupID {
	id := groupID{layer: layer, osID: inv.OS.ID, version: inv.OS.VersionID, cpe: inv.OS.CPEName}
	switch len(inv.ContentSets) {
	case 0:
	case 1:
		id.contentSets = inv.ContentSets[0]
	default:
		id.contentSets = strings.Join(inv.ContentSets, ",")
	}
	id.base = advisory.BaseKey(inv)
	return id
}

// key spells the group's identity as one string beginning with its
// layer.
func (id groupID) key() string {
	k := id.layer + "|" + id.osID + "|" + id.version + "|" + id.cpe + "|" + id.contentSets
	if id.base != "" {
		k += "|" + id.base
	}
	return k
}
