package abs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rpmscan"
)

// ImageStatus is what the orchestrator knows about one managed image now,
// from the stored state alone: nothing is fetched or rescanned.
type ImageStatus struct {
	Image Image `json:"image"`
	// Digest is the digest the image's tag resolved to in the last cycle
	// ("" before its first cycle).
	Digest string `json:"digest,omitempty"`
	// Platforms has one entry for a single-platform image.
	Platforms []PlatformStatus `json:"platforms,omitempty"`
	// Grade is the grade at the orchestrator's current time, "" when the
	// image was never scanned.
	Grade string `json:"grade,omitempty"`
	// NextDrop is when the grade drops next, to NextGrade.
	NextDrop  *time.Time `json:"next_drop,omitempty"`
	NextGrade string     `json:"next_grade,omitempty"`
	// Timeline is the freshness grades of the image's digest, from when it
	// was first graded (or scanned) on, the last one open.
	Timeline []GradeStep `json:"timeline,omitempty"`
	// Findings are the unapplied advisories, each with the rule that
	// matched it (advisory.Finding.Match).
	Findings []advisory.Finding `json:"findings,omitempty"`
	// Unfixed are the CVE ids that affect the image and have no fix yet.
	Unfixed []string `json:"unfixed,omitempty"`
	// LastRebuild is the image's most recent rebuild, if any.
	LastRebuild *RebuildReport `json:"last_rebuild,omitempty"`
}

// PlatformStatus is one platform of an image.
type PlatformStatus struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
	Grade    string `json:"grade,omitempty"`
}

// GradeStep is one interval of a freshness timeline: the grade from From
// until Until (nil for the last, open step), and the advisories that give
// the grade.
type GradeStep struct {
	Grade      string     `json:"grade"`
	From       time.Time  `json:"from"`
	Until      *time.Time `json:"until,omitempty"`
	Advisories []string   `json:"advisories,omitempty"`
}

