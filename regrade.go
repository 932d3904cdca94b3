package abs

import (
	"context"
	"encoding/binary"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rpmscan"
)

// signer is a Matcher that can tell which inventories it cannot tell
// apart (advisory.Index.Signature): those are matched once. It tells
// which package names it reads (advisory.Index.Relevant), so that groups
// with the same packages of those names (and the same product and base)
// are known to share a signature without building their inventories.
type signer interface {
	Signature(inv *rpmscan.Inventory) advisory.Signature
	Relevant(name string) bool
}

// groupResult is what matching and grading gave for a set of images
// that matching cannot tell apart.
type groupResult struct {
	id       int
	findings []advisory.Finding
	unfixed  []advisory.Unfixed
	// expl holds, but for At, from expl.At until until (zero: for ever);
	// see healthindex.ExplainUntil.
	expl  healthindex.Explanation
	until time.Time
}

// at returns the result's explanation at now, computing it again only
// when now is outside the span it holds for.
func (r *groupResult) at(p healthindex.Policy, now time.Time) *groupResult {
	now = now.UTC()
	if !now.Before(r.expl.At) && (r.until.IsZero() || now.Before(r.until)) {
		if !r.expl.At.Equal(now) {
			c := *r
			c.expl.At = now
			return &c
		}
		return r
	}
	c := *r
	c.expl, c.until = healthindex.ExplainUntil(p, r.findings, now)
	return &c
}

// gradeCache keeps, between regrades with the same matcher, the result of
// each distinct signature (or group, for a matcher without signatures)
// and of each combination of platform results, with the span their
// explanations hold for: a regrade matches only what it has not seen and
// explains again only what crossed its next change.
type gradeCache struct {
	m        Matcher
	sigOf    map[string]any // group key -> its signature (or the key)
	bySig    map[any]*groupResult
	combined map[string]*groupResult
	next     int
}

// groupResults returns the result of every group of c at now, aligned
// with c.groups. Dry runs (an overlay in ctx) neither read nor fill the
// cache.
//
// prev is the cache's combinations as the last regrade left them: a map
// that is only read from then on (a regrade replaces it under o.gmu).
func (o *Orchestrator) groupResults(ctx context.Context, m Matcher, c *fleetCache, now time.Time) (out []*groupResult, gc *gradeCache, prev map[string]*groupResult, err error) {
	o.gmu.Lock()
	defer o.gmu.Unlock()
	gc = o.gcache
	if overlayOf(ctx) != nil || gc == nil || !sameMatcher(gc.m, m) {
		gc = &gradeCache{m: m, sigOf: map[string]any{}, bySig: map[any]*groupResult{}, combined: map[string]*groupResult{}}
	}
	sg, _ := m.(signer)
	um, _ := m.(UnfixedMatcher)
	keys := make([]any, len(c.groups))
	var todo []int
	for i, g := range c.groups {
		if k, ok := gc.sigOf[g.key]; ok {
			keys[i] = k
		} else if sg == nil {
			keys[i] = g.key
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		// Groups with the same relevant packages, product and base share
		// a signature: one of them is asked for it.
		relevant := make([]bool, len(c.nameID))
		for n, id := range c.nameID {
			relevant[id] = sg.Relevant(n)
		}
		first := map[string]int{}
		var reps []int
		same := make([]int, len(todo)) // todo[j]'s representative
		var key []byte
		for j, i := range todo {
			g := c.groups[i]
			key = binary.AppendUvarint(key[:0], uint64(len(g.key)-len(g.layer)))
			key = append(key, g.key[len(g.layer):]...)
			if advisory.NeedsAllPackages(g.inv) {
				key = append(append(key, '|'), g.layer...)
			}
			for _, id := range c.layers[g.layer] {
				if relevant[c.pkgName[id]] {
					key = binary.LittleEndian.AppendUint32(key, id)
				}
			}
			r, ok := first[string(key)]
			if !ok {
				r = i
				first[string(key)] = i
				reps = append(reps, i)
			}
			same[j] = r
		}
		if err := parallel(ctx, len(reps), func(j int) {
			keys[reps[j]] = sg.Signature(c.inventory(c.groups[reps[j]]))
		}); err != nil {
			return nil, nil, nil, err
		}
		for j, i := range todo {
			keys[i] = keys[same[j]]
		}
	}
	// One group per signature not matched yet.
	var match []int
	queued := map[any]bool{}
	for i, k := range keys {
		if _, ok := gc.bySig[k]; !ok && !queued[k] {
			queued[k] = true
			match = append(match, i)
		}
	}
	fresh := make([]*groupResult, len(match))
	if err := parallel(ctx, len(match), func(j int) {
		inv := c.inventory(c.groups[match[j]])
		r := &groupResult{findings: m.Match(inv)}
		if um != nil {
			r.unfixed = um.Unfixed(inv)
		}
		r.expl, r.until = healthindex.ExplainUntil(o.policy, r.findings, now)
		fresh[j] = r
	}); err != nil {
		return nil, nil, nil, err
	}
	for j, i := range match {
		fresh[j].id = gc.next
		gc.next++
		gc.bySig[keys[i]] = fresh[j]
	}
	// Keep only what the fleet uses now, each at now.
	sigOf := make(map[string]any, len(c.groups))
	bySig := make(map[any]*groupResult, len(gc.bySig))
	out = make([]*groupResult, len(c.groups))
	for i, g := range c.groups {
		sigOf[g.key] = keys[i]
		r, ok := bySig[keys[i]]
		if !ok {
			r = gc.bySig[keys[i]].at(o.policy, now)
			bySig[keys[i]] = r
		}
		out[i] = r
	}
	gc.sigOf, gc.bySig = sigOf, bySig
	if overlayOf(ctx) == nil {
		o.gcache = gc
	}
	return out, gc, gc.combined, nil
}

// sameMatcher reports whether a and b are the same matcher. A matcher
// of a type that cannot be compared (a struct holding a map, say) is
// never the same, so results made with it are not kept.
func sameMatcher(a, b Matcher) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// parallel runs f(0..n-1) on every processor, stopping early when ctx
// ends.
func parallel(ctx context.Context, n int, f func(i int)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range n {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			f(i)
			return nil
		})
	}
	return g.Wait()
}

