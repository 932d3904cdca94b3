package abs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/redact"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// Cycle states.
const (
	cycleQueued  = "queued"
	cycleRunning = "running"
	cyclePlanned = "planned"
	cycleDryRun  = "dry-run"
)

// Rebuild reasons.
const (
	ReasonAffected   = "directly affected"
	ReasonBaseMoved  = "base image moved"
	ReasonDependency = "dependency"
)

// Annotation and label keys that record an image's base.
const (
	annBaseName   = "org.opencontainers.image.base.name"
	annBaseDigest = "org.opencontainers.image.base.digest"
)

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
	findings    []advisory.Finding
	expl        healthindex.Explanation
	err         error
}

func (o *Orchestrator) workCycle(ctx context.Context, job *river.Job[cycleArgs]) error {
	a := job.Args
	c, err := store.GetCycle(ctx, o.db, a.Cycle)
	if errors.Is(err, store.ErrNotFound) {
		// Enqueued by the poll loop: record it now.
		c = store.Cycle{ID: a.Cycle, Cause: a.Cause, Advisory: a.Advisory, DryRun: a.DryRun, State: cycleQueued, Started: o.now()}
		if _, err := store.PutCycle(ctx, o.db, c); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if c.State == cyclePlanned || c.State == cycleDryRun || c.State == cycleFailed {
		return nil // a previous attempt finished the cycle
	}
	if c.State == cycleQueued {
		if _, err := o.db.Exec(ctx, `UPDATE abs_cycle SET state = $2 WHERE id = $1`, c.ID, cycleRunning); err != nil {
			return err
		}
	}
	if err := o.cycle(ctx, c); err != nil {
		if ctx.Err() == nil && job.Attempt >= job.MaxAttempts {
			o.emit(a.Cycle, "cycle", "", "cycle failed: %v", err)
			return store.FinishCycle(ctx, o.db, c.ID, cycleFailed, err.Error(), o.now())
		}
		o.emit(a.Cycle, "cycle", "", "cycle failed (attempt %d, will retry): %v", job.Attempt, err)
		return err
	}
	return nil
}

// cycle runs the pipeline's planning half and records the plan and its
// jobs in one transaction.
func (o *Orchestrator) cycle(ctx context.Context, c store.Cycle) error {
	now := o.now()
	changed, err := o.sync(ctx, c.ID)
	if err != nil {
		return err
	}
	states, err := o.resolve(ctx, c.ID)
	if err != nil {
		return err
	}
	prompt := changed
	if c.Advisory != "" && !slices.Contains(prompt, c.Advisory) {
		prompt = append(prompt, c.Advisory)
	}
	affected := map[string][]string{}
	for _, id := range prompt {
		names, err := o.Affected(ctx, id)
		if err != nil {
			return err
		}
		affected[id] = names
		if len(names) > 0 {
			o.emit(c.ID, "match", "", "%s affects %s", id, strings.Join(names, ", "))
		}
	}
	if err := o.grade(ctx, c.ID, states, now); err != nil {
		return err
	}
	rep := &Report{Cycle: c.ID, Cause: c.Cause, Advisory: c.Advisory, DryRun: c.DryRun, Started: c.Started,
		Synced: changed, Affected: affected}
	for _, s := range states {
		ir := ImageReport{Name: s.img.Name, Reference: s.img.Ref(), Digest: s.digest, Findings: s.findings,
			Explanation: s.expl.String()}
		if s.err != nil {
			ir.Error = s.err.Error()
		} else {
			ir.Grade = s.expl.Grade.String()
			if !s.expl.NextDrop.IsZero() {
				t := s.expl.NextDrop
				ir.NextDrop = &t
			}
		}
		rep.Images = append(rep.Images, ir)
	}
	steps, err := o.decide(states)
	if err != nil {
		return err
	}
	rep.Plan = steps
	for _, st := range steps {
		o.emit(c.ID, "plan", st.Image, "%s: %s (%s, grade %s)", st.Image, st.Why, st.Method, st.BeforeGrade)
	}
	if len(steps) == 0 {
		o.emit(c.ID, "plan", "", "nothing to rebuild")
	}
	warnings, err := o.warnings(ctx, c, states, now)
	if err != nil {
		return err
	}
	rep.Warnings = warnings
	if c.DryRun {
		doc, _ := json.Marshal(rep)
		return store.FinishCycle(ctx, o.db, c.ID, cycleDryRun, string(doc), o.now())
	}
	return o.db.InTx(ctx, func(tx store.Tx) error {
		owners := map[string]bool{}
		for i := range steps {
			st := &steps[i]
			s := stateOf(states, st.Image)
			r := store.Rebuild{ID: st.ID, Cycle: c.ID, Image: st.Image, OldDigest: s.digest, Advisories: st.Advisories, Key: st.Key,
				Reason: st.Reason, Method: st.Method, Parent: st.ParentID, State: store.StatePlanned, Detail: st.Why,
				BeforeGrade: st.BeforeGrade, Created: now}
			ok, err := store.InsertRebuild(ctx, tx, r)
			if err != nil {
				return err
			}
			if !ok {
				st.Duplicate = true
				continue
			}
			if _, err := o.eng.InsertTx(ctx, tx, rebuildArgs{Rebuild: st.ID, Image: st.Image}, nil); err != nil {
				return err
			}
			for _, ow := range s.img.Owners {
				owners[ow] = true
			}
		}
		for _, w := range warnings {
			for _, ow := range o.byName[w.Image].Owners {
				owners[ow] = true
			}
		}
		for _, ow := range sortedKeys(owners) {
			id := c.ID + "/" + ow
			ok, err := store.InsertNotification(ctx, tx, store.Notification{ID: id, Cycle: c.ID, Owner: ow, Kind: "cycle"})
			if err != nil {
				return err
			}
			if ok {
				if _, err := o.eng.InsertTx(ctx, tx, notifyArgs{Notification: id, Cycle: c.ID, Owner: ow}, nil); err != nil {
					return err
				}
			}
		}
		doc, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		return store.FinishCycle(ctx, tx, c.ID, cyclePlanned, string(doc), o.now())
	})
}

func stateOf(states []*imageState, name string) *imageState {
	for _, s := range states {
		if s.img.Name == name {
			return s
		}
	}
	return nil
}

// sync fetches every source from its stored cursor and stores what
// changed together with the new cursor, in one transaction per source, so
// a crash neither loses nor repeats a step. It returns the ids of new or
// changed advisories.
func (o *Orchestrator) sync(ctx context.Context, cycle string) ([]string, error) {
	var changed []string
	for _, src := range o.sources {
		srcName := hideUserinfo(src.Name()) // a feed URL may carry credentials
		stored, err := store.Cursor(ctx, o.db, srcName)
		if err != nil {
			return nil, err
		}
		cur, err := advisory.ParseCursor(stored)
		if err != nil {
			return nil, err
		}
		b, err := src.Fetch(ctx, cur)
		if err != nil {
			return nil, fmt.Errorf("abs: sync %s: %w", srcName, scrubUserinfo(err))
		}
		for _, e := range b.Skipped {
			o.emit(cycle, "sync", "", "skipped a document: %v", scrubUserinfo(e))
		}
		var mine []string
		var deleted int
		err = o.db.InTx(ctx, func(tx store.Tx) error {
			mine, deleted = mine[:0], 0
			now := o.now()
			keep := map[string]bool{}
			for _, a := range b.Advisories {
				keep[a.ID] = true
				ok, err := store.PutAdvisory(ctx, tx, a, now)
				if err != nil {
					return fmt.Errorf("abs: store advisory %s: %w", a.ID, err)
				}
				if ok {
					mine = append(mine, a.ID)
				}
			}
			gone := slices.Clone(b.Deleted)
			for _, name := range b.Replace {
				ids, err := store.AdvisoryIDsOfSource(ctx, tx, name)
				if err != nil {
					return err
				}
				for _, id := range ids {
					if !keep[id] {
						gone = append(gone, id)
					}
				}
			}
			for _, id := range gone {
				if err := store.DeleteAdvisory(ctx, tx, id); err != nil {
					return err
				}
				deleted++
			}
			return store.SetCursor(ctx, tx, srcName, b.Cursor.Encode(), now)
		})
		if err != nil {
			return nil, err
		}
		o.emit(cycle, "sync", "", "%s: %d new or changed advisories, %d withdrawn", srcName, len(mine), deleted)
		changed = append(changed, mine...)
	}
	sort.Strings(changed)
	return slices.Compact(changed), nil
}

var userinfoRE = regexp.MustCompile(`://[^/?#@\s]*@`)

// hideUserinfo replaces the user information of every URL in s (a source
// name, an error message) with a placeholder: feed URLs may carry
// credentials, which must reach neither logs, errors nor the state.
func hideUserinfo(s string) string {
	return userinfoRE.ReplaceAllString(s, "://"+redact.Placeholder+"@")
}

// scrubUserinfo returns err, or an error with its message when that
// quotes URL credentials.
func scrubUserinfo(err error) error {
	if msg := hideUserinfo(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
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
	states := make([]*imageState, len(o.images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.scanWork)
	baseLayers := newLayerCache()
	for i := range o.images {
		s := &imageState{img: &o.images[i]}
		states[i] = s
		g.Go(func() error {
			s.err = o.resolveOne(gctx, cycle, s, baseLayers)
			if s.err != nil {
				o.emit(cycle, "scan", s.img.Name, "%s: %v", s.img.Name, s.err)
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
	has, err := store.HasImage(ctx, o.db, s.digest)
	if err != nil {
		return err
	}
	if has {
		s.inv, err = store.Inventory(ctx, o.db, s.digest)
		if err != nil {
			return err
		}
	} else {
		o.emit(cycle, "scan", s.img.Name, "scanning %s@%s", s.img.Repository, short(s.digest))
		inv, err := o.scanner.Scan(ctx, img)
		if err != nil {
			return fmt.Errorf("scan %s: %w", s.img.Ref(), err)
		}
		if inv.Image.Digest == "" {
			inv.Image.Digest = s.digest
		}
		if err := store.PutInventory(ctx, o.db, inv, o.now()); err != nil {
			return err
		}
		s.inv = inv
		o.emit(cycle, "scan", s.img.Name, "%s: %d packages", s.img.Name, len(inv.Packages))
	}
	if err := store.SetManaged(ctx, o.db, s.img.Name, s.digest, o.now()); err != nil {
		return err
	}
	// The base: the manifest annotations, else the labels, else the
	// declared base.
	s.baseName, s.baseDigest = m.Annotations[annBaseName], m.Annotations[annBaseDigest]
	if s.baseName == "" {
		cf, err := img.ConfigFile()
		if err == nil {
			s.baseName, s.baseDigest = cf.Config.Labels[annBaseName], cf.Config.Labels[annBaseDigest]
		}
	}
	if s.baseName == "" {
		s.baseName = s.img.Base
	}
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
		layers, err := bases.get(ctx, o, bref.Context().Name()+"@"+s.baseDigest)
		if err == nil {
			s.rpmdbInBase = slices.Contains(layers, s.inv.RPMDB.LayerDigest)
		}
	}
	return nil
}

// layerCache remembers the layers of base images within one cycle: many
// images share a few bases.
type layerCache struct {
	mu chan struct{}
	m  map[string][]string
}

func newLayerCache() *layerCache {
	return &layerCache{mu: make(chan struct{}, 1), m: map[string][]string{}}
}

func (c *layerCache) get(ctx context.Context, o *Orchestrator, ref string) ([]string, error) {
	c.mu <- struct{}{}
	defer func() { <-c.mu }()
	if l, ok := c.m[ref]; ok {
		return l, nil
	}
	r, err := o.ref(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, o.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	var img v1.Image
	if img, err = desc.Image(); err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	c.m[ref] = out
	return out, nil
}

// matcherFor returns a matcher over every stored advisory, rebuilt only
// when they changed.
func (o *Orchestrator) matcherFor(ctx context.Context) (Matcher, error) {
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
	m, err := o.matcher(advs)
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
	if len(layerSet) == 0 {
		return nil, nil
	}
	m, err := o.matcher(advs)
	if err != nil {
		return nil, err
	}
	var out []string
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
			if hit {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func groupKey(layer string, inv *rpmscan.Inventory) string {
	return layer + "|" + inv.OS.ID + "|" + inv.OS.VersionID + "|" + inv.OS.CPEName + "|" + strings.Join(inv.ContentSets, ",")
}

// fleet is a set of managed images grouped so that images with the same
// packages and product (same rpmdb layer, OS and content sets) are matched
// once.
type fleet struct {
	groups []*group
	digest map[string]string // image name -> digest
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
	f := &fleet{digest: map[string]string{}}
	byKey := map[string]*group{}
	for _, n := range sortedKeys(c.managed) {
		d := c.managed[n]
		rec, ok := c.recs[d]
		if !ok {
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

// Grade is one image's grade as of a regrade.
type Grade struct {
	Image       string                  `json:"image"`
	Digest      string                  `json:"digest"`
	Grade       string                  `json:"grade"`
	NextDrop    *time.Time              `json:"next_drop,omitempty"`
	Findings    []advisory.Finding      `json:"findings,omitempty"`
	Explanation healthindex.Explanation `json:"-"`
}

// Regrade grades every managed image from its stored inventory and the
// stored advisories at the orchestrator's current time, without touching
// a registry. Images with the same packages are matched once.
func (o *Orchestrator) Regrade(ctx context.Context) ([]Grade, error) {
	m, err := o.matcherFor(ctx)
	if err != nil {
		return nil, err
	}
	f, err := o.loadFleet(ctx)
	if err != nil {
		return nil, err
	}
	now := o.now()
	type result struct {
		findings []advisory.Finding
		expl     healthindex.Explanation
	}
	res := make([]result, len(f.groups))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, gr := range f.groups {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			findings := m.Match(gr.inv)
			res[i] = result{findings, healthindex.Explain(o.policy, findings, now)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []Grade
	for i, gr := range f.groups {
		expl := res[i].expl
		for _, n := range gr.images {
			gd := Grade{Image: n, Digest: f.digest[n], Grade: expl.Grade.String(), Findings: res[i].findings, Explanation: expl}
			if !expl.NextDrop.IsZero() {
				t := expl.NextDrop
				gd.NextDrop = &t
			}
			out = append(out, gd)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out, nil
}

// grade regrades the cycle's images and records the grade history.
func (o *Orchestrator) grade(ctx context.Context, cycle string, states []*imageState, now time.Time) error {
	grades, err := o.Regrade(ctx)
	if err != nil {
		return err
	}
	byName := map[string]Grade{}
	for _, g := range grades {
		byName[g.Image] = g
	}
	for _, s := range states {
		if s.err != nil {
			continue
		}
		g, ok := byName[s.img.Name]
		if !ok {
			s.err = errors.New("no stored inventory")
			continue
		}
		s.findings, s.expl = g.Findings, g.Explanation
		if _, err := store.RecordGrade(ctx, o.db, store.GradeRecord{Image: s.img.Name, Digest: s.digest,
			Grade: g.Grade, At: now, NextDrop: s.expl.NextDrop}); err != nil {
			return err
		}
		o.emit(cycle, "grade", s.img.Name, "%s: grade %s, %d unapplied advisories", s.img.Name, g.Grade, len(idsOf(s.findings, nil)))
	}
	return nil
}

// Warning says an image's grade will drop soon.
type Warning struct {
	Image    string    `json:"image"`
	Digest   string    `json:"digest"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	At       time.Time `json:"at"`
	Advisory string    `json:"advisory"`
}

// warnings finds the grade drops due within the warning window that were
// not announced before, and records them.
func (o *Orchestrator) warnings(ctx context.Context, c store.Cycle, states []*imageState, now time.Time) ([]Warning, error) {
	var out []Warning
	for _, s := range states {
		if s.err != nil || s.expl.NextDrop.IsZero() || s.expl.NextDrop.Sub(now) > o.warn {
			continue
		}
		w := Warning{Image: s.img.Name, Digest: s.digest, From: s.expl.Grade.String(), To: s.expl.NextGrade.String(), At: s.expl.NextDrop}
		if len(s.expl.NextCauses) > 0 {
			w.Advisory = s.expl.NextCauses[0].Finding.Advisory
		}
		if !c.DryRun {
			ok, err := store.RecordWarning(ctx, o.db, s.img.Name, s.digest, s.expl.NextDrop, w.To, now)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		o.emit(c.ID, "warn", s.img.Name, "%s: grade drops %s -> %s on %s (%s)", s.img.Name, w.From, w.To, w.At.Format(time.DateOnly), w.Advisory)
		out = append(out, w)
	}
	return out, nil
}

// PlanStep is one image the cycle rebuilds.
type PlanStep struct {
	ID          string   `json:"id"`
	Image       string   `json:"image"`
	Reason      string   `json:"reason"`
	Why         string   `json:"why"`
	Advisories  []string `json:"advisories,omitempty"`
	Method      string   `json:"method"`
	Parent      string   `json:"parent,omitempty"`
	ParentID    string   `json:"parent_id,omitempty"`
	Batch       int      `json:"batch"`
	BeforeGrade string   `json:"before_grade"`
	// Key is what makes the rebuild unique for the image digest: the
	// advisories, the new base digest, or the parent's rebuild.
	Key string `json:"key"`
	// Duplicate is set when this exact rebuild (same image digest, same
	// advisories) was planned before and is not repeated.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Build methods.
const (
	MethodRebase = "rebase"
	MethodBuild  = "build"
)

func rebuildID(image, digest, key string) string {
	h := sha256.Sum256([]byte(image + "\x00" + digest + "\x00" + key))
	return "rb-" + hex.EncodeToString(h[:8])
}

// decide chooses the images to rebuild and orders them parents first.
func (o *Orchestrator) decide(states []*imageState) ([]PlanStep, error) {
	type cand struct {
		s      *imageState
		advs   []string
		reason string
		why    string
	}
	cands := map[string]*cand{}
	for _, s := range states {
		if s.err != nil || !s.img.AutoRebuild {
			continue
		}
		advs, why := o.rebuildP(*s.img, s.findings)
		switch {
		case len(advs) > 0:
			cands[s.img.Name] = &cand{s: s, advs: advs, reason: ReasonAffected, why: why + ": " + strings.Join(advs, ", ")}
		case s.baseDigest != "" && s.baseNow != "" && s.baseNow != s.baseDigest:
			cands[s.img.Name] = &cand{s: s, reason: ReasonBaseMoved,
				why: fmt.Sprintf("base %s moved from %s to %s", s.baseName, short(s.baseDigest), short(s.baseNow))}
		}
	}
	// Children of rebuilt parents are rebuilt on the parents' new digests.
	repoOf := map[string]*imageState{}
	for _, s := range states {
		repoOf[s.img.Repository] = s
	}
	parentOf := func(s *imageState) *imageState {
		if s.baseName == "" {
			return nil
		}
		return repoOf[rebuild.Repository(s.baseName)]
	}
	for changed := true; changed; {
		changed = false
		for _, s := range states {
			if s.err != nil || !s.img.AutoRebuild || cands[s.img.Name] != nil {
				continue
			}
			if p := parentOf(s); p != nil && cands[p.img.Name] != nil {
				cands[s.img.Name] = &cand{s: s, reason: ReasonDependency, why: "parent " + p.img.Name + " is rebuilt"}
				changed = true
			}
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	var targets []*rebuild.Target
	for _, n := range sortedKeys(cands) {
		c := cands[n]
		t := &rebuild.Target{Name: n, Ref: c.s.img.Ref()}
		if c.s.baseName != "" {
			t.Bases = []string{c.s.baseName}
		}
		targets = append(targets, t)
	}
	plan, err := rebuild.NewPlan(targets)
	if err != nil {
		return nil, err
	}
	var steps []PlanStep
	ids := map[string]string{}
	for bi, batch := range plan.Batches {
		for _, st := range batch {
			c := cands[st.Target.Name]
			ps := PlanStep{Image: c.s.img.Name, Reason: c.reason, Why: c.why, Advisories: c.advs, Batch: bi,
				BeforeGrade: c.s.expl.Grade.String(), Method: o.method(c.s, c.reason)}
			if len(st.Parents) > 0 {
				ps.Parent = st.Parents[0]
				ps.ParentID = ids[ps.Parent]
			}
			switch c.reason {
			case ReasonAffected:
				ps.Key = store.AdvisoryKey(c.advs)
			case ReasonBaseMoved:
				ps.Key = "base:" + c.s.baseNow
			default:
				ps.Key = "parent:" + ps.ParentID
			}
			ps.ID = rebuildID(ps.Image, c.s.digest, ps.Key)
			ids[ps.Image] = ps.ID
			steps = append(steps, ps)
		}
	}
	return steps, nil
}

// method picks the rebase fast path when the image's packages all live in
// its base's layers (so a new base brings the fixes) and a rebaser is
// configured; otherwise a build from source.
func (o *Orchestrator) method(s *imageState, reason string) string {
	if o.rebaser != nil && s.baseName != "" && (s.rpmdbInBase || reason != ReasonAffected) {
		return MethodRebase
	}
	return MethodBuild
}

func idsOf(findings []advisory.Finding, keep func(advisory.Finding) bool) []string {
	var ids []string
	for _, f := range findings {
		if keep == nil || keep(f) {
			ids = append(ids, f.Advisory)
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