// CycleInfo is one cycle in a list: its cause, state, times and how many
// rebuilds it planned and how many of them failed. Finished is when its
// planning finished.
type CycleInfo struct {
	ID       string     `json:"id"`
	Cause    string     `json:"cause"`
	Advisory string     `json:"advisory,omitempty"`
	DryRun   bool       `json:"dry_run,omitempty"`
	State    CycleState `json:"state"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Rebuilds int        `json:"rebuilds"`
	Failed   int        `json:"failed"`
}

// Stats are the counts a metrics endpoint reports, read from the stored
// state.
type Stats struct {
	// At is the orchestrator's current time.
	At time.Time `json:"at"`
	// Images is the number of managed images.
	Images int `json:"images"`
	// Grades counts the managed images by their grade now, as
	// ImageStatus gives it (after a published rebuild, the new digest's);
	// "" counts the images not graded yet.
	Grades map[string]int `json:"grades"`
	// NextDrops maps each managed image with a grade drop ahead to its
	// time.
	NextDrops map[string]time.Time `json:"next_drops,omitempty"`
	// Cycles counts the cycles (dry runs left out) by state.
	Cycles []CycleCount `json:"cycles,omitempty"`
	// Rebuilds counts the rebuilds by state and method.
	Rebuilds []RebuildCount `json:"rebuilds,omitempty"`
	// NewestAdvisory is when the newest stored advisory was issued or
	// updated (zero when none is stored); At minus it is the feed lag.
	NewestAdvisory time.Time `json:"newest_advisory,omitzero"`
	// Jobs counts the queued and running jobs by kind and state.
	Jobs []JobCount `json:"jobs,omitempty"`
	// Notifications counts the notifications by state.
	Notifications map[NotificationState]int `json:"notifications,omitempty"`
}

// CycleCount is the cycles in one state: how many, how many of them
// finished planning, and the sum of their planning durations.
type CycleCount struct {
	State    CycleState    `json:"state"`
	Count    int           `json:"count"`
	Finished int           `json:"finished"`
	Duration time.Duration `json:"duration"`
}

// RebuildCount is the number of rebuilds in one state by one method.
type RebuildCount struct {
	State  RebuildState `json:"state"`
	Method Method       `json:"method"`
	Count  int          `json:"count"`
}

// JobCount is the number of jobs of one kind in one state.
type JobCount struct {
	Kind  string `json:"kind"`
	State string `json:"state"`
	Count int    `json:"count"`
}

// pageBounds turns a 0-based page and a page size into LIMIT and OFFSET.
func pageBounds(page, pageSize int) (limit, offset int, err error) {
	if page < 0 || pageSize < 1 {
		return 0, 0, fmt.Errorf("%w: page must be >= 0 and page size >= 1", ErrConfig)
	}
	if page > (1<<31)/pageSize {
		return 0, 0, fmt.Errorf("%w: page %d is out of range", ErrConfig, page)
	}
	return pageSize, page * pageSize, nil
}

// ImageStatus returns the status of a managed image by name: its digest,
// grade now and ahead, freshness timeline, findings, unfixed CVEs and last
// rebuild. It reads the image's stored inventory (a few queries, whatever
// the size of the fleet) and matches it against the cached advisory
// index; an image the orchestrator does not manage gives an error
// wrapping ErrUnknownImage (and ErrNotFound).
func (o *Orchestrator) ImageStatus(ctx context.Context, name string) (ImageStatus, error) {
	if err := o.refreshImages(ctx); err != nil { // images created by any replica
		return ImageStatus{}, err
	}
	img := o.image(name)
	if img == nil {
		return ImageStatus{}, fmt.Errorf("%w: %q", ErrUnknownImage, name)
	}
	return o.status(ctx, img, true)
}

// status is ImageStatus of a managed image; without timeline, the
// freshness timeline is left out (Stats needs only the grade and the
// next drop).
func (o *Orchestrator) status(ctx context.Context, img *Image, timeline bool) (ImageStatus, error) {
	st := ImageStatus{Image: *img}
	if err := o.lastRebuild(ctx, &st); err != nil {
		return st, err
	}
	digest, err := store.ManagedDigest(ctx, o.db, img.Name)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("abs: image %s: %w", img.Name, err)
	}
	plats, err := store.ManagedPlatforms(ctx, o.db, img.Name)
	if err != nil {
		return st, fmt.Errorf("abs: image %s: %w", img.Name, err)
	}
	m, err := o.matcherFor(ctx)
	if err != nil {
		return st, err
	}
	now := o.now()
	// A rebuild published over the digest the last cycle saw is what the
	// tag points at now; its verification stored its inventories. Only
	// this image's records are read, whatever the size of the fleet.
	lr := st.LastRebuild
	published := lr != nil && lr.State == RebuildPublished && lr.OldDigest == digest && lr.NewDigest != ""
	graded := true
	if len(plats) > 0 {
		err = o.indexStatus(ctx, &st, m, digest, plats, published, now)
	} else {
		graded, err = o.imageStatus(ctx, &st, m, digest, published, now)
	}
	if err != nil || !graded {
		return st, err
	}
	slices.Sort(st.Unfixed)
	st.Unfixed = slices.Compact(st.Unfixed)
	expl := healthindex.Explain(o.policy, st.Findings, now)
	st.Grade = letter(expl.Grade)
	if !expl.NextDrop.IsZero() {
		t := expl.NextDrop
		st.NextDrop, st.NextGrade = &t, letter(expl.NextGrade)
	}
	if !timeline {
		return st, nil
	}
	from, err := store.FirstGraded(ctx, o.db, img.Name, st.Digest)
	if err != nil {
		return st, err
	}
	if from.IsZero() || from.After(now) {
		from = now
	}
	st.Timeline = o.timeline(st.Findings, from)
	return st, nil
}

// imageStatus fills st for a single-platform image whose tag resolved to
// digest (or, when published, to the last rebuild's new digest). It
// returns false when no inventory of the image is stored.
func (o *Orchestrator) imageStatus(ctx context.Context, st *ImageStatus, m Matcher, digest string, published bool, now time.Time) (bool, error) {
	lr := st.LastRebuild
	digests := []string{digest}
	if published {
		digests = append(digests, lr.NewDigest)
	}
	recs, err := store.Images(ctx, o.db, digests)
	if err != nil {
		return false, fmt.Errorf("abs: image %s: %w", st.Image.Name, err)
	}
	if published {
		if _, ok := recs[lr.NewDigest]; ok {
			digest = lr.NewDigest
		}
	}
	st.Digest = digest
	rec, ok := recs[digest]
	if !ok {
		return false, nil
	}
	inv := rec.Inventory
	if inv.Packages, err = store.LayerPackages(ctx, o.db, rec.Layer); err != nil {
		return false, fmt.Errorf("abs: image %s: %w", st.Image.Name, err)
	}
	st.Findings = m.Match(&inv)
	st.Unfixed = o.unfixedCVEs(m, &inv, st.Unfixed)
	platform := "linux"
	if arch := inv.Image.Labels["architecture"]; arch != "" {
		platform += "/" + arch
	}
	st.Platforms = []PlatformStatus{{Platform: platform, Digest: digest,
		Grade: letter(healthindex.Explain(o.policy, st.Findings, now).Grade)}}
	return true, nil
}

// indexStatus fills st for a multi-platform image: one PlatformStatus per
// platform (sorted by platform), the findings of every platform together,
// so that the image's grade is the worst platform's, as Regrade has it.
// After a published rebuild, the platforms are those its verification
// recorded, once their inventories are stored.
func (o *Orchestrator) indexStatus(ctx context.Context, st *ImageStatus, m Matcher, digest string, plats map[string]string, published bool, now time.Time) error {
	if lr := st.LastRebuild; published {
		if d, err := store.LogDetail(ctx, o.db, lr.ID, string(RebuildBuilt)); err == nil {
			if pg := parseVerified(d); len(pg) > 0 {
				next := make(map[string]string, len(pg))
				for _, p := range pg {
					next[p.Platform] = p.Digest
				}
				recs, err := store.Images(ctx, o.db, mapValues(next))
				if err == nil && len(recs) == len(uniq(mapValues(next))) {
					plats, digest = next, lr.NewDigest
				}
			}
		}
	}
	recs, err := store.Images(ctx, o.db, mapValues(plats))
	if err != nil {
		return fmt.Errorf("abs: image %s: %w", st.Image.Name, err)
	}
	st.Digest = digest
	for _, p := range sortedKeys(plats) {
		ps := PlatformStatus{Platform: p, Digest: plats[p]}
		if rec, ok := recs[plats[p]]; ok {
			inv := rec.Inventory
			if inv.Packages, err = store.LayerPackages(ctx, o.db, rec.Layer); err != nil {
				return fmt.Errorf("abs: image %s: platform %s: %w", st.Image.Name, p, err)
			}
			f := m.Match(&inv)
			ps.Grade = letter(healthindex.Explain(o.policy, f, now).Grade)
			st.Findings = appendFindings(st.Findings, f)
			st.Unfixed = o.unfixedCVEs(m, &inv, st.Unfixed)
		}
		st.Platforms = append(st.Platforms, ps)
	}
	return nil
}

// unfixedCVEs appends the CVEs without a fix that inv is exposed to.
func (o *Orchestrator) unfixedCVEs(m Matcher, inv *rpmscan.Inventory, dst []string) []string {
	if um, ok := m.(UnfixedMatcher); ok {
		for _, u := range um.Unfixed(inv) {
			dst = append(dst, u.CVE)
		}
	}
	return dst
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// timeline is the freshness timeline of findings from an instant on, each
// step with the advisories that alone would give its grade.
func (o *Orchestrator) timeline(findings []advisory.Finding, from time.Time) []GradeStep {
	var out []GradeStep
	for _, iv := range healthindex.NewTimeline(o.policy, findings, from) {
		step := GradeStep{Grade: letter(iv.Grade), From: iv.Start, Until: iv.End}
		if iv.Grade > healthindex.GradeA {
			for _, f := range findings {
				if healthindex.GradeAt(o.policy, []advisory.Finding{f}, iv.Start) == iv.Grade && !slices.Contains(step.Advisories, f.Advisory) {
					step.Advisories = append(step.Advisories, f.Advisory)
				}
			}
			slices.Sort(step.Advisories)
		}
		out = append(out, step)
	}
	return out
}

func (o *Orchestrator) lastRebuild(ctx context.Context, st *ImageStatus) error {
	rs, _, err := store.ImageRebuilds(ctx, o.db, st.Image.Name, 1, 0)
	if err != nil || len(rs) == 0 {
		return err
	}
	rr, err := o.rebuildReport(ctx, rs[0])
	if err != nil {
		return err
	}
	st.LastRebuild = &rr
	return nil
}

// RebuildHistory returns one page (0-based, pageSize entries) of an
// image's rebuilds, newest first, with their states, reasons, digests and
// log tails, and the number of rebuilds in all. The image is named as
// ImageStatus names it; the rebuilds of an image no longer managed stay
// readable.
func (o *Orchestrator) RebuildHistory(ctx context.Context, image string, page, pageSize int) ([]RebuildReport, int, error) {
	limit, offset, err := pageBounds(page, pageSize)
	if err != nil {
		return nil, 0, err
	}
	rs, total, err := store.ImageRebuilds(ctx, o.db, image, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("abs: rebuilds of %s: %w", image, err)
	}
	if total == 0 {
		if err := o.refreshImages(ctx); err != nil {
			return nil, 0, err
		}
	}
	if total == 0 && o.image(image) == nil {
		return nil, 0, fmt.Errorf("%w: %q", ErrUnknownImage, image)
	}
	out := make([]RebuildReport, 0, len(rs))
	for _, r := range rs {
		rr, err := o.rebuildReport(ctx, r)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, rr)
	}
	return out, total, nil
}

// Cycles returns one page (0-based) of the cycles, newest first, and the
// number of cycles in all.
func (o *Orchestrator) Cycles(ctx context.Context, page, pageSize int) ([]CycleInfo, int, error) {
	limit, offset, err := pageBounds(page, pageSize)
	if err != nil {
		return nil, 0, err
	}
	rows, total, err := store.Cycles(ctx, o.db, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("abs: cycles: %w", err)
	}
	out := make([]CycleInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, cycleInfo(r))
	}
	return out, total, nil
}

// Cycle returns one cycle's summary; an unknown id gives an error wrapping
// ErrUnknownCycle.
func (o *Orchestrator) Cycle(ctx context.Context, id string) (CycleInfo, error) {
	c, err := store.GetCycle(ctx, o.db, id)
	if errors.Is(err, store.ErrNotFound) {
		return CycleInfo{}, fmt.Errorf("%w: %q", ErrUnknownCycle, id)
	}
	if err != nil {
		return CycleInfo{}, fmt.Errorf("abs: cycle %s: %w", id, err)
	}
	n, failed, err := store.CycleCounts(ctx, o.db, id)
	if err != nil {
		return CycleInfo{}, fmt.Errorf("abs: cycle %s: %w", id, err)
	}
	return cycleInfo(store.CycleRow{Cycle: c, Rebuilds: n, Failed: failed}), nil
}

// ErrUnknownCycle is returned for a cycle id that was never recorded.
var ErrUnknownCycle = errors.New("abs: unknown cycle")

func cycleInfo(r store.CycleRow) CycleInfo {
	ci := CycleInfo{ID: r.ID, Cause: r.Cause, Advisory: r.Advisory, DryRun: r.DryRun, State: CycleState(r.State),
		Started: r.Started, Rebuilds: r.Rebuilds, Failed: r.Failed}
	if !r.Finished.IsZero() {
		t := r.Finished
		ci.Finished = &t
	}
	return ci
}

// RebuildNow starts a cycle that rebuilds an image (by name or repository)
// even when nothing affects it, and returns the cycle's id. An image whose
// build service is off gives an error wrapping ErrConfig. The cycle
// plans as any other (its other images are rebuilt when they are due);
// the manual rebuild is published as the image's AutoPublish says.
func (o *Orchestrator) RebuildNow(ctx context.Context, image string) (string, error) {
	if err := o.refreshImages(ctx); err != nil {
		return "", err
	}
	img := o.imageByNameOrRepository(image)
	if img == nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownImage, image)
	}
	if !img.BuildService {
		return "", fmt.Errorf("%w: image %s: build_service is off (the image is scanned and graded, never rebuilt)", ErrConfig, img.Name)
	}
	id, err := o.StartCycle(ctx, CycleOptions{Cause: "rebuild", manual: img.Name})
	if err != nil {
		return "", fmt.Errorf("abs: rebuild %s: %w", img.Name, err)
	}
	return id, nil
}

// manualKey is a context key: the image a cycle rebuilds on request.
type manualKey struct{}

func withManual(ctx context.Context, image string) context.Context {
	if image == "" {
		return ctx
	}
	return context.WithValue(ctx, manualKey{}, image)
}

// markManual marks the state of the image the cycle rebuilds on request.
func markManual(ctx context.Context, cycle string, states []*imageState) {
	name, _ := ctx.Value(manualKey{}).(string)
	if name == "" {
		return
	}
	for _, s := range states {
		if s.img.Name == name {
			s.manual = cycle
		}
	}
}

// Stats returns the counts GET /metrics reports, from the stored state.
// The grades take a few queries per managed image (those of ImageStatus,
// without the timeline); the rest are aggregate queries.
func (o *Orchestrator) Stats(ctx context.Context) (Stats, error) {
	st := Stats{At: o.now(), Grades: map[string]int{}, NextDrops: map[string]time.Time{},
		Notifications: map[NotificationState]int{}}
	fail := func(err error) (Stats, error) { return Stats{}, fmt.Errorf("abs: stats: %w", err) }
	if err := o.refreshImages(ctx); err != nil {
		return fail(err)
	}
	// The grades are ImageStatus's: at the current time, of the digest
	// the tag points at (a published rebuild's once its verification is
	// stored), not the grade recorded when the last cycle scanned.
	imgs := o.fleetImages()
	for i := range imgs {
		img := &imgs[i]
		is, err := o.status(ctx, img, false)
		if err != nil {
			return fail(err)
		}
		st.Images++
		st.Grades[is.Grade]++
		if is.NextDrop != nil {
			st.NextDrops[img.Name] = *is.NextDrop
		}
	}
	states, err := store.CycleStates(ctx, o.db)
	if err != nil {
		return fail(err)
	}
	durs, err := store.CycleDurations(ctx, o.db)
	if err != nil {
		return fail(err)
	}
	for _, c := range states {
		cc := CycleCount{State: CycleState(c.Keys[0]), Count: c.N}
		for _, d := range durs {
			if d.Keys[0] == c.Keys[0] {
				cc.Finished, cc.Duration = d.N, time.Duration(d.Total)
			}
		}
		st.Cycles = append(st.Cycles, cc)
	}
	rbs, err := store.RebuildCounts(ctx, o.db)
	if err != nil {
		return fail(err)
	}
	for _, c := range rbs {
		st.Rebuilds = append(st.Rebuilds, RebuildCount{State: RebuildState(c.Keys[0]), Method: Method(c.Keys[1]), Count: c.N})
	}
	if st.NewestAdvisory, err = store.NewestAdvisory(ctx, o.db); err != nil {
		return fail(err)
	}
	jobs, err := store.JobCounts(ctx, o.db)
	if err != nil {
		return fail(err)
	}
	for _, c := range jobs {
		st.Jobs = append(st.Jobs, JobCount{Kind: strings.TrimPrefix(c.Keys[0], "abs_"), State: c.Keys[1], Count: c.N})
	}
	notes, err := store.NotificationCounts(ctx, o.db)
	if err != nil {
		return fail(err)
	}
	for _, c := range notes {
		st.Notifications[NotificationState(c.Keys[0])] = c.N
	}
	return st, nil
}

// ProjectID returns the id of the project the image belongs to ("" for an
// image of a project declared without an id).
func (i Image) ProjectID() string { return i.projectID }

// imagesRefreshTimeout bounds the reload Images does, which takes no
// context.
const imagesRefreshTimeout = 10 * time.Second
