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
// without packages. It is brought up to date (see update) when the
// store's fleet generation moves (a new inventory, a managed image's new
// digest, in this process or another sharing the database), and loaded
// whole when much changed.
type fleetCache struct {
	gen    int64
	pkgs   []rpmscan.Package
	layers map[string][]uint32
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
	// names are the managed keys (image names and platform keys), sorted;
	// digests[i] is the digest of names[i], revs[i] the revision of its
	// record (noRecord for none) and nameGroup[i] its group, -1 for an
	// index's own entry (its platforms are grouped).
	names     []string
	digests   []string
	revs      []int64
	nameGroup []int32

	// storeIDs are the stored package ids (store.FleetData.StoreIDs,
	// grown by updates); used is how many of pkgs the layers use.
	storeIDs []uint32
	used     int
	// whole says the cache was loaded whole, not updated.
	whole bool
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
	if o.fcache != nil {
		c, err := o.fcache.update(ctx, o.db, gen)
		if err != nil {
			return nil, err
		}
		if c != nil {
			o.fcache = c
			return c, nil
		}
	}
	d, err := store.LoadFleet(ctx, o.db)
	if err != nil {
		return nil, err
	}
	c := &fleetCache{gen: gen, whole: true, pkgs: d.Packages, layers: d.Layers, storeIDs: d.StoreIDs}
	c.names = sortedKeys(d.Managed)
	c.digests, c.revs = make([]string, len(c.names)), make([]int64, len(c.names))
	for i, n := range c.names {
		c.digests[i] = d.Managed[n]
	}
	c.index(func(i int) (string, *rpmscan.Inventory, string, bool) {
		rec, ok := d.Images[c.digests[i]]
		if !ok {
			c.revs[i] = noRecord
			return "", nil, "", false
		}
		c.revs[i] = rec.Rev
		return rec.Layer, &rec.Inventory, "", true
	}, nil)
	o.fcache = c
	return c, nil
}

// noRecord is the revision kept for a managed digest without a stored
// record (a multi-platform index: its platforms are the records).
const noRecord = -1

// update returns the cache at generation gen, reading only the records
// whose revision moved, the layers no image of the cache had and the
// packages it did not hold; nil (and no error) when so much changed that
// a full load is cheaper. The managed names, digests and record
// revisions are read whole: they are narrow rows.
func (c *fleetCache) update(ctx context.Context, q store.Querier, gen int64) (*fleetCache, error) {
	rows, err := store.FleetRevisions(ctx, q)
	if err != nil {
		return nil, err
	}
	n := &fleetCache{gen: gen, pkgs: c.pkgs, storeIDs: c.storeIDs, layers: make(map[string][]uint32, len(c.layers)),
		names: make([]string, len(rows)), digests: make([]string, len(rows)), revs: make([]int64, len(rows))}
	// old[i] is the name's place in c when its record is the one c holds,
	// -1 when it must be read (or has none).
	old := make([]int32, len(rows))
	var changed []string
	j := 0
	for i, r := range rows {
		n.names[i], n.digests[i], n.revs[i] = r.Name, r.Digest, r.Rev
		for j < len(c.names) && c.names[j] < r.Name {
			j++
		}
		old[i] = -1
		if j < len(c.names) && c.names[j] == r.Name && c.digests[j] == r.Digest && c.revs[j] == r.Rev {
			old[i] = int32(j)
		} else if r.Rev != noRecord {
			changed = append(changed, r.Digest)
		}
	}
	// Each package is kept once per load; packages of layers no longer
	// used stay until a full load, which comes once they are half of all.
	if len(changed) > len(rows)/4 || len(c.pkgs) > 2*c.used {
		return nil, nil
	}
	slices.Sort(changed)
	changed = slices.Compact(changed)
	recs, err := store.FleetRecords(ctx, q, changed)
	if err != nil {
		return nil, err
	}
	var newLayers []string
	for _, d := range changed {
		if rec, ok := recs[d]; ok {
			if _, have := c.layers[rec.Layer]; !have {
				newLayers = append(newLayers, rec.Layer)
			}
		}
	}
	slices.Sort(newLayers)
	newLayers = slices.Compact(newLayers)
	if err := n.readLayers(ctx, q, newLayers); err != nil {
		return nil, err
	}
	n.index(func(i int) (string, *rpmscan.Inventory, string, bool) {
		if o := old[i]; o >= 0 {
			if gi := c.nameGroup[o]; gi >= 0 {
				g := c.groups[gi]
				return g.layer, g.inv, g.key, true
			}
			return "", nil, "", false
		}
		if rec, ok := recs[n.digests[i]]; ok {
			return rec.Layer, &rec.Inventory, "", true
		}
		return "", nil, "", false
	}, c)
	return n, nil
}