// Regrade grades every managed image from its stored inventory and the
// stored advisories at the orchestrator's current time, without touching
// a registry. Images that matching cannot tell apart (the same packages
// as far as the advisories go, product and base) are matched once, and
// between regrades with the same advisories and images a result is
// matched again only when its images changed and explained again only
// when the time crossed its next change (healthindex.ExplainUntil).
func (o *Orchestrator) Regrade(ctx context.Context) ([]ImageGrade, error) {
	m, err := o.matcherFor(ctx)
	if err != nil {
		return nil, err
	}
	c, err := o.fleetCache(ctx)
	if err != nil {
		return nil, err
	}
	now := o.now()
	res, gc, prev, err := o.groupResults(ctx, m, c, now)
	if err != nil {
		return nil, err
	}
	out := make([]ImageGrade, 0, len(c.names))
	// A multi-platform image: its platforms' findings together, so
	// that its grade (and next drop) is the worst platform's. Images
	// whose platforms have the same results share the combination.
	var (
		key   strings.Builder
		plats []int
	)
	combined := make(map[string]*groupResult, len(prev))
	for i := 0; i < len(c.names); i++ {
		n := c.names[i]
		if gi := c.nameGroup[i]; gi >= 0 {
			if _, _, ok := store.SplitPlatformKey(n); ok {
				continue // an index's platform without its index entry
			}
			r := res[gi]
			out = append(out, imageGrade(n, c.digests[i], r.findings, r.unfixed, r.expl))
			continue
		}
		// An index: its platform keys follow its name in sorted order.
		if _, _, ok := store.SplitPlatformKey(n); ok {
			continue // a platform not scanned yet
		}
		plats = plats[:0]
		for j := i + 1; j < len(c.names); j++ {
			img, _, ok := store.SplitPlatformKey(c.names[j])
			if !ok || img != n {
				break
			}
			if c.nameGroup[j] >= 0 {
				plats = append(plats, j)
			}
		}
		if len(plats) == 0 {
			continue // not scanned yet
		}
		platform := func(j int) string { _, p, _ := store.SplitPlatformKey(c.names[j]); return p }
		slices.SortFunc(plats, func(a, b int) int { return strings.Compare(platform(a), platform(b)) })
		key.Reset()
		pgs := make([]PlatformGrade, len(plats))
		for k, j := range plats {
			r := res[c.nameGroup[j]]
			pgs[k] = PlatformGrade{Platform: platform(j), Digest: c.digests[j], Grade: r.expl.Grade, Findings: r.findings}
			key.WriteString(pgs[k].Platform)
			key.WriteByte('=')
			key.WriteString(strconv.Itoa(r.id))
			key.WriteByte(',')
		}
		cr, ok := combined[key.String()]
		if !ok {
			if p, ok := prev[key.String()]; ok {
				cr = p.at(o.policy, now)
			} else {
				cr = &groupResult{}
				for _, j := range plats {
					r := res[c.nameGroup[j]]
					cr.findings = appendFindings(cr.findings, r.findings)
					cr.unfixed = appendUnfixed(cr.unfixed, r.unfixed)
				}
				cr.expl, cr.until = healthindex.ExplainUntil(o.policy, cr.findings, now)
			}
			combined[key.String()] = cr
		}
		gd := imageGrade(n, c.digests[i], cr.findings, cr.unfixed, cr.expl)
		gd.Platforms = pgs
		out = append(out, gd)
	}
	if overlayOf(ctx) == nil {
		o.gmu.Lock()
		if o.gcache == gc {
			gc.combined = combined
		}
		o.gmu.Unlock()
	}
	return out, nil
}