// readLayers adds the given layers to c.layers, and the packages c does
// not hold yet to c.pkgs. c.pkgs and c.storeIDs may be shared with an
// older cache: they are only appended to, and the older cache reads only
// its own part.
func (c *fleetCache) readLayers(ctx context.Context, q store.Querier, layers []string) error {
	if len(layers) == 0 {
		return nil
	}
	stored, legacy, err := store.FleetLayers(ctx, q, layers)
	if err != nil {
		return err
	}
	for l, pk := range legacy {
		seq := make([]uint32, len(pk))
		for i, p := range pk {
			seq[i] = uint32(len(c.pkgs))
			c.pkgs = append(c.pkgs, p)
		}
		c.layers[l] = seq
	}
	var missing []uint32
	for _, ids := range stored {
		for _, id := range ids {
			if int(id) >= len(c.storeIDs) || c.storeIDs[id] == 0 {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) > 0 {
		byID, err := store.PackagesByID(ctx, q, missing)
		if err != nil {
			return err
		}
		top := slices.Max(missing)
		if int(top) >= len(c.storeIDs) {
			c.storeIDs = append(c.storeIDs[:len(c.storeIDs):len(c.storeIDs)], make([]uint32, int(top)+1-len(c.storeIDs))...)
		} else {
			c.storeIDs = slices.Clone(c.storeIDs)
		}
		for _, id := range missing {
			p, ok := byID[id]
			if !ok {
				return fmt.Errorf("store: package %d is missing", id)
			}
			if c.storeIDs[id] == 0 {
				c.storeIDs[id] = uint32(len(c.pkgs)) + 1
				c.pkgs = append(c.pkgs, p)
			}
		}
	}
	for l, ids := range stored {
		seq := make([]uint32, len(ids))
		for i, id := range ids {
			seq[i] = c.storeIDs[id] - 1
		}
		c.layers[l] = seq
	}
	return nil
}

// index groups the managed names (c.names, c.digests) and builds the
// reverse index. record returns the layer, inventory (read only) and
// group key ("" to compute it) of names[i], false when it has no record.
// prev, when not nil, is the cache c is updated from: the layers c.layers
// does not hold yet are taken from it, and so is its reverse index when
// the layers and packages are the same.
func (c *fleetCache) index(record func(i int) (layer string, inv *rpmscan.Inventory, key string, ok bool), prev *fleetCache) {
	c.nameGroup = make([]int32, len(c.names))
	byKey := map[string]int32{}
	for i, n := range c.names {
		layer, rinv, key, ok := record(i)
		if !ok {
			c.nameGroup[i] = -1
			continue
		}
		if _, ok := c.layers[layer]; !ok && prev != nil {
			if seq, ok := prev.layers[layer]; ok {
				c.layers[layer] = seq
			}
		}
		if key == "" {
			key = groupIDOf(layer, rinv).key()
		}
		gi, ok := byKey[key]
		if !ok {
			gi = int32(len(c.groups))
			byKey[key] = gi
			inv := *rinv
			inv.Packages = nil
			c.groups = append(c.groups, &group{key: key, layer: layer, inv: &inv})
		}
		c.groups[gi].images = append(c.groups[gi].images, n)
		c.nameGroup[i] = gi
	}
	same := prev != nil && len(c.pkgs) == len(prev.pkgs) && len(c.layers) == len(prev.layers)
	for l := range c.layers {
		if !same {
			break
		}
		_, same = prev.layers[l]
	}
	if same {
		// The same layers and packages: the same reverse index.
		c.pkgName, c.nameID, c.layerKeys = prev.pkgName, prev.nameID, prev.layerKeys
		c.postOff, c.postLayer, c.postPkg, c.used = prev.postOff, prev.postLayer, prev.postPkg, prev.used
		layerNum := make(map[string]int32, len(c.layerKeys))
		for k, l := range c.layerKeys {
			layerNum[l] = int32(k)
		}
		c.numberGroups(layerNum)
		return
	}

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
	used := make([]bool, len(c.pkgs))
	for k, layer := range c.layerKeys {
		layerNum[layer] = int32(k)
		for _, id := range c.layers[layer] {
			c.postOff[c.pkgName[id]+1]++
			if !used[id] {
				used[id] = true
				c.used++
			}
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
	c.numberGroups(layerNum)
}

// numberGroups sets each group's layer number.
func (c *fleetCache) numberGroups(layerNum map[string]int32) {
	for _, g := range c.groups {
		ln, ok := layerNum[g.layer]
		if !ok {
			ln = -1 // no packages stored
		}
		g.layerN = ln
	}
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
