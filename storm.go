package abs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
)

// Storm shapes the work a widely shipped advisory causes: it folds
// advisories released close together into one rebuild per image, bounds
// concurrent builds, holds builds and publishes in freeze windows, and
// lets non-critical fixes soak. The zero value shapes nothing: every
// rebuild starts at once, as far as WithWorkers allows.
//
// Work held by a Storm rule or by a pause switch (Orchestrator.Pause)
// stays queued in the database: it is reported (RebuildReport.Waiting,
// ImageSummary.Waiting: "paused", "frozen until …", "soaking until …",
// "waiting for a build slot") and runs once the rule lets it, in this
// process or another sharing the database. Time is read from WithClock's
// clock.
type Storm struct {
	// BatchWindow folds advisories released close together into one
	// rebuild per image. A cycle started by a push, a poll or Trigger (not
	// a manual RunCycle or StartCycle, and never a dry run) syncs
	// advisories and then, while the newest stored advisory arrived less
	// than BatchWindow ago, waits (the cycle job is snoozed, and syncs
	// again when it wakes) before it plans. Its plan then takes every
	// advisory known at that time, so one rebuild per image fixes them all.
	// The config file's default is DefaultBatchWindow; 0 plans at once.
	BatchWindow time.Duration
	// MaxHold bounds how long a cycle waits for the batch window to pass
	// under a steady stream of advisories, counted from the cycle's start
	// (default 4×BatchWindow).
	MaxHold time.Duration
	// Budgets bound concurrent builds.
	Budgets Budgets
	// Soak waits this long after an advisory was issued before rebuilding
	// for it (as Renovate's minimumReleaseAge does). A rebuild for a
	// Critical advisory never soaks.
	Soak time.Duration
	// Freeze are windows in which nothing is published (and, for windows
	// with Builds set, nothing is built).
	Freeze []FreezeWindow
}

// DefaultBatchWindow is the batch window the config file applies when its
// storm section leaves it out.
const DefaultBatchWindow = 3 * time.Minute

// Budgets bound how many builds run at once, counted in the database so
// that they hold across every orchestrator sharing it. A build past a
// budget waits in a queue that is served Critical first, then by how soon
// the image's grade drops, then first come first served. Zero means no
// bound.
type Budgets struct {
	// Global bounds all builds.
	Global int `json:"global,omitempty"`
	// PerProject bounds the builds of each project, unless Projects names
	// it.
	PerProject int `json:"per_project,omitempty"`
	// PerRegistry bounds the builds of images published to each registry
	// host, unless Registries names it.
	PerRegistry int `json:"per_registry,omitempty"`
	// Projects and Registries set the bound of one project (by name) or
	// one registry host ("quay.io", "localhost:5000").
	Projects   map[string]int `json:"projects,omitempty"`
	Registries map[string]int `json:"registries,omitempty"`
}

func (b Budgets) set() bool {
	return b.Global > 0 || b.PerProject > 0 || b.PerRegistry > 0 || len(b.Projects) > 0 || len(b.Registries) > 0
}

func (b Budgets) project(p string) int {
	if n, ok := b.Projects[p]; ok {
		return n
	}
	return b.PerProject
}

func (b Budgets) registry(r string) int {
	if n, ok := b.Registries[r]; ok {
		return n
	}
	return b.PerRegistry
}

// FreezeWindow is a weekly time range, in a time zone, in which publishes
// (and, with Builds, builds) wait. From and To are times of day (offsets
// from midnight, up to 24h); a To not after From ends on the next day
// ("Fri 18:00 to 06:00"), and From = To = 0 covers the whole day.
type FreezeWindow struct {
	// Days the window starts on; empty: every day.
	Days []time.Weekday
	From time.Duration
	To   time.Duration
	// Location is the time zone of Days, From and To (default UTC).
	Location *time.Location
	// Builds holds builds too, not only publishes.
	Builds bool
}

// ErrFreeze is wrapped by invalid freeze windows.
var ErrFreeze = errors.New("abs: invalid freeze window")

// Validate checks the window's times of day.
func (w FreezeWindow) Validate() error {
	if w.From < 0 || w.From > 24*time.Hour || w.To < 0 || w.To > 24*time.Hour {
		return fmt.Errorf("%w: times of day must lie within 00:00 and 24:00", ErrFreeze)
	}
	return nil
}

// End reports whether t lies in the window and, if so, when the window
// ends.
func (w FreezeWindow) End(t time.Time) (time.Time, bool) {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	for back := range 2 { // a window that began yesterday may still run
		y, m, d := lt.Date()
		day := time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		if len(w.Days) > 0 && !slices.Contains(w.Days, day.Weekday()) {
			continue
		}
		start := time.Date(y, m, d-back, 0, int(w.From/time.Minute), 0, 0, loc)
		endDay := d - back
		if w.To <= w.From {
			endDay++
		}
		end := time.Date(y, m, endDay, 0, int(w.To/time.Minute), 0, 0, loc)
		if !lt.Before(start) && lt.Before(end) {
			return end, true
		}
	}
	return time.Time{}, false
}

// frozenUntil returns when the freeze windows covering t end (following
// windows that touch), for publishes or, with builds, for builds.
func frozenUntil(ws []FreezeWindow, t time.Time, builds bool) (time.Time, bool) {
	until, frozen := t, false
	for range 64 { // bounded: windows chained over a few weeks at most
		moved := false
		for _, w := range ws {
			if builds && !w.Builds {
				continue
			}
			if end, ok := w.End(until); ok && end.After(until) {
				until, moved, frozen = end, true, true
			}
		}
		if !moved {
			break
		}
	}
	return until, frozen
}

// WithStorm sets how rebuild storms are shaped (see Storm). Pause
// switches (Orchestrator.Pause) work with or without it.
func WithStorm(s Storm) Option { return func(o *Orchestrator) { o.storm = s } }

// AllProjects names the global pause switch in Pause and Resume.
const AllProjects = ""

// ErrUnknownProject is returned by Pause for a project the orchestrator
// does not manage.
var ErrUnknownProject = errors.New("abs: unknown project")

// Pause stops new builds and publishes of a project (AllProjects: of
// every project) until Resume, in every orchestrator sharing the
// database. Builds already running finish and their images wait to be
// published; paused work stays queued and is reported as "paused".
func (o *Orchestrator) Pause(ctx context.Context, project string) error {
	if project != AllProjects && !o.hasProject(project) {
		return fmt.Errorf("%w: %q", ErrUnknownProject, project)
	}
	if err := store.SetPause(ctx, o.db, project, "paused", o.now()); err != nil {
		return fmt.Errorf("abs: pause: %w", err)
	}
	o.note("", "pause", "", "paused", "paused "+scopeName(project), "project", project)
	return nil
}

// Resume turns a pause switch of Pause off; the held work of the project
// (or of every project) is woken at once.
func (o *Orchestrator) Resume(ctx context.Context, project string) error {
	was, err := store.ClearPause(ctx, o.db, project)
	if err != nil {
		return fmt.Errorf("abs: resume: %w", err)
	}
	if !was {
		return nil
	}
	o.note("", "pause", "", "resumed", "resumed "+scopeName(project), "project", project)
	held, err := store.HeldEntries(ctx, o.db, project)
	if err != nil {
		return fmt.Errorf("abs: resume: %w", err)
	}
	var jobs []int64
	for _, e := range held {
		if strings.HasPrefix(e.Why, "paused") {
			jobs = append(jobs, e.Job)
		}
	}
	o.wake(ctx, jobs...)
	return nil
}

// Recheck wakes every held or waiting build and publish to look at its
// rules again now, rather than at its next scheduled look: after the
// clock moved past a freeze window or a soak time, for instance. Work
// whose rule still holds goes back to waiting.
func (o *Orchestrator) Recheck(ctx context.Context) error {
	entries, err := store.QueueEntries(ctx, o.db)
	if err != nil {
		return fmt.Errorf("abs: recheck: %w", err)
	}
	var jobs []int64
	for _, e := range entries {
		if e.State != store.QueueRunning {
			jobs = append(jobs, e.Job)
		}
	}
	o.wake(ctx, jobs...)
	return nil
}

// Paused returns the pause switches that are on: project names, with ""
// (AllProjects) for the global one.
func (o *Orchestrator) Paused(ctx context.Context) ([]string, error) {
	p, err := store.Pauses(ctx, o.db)
	if err != nil {
		return nil, fmt.Errorf("abs: paused: %w", err)
	}
	return sortedKeys(p), nil
}

func scopeName(project string) string {
	if project == AllProjects {
		return "all projects"
	}
	return "project " + project
}

func (o *Orchestrator) hasProject(p string) bool {
	if _, ok := o.projectIDs[p]; ok {
		return true
	}
	for _, img := range o.fleetImages() {
		if img.project == p {
			return true
		}
	}
	return false
}

// heldError says a cycle waits for the batch window before planning.
type heldError struct{ until time.Time }

func (e *heldError) Error() string {
	return "waiting for the advisory batch window until " + e.until.UTC().Format(time.RFC3339)
}

// holdForBatch returns a *heldError when the cycle must wait for the
// batch window before planning (Storm.BatchWindow).
func (o *Orchestrator) holdForBatch(ctx context.Context, c store.Cycle) error {
	w := o.storm.BatchWindow
	if w <= 0 || c.DryRun || c.Cause == "manual" || overlayOf(ctx) != nil {
		return nil
	}
	newest, err := store.NewestSync(ctx, o.db)
	if err != nil || newest.IsZero() {
		return err
	}
	until := newest.Add(w)
	maxHold := o.storm.MaxHold
	if maxHold <= 0 {
		maxHold = 4 * w
	}
	if limit := c.Started.Add(maxHold); until.After(limit) {
		until = limit
	}
	if !o.now().Before(until) {
		return nil
	}
	return &heldError{until: until}
}

// cycleSnooze turns a cycle's batch-window wait into a snooze of its job.
func (o *Orchestrator) cycleSnooze(cycle string, err error) (error, bool) {
	var h *heldError
	if !errors.As(err, &h) {
		return nil, false
	}
	o.note(cycle, "plan", "", "waiting for the batch window", h.Error(), "until", h.until)
	return river.JobSnooze(o.snoozeFor(h.until, time.Hour)), true
}

// snoozeFor is how long to sleep until t, at least a second and at most
// ceiling (a later look checks again).
func (o *Orchestrator) snoozeFor(t time.Time, ceiling time.Duration) time.Duration {
	return min(max(t.Sub(o.now()), time.Second), ceiling)
}

// slotRecheck is how long (plus up to as much again, at random) a build
// waiting for a slot sleeps before it looks again. A slot is granted to
// it by the decision that frees it, which wakes it at once, and
// sweepSlots wakes it if that wake-up was lost; this look is the last
// resort.
const slotRecheck = time.Minute

// pauseRecheck is how long paused work sleeps between looks (Resume wakes
// it at once).
const pauseRecheck = time.Minute

// rebuildPriority is the River priority of a planned rebuild: Critical
// first, then Important, then the others by whether the grade drops.
func rebuildPriority(s *imageState, st *PlanStep) *river.InsertOpts {
	p := 4
	for _, f := range s.findings {
		if !slices.Contains(st.Advisories, f.Advisory) {
			continue
		}
		switch f.Severity {
		case advisory.SeverityCritical:
			p = 1
		case advisory.SeverityImportant:
			p = min(p, 2)
		}
	}
	if p == 4 && !s.expl.NextDrop.IsZero() {
		p = 3
	}
	return &river.InsertOpts{Priority: p}
}

// rank returns how the rebuild sorts in the build queue (Critical, the
// next grade drop) and when its soak ends (zero: no soak).
func (o *Orchestrator) rank(ctx context.Context, r store.Rebuild) (critical bool, drop, soakEnd time.Time, err error) {
	if len(r.Advisories) > 0 {
		advs, err := store.AdvisoriesByID(ctx, o.db, r.Advisories)
		if err != nil {
			return false, time.Time{}, time.Time{}, err
		}
		var newest time.Time
		for _, a := range advs {
			critical = critical || a.Severity == advisory.SeverityCritical
			if a.Issued.After(newest) {
				newest = a.Issued
			}
		}
		if o.storm.Soak > 0 && !critical && !newest.IsZero() {
			soakEnd = newest.Add(o.storm.Soak)
		}
	}
	if g, err := store.LatestGrade(ctx, o.db, r.Image); err == nil {
		drop = g.NextDrop
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, time.Time{}, time.Time{}, err
	}
	return critical, drop, soakEnd, nil
}

// holdReason says why a build (builds) or publish of img must wait now:
// a pause switch or a freeze window, and until when ("" when it may run).
func (o *Orchestrator) holdReason(ctx context.Context, img *Image, builds bool, now time.Time) (string, time.Time, error) {
	pauses, err := store.Pauses(ctx, o.db)
	if err != nil {
		return "", time.Time{}, err
	}
	if _, ok := pauses[AllProjects]; ok {
		return "paused (all projects)", time.Time{}, nil
	}
	if _, ok := pauses[img.project]; ok && img.project != "" {
		return "paused (project " + img.project + ")", time.Time{}, nil
	}
	if until, ok := frozenUntil(o.storm.Freeze, now, builds); ok {
		return "frozen until " + until.UTC().Format(time.RFC3339), until, nil
	}
	return "", time.Time{}, nil
}

// hold records a held step and returns the snooze of its job.
func (o *Orchestrator) hold(ctx context.Context, e store.QueueEntry, r store.Rebuild, until time.Time) error {
	prev, perr := store.GetQueueEntry(ctx, o.db, e.Rebuild, e.Step)
	if perr == nil {
		e.Queued = prev.Queued
	}
	if err := store.PutQueueEntry(ctx, o.db, e); err != nil {
		return err
	}
	if perr != nil || prev.Why != e.Why || prev.State != e.State {
		o.note(r.Cycle, e.Step, r.Image, e.Step+" waits", fmt.Sprintf("%s: %s %s", r.Image, e.Step, e.Why),
			"rebuild", r.ID, "why", e.Why)
	}
	if until.IsZero() {
		return river.JobSnooze(pauseRecheck)
	}
	return river.JobSnooze(o.snoozeFor(until, time.Hour))
}

// admitBuild decides whether a rebuild may start building now: no pause,
// no freeze window for builds, its soak over, and a build slot within
// every budget. When it may, it returns the function that gives the slot
// back; otherwise the snooze of its job (the rebuild stays planned and
// reported as waiting).
func (o *Orchestrator) admitBuild(ctx context.Context, job *rivertype.JobRow, r store.Rebuild, img *Image) (func(), error) {
	now := o.now()
	critical, drop, soakEnd, err := o.rank(ctx, r)
	if err != nil {
		return nil, err
	}
	e := store.QueueEntry{Rebuild: r.ID, Step: store.StepBuild, Job: job.ID, Image: r.Image, Project: img.project,
		Registry: registryOf(img.Repository), Critical: critical, DropAt: drop, Queued: now}
	why, until, err := o.holdReason(ctx, img, true, now)
	if err != nil {
		return nil, err
	}
	if why == "" && now.Before(soakEnd) {
		why, until = "soaking until "+soakEnd.UTC().Format(time.RFC3339), soakEnd
	}
	if why != "" {
		e.State, e.Why = store.QueueHeld, why
		return nil, o.hold(ctx, e, r, until)
	}
	release := func() {
		if err := store.DeleteQueueEntry(context.WithoutCancel(ctx), o.db, r.ID, store.StepBuild); err != nil {
			o.log.Warn("release build slot", "rebuild", r.ID, "error", err.Error())
		}
	}
	if !o.storm.Budgets.set() {
		release() // an entry left by a hold
		return func() {}, nil
	}
	var granted, first bool
	var ahead int
	var gs []store.QueueEntry
	err = o.db.InTx(ctx, func(tx store.Tx) error {
		if err := store.LockQueue(ctx, tx, o.db.Dialect()); err != nil {
			return err
		}
		prev, err := store.GetQueueEntry(ctx, tx, r.ID, store.StepBuild)
		switch {
		case err == nil:
			e.Queued = prev.Queued
			if prev.State == store.QueueRunning {
				granted = true // granted while it waited, or held by an earlier run of this job
				return nil
			}
			first = prev.State != store.QueueWaiting
		case errors.Is(err, store.ErrNotFound):
			first = true
		default:
			return err
		}
		e.State, e.Why = store.QueueWaiting, "waiting for a build slot"
		if err := store.PutQueueEntry(ctx, tx, e); err != nil {
			return err
		}
		if gs, err = o.grantSlots(ctx, tx); err != nil {
			return err
		}
		for _, g := range gs {
			granted = granted || g.Rebuild == r.ID
		}
		if !granted {
			ahead, err = store.WaitingAhead(ctx, tx, e)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	o.handOut(ctx, gs, r.ID)
	if !granted && ahead < o.standbySize() {
		if granted, err = o.standBy(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	if !granted {
		if first {
			o.note(r.Cycle, "build", r.Image, "build waits", r.Image+": waiting for a build slot", "rebuild", r.ID)
		}
		return nil, river.JobSnooze(jitter(slotRecheck))
	}
	return func() { o.releaseSlot(context.WithoutCancel(ctx), r.ID) }, nil
}

// standbyWait bounds how long a build next in line for a slot waits in
// its worker for the slot (see standBy) before its job sleeps.
const standbyWait = 2 * time.Second

// standbySize is how many builds next in line for a slot wait in their
// worker rather than sleep: the build workers the global budget leaves
// spare (half of them without a global budget).
func (o *Orchestrator) standbySize() int {
	if g := o.storm.Budgets.Global; g > 0 {
		return max(o.buildWork-g, 0)
	}
	return o.buildWork / 2
}

// standBy waits, in the job's worker and at most standbyWait, for the
// entry of rebuild to be granted a slot: a slot freed in this process
// hands it over at once (handOut), one freed in another is seen by a
// look at the entry every standbyLook. It reports whether the slot came.
// At most standbySize builds of this process stand by at once.
func (o *Orchestrator) standBy(ctx context.Context, rebuild string) (bool, error) {
	ch := make(chan struct{})
	o.sweep.mu.Lock()
	if len(o.sweep.waiters) >= o.standbySize() {
		o.sweep.mu.Unlock()
		return false, nil
	}
	if o.sweep.waiters == nil {
		o.sweep.waiters = map[string]chan struct{}{}
	}
	o.sweep.waiters[rebuild] = ch
	o.sweep.mu.Unlock()
	defer func() {
		o.sweep.mu.Lock()
		if o.sweep.waiters[rebuild] == ch {
			delete(o.sweep.waiters, rebuild)
		}
		o.sweep.mu.Unlock()
	}()
	deadline := time.NewTimer(standbyWait)
	defer deadline.Stop()
	look := time.NewTicker(standbyLook)
	defer look.Stop()
	for {
		select {
		case <-ch:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-deadline.C:
		case <-look.C:
		}
		// A slot granted by another process, or the last look.
		e, err := store.GetQueueEntry(ctx, o.db, rebuild, store.StepBuild)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		if err == nil && e.State == store.QueueRunning {
			return true, nil
		}
		select {
		case <-deadline.C:
			return false, nil
		default:
		}
		if err != nil {
			return false, nil // the entry is gone
		}
	}
}

// standbyLook is how often a standing-by build looks at its entry.
const standbyLook = 250 * time.Millisecond

// handOut passes the slots just granted (gs, committed) to their builds:
// one standing by in this process takes its slot at once, the others'
// jobs are woken. The entry of rebuild self, granted to the caller, is
// left out.
func (o *Orchestrator) handOut(ctx context.Context, gs []store.QueueEntry, self string) {
	var wake []store.QueueEntry
	o.sweep.mu.Lock()
	for _, g := range gs {
		if g.Rebuild == self {
			continue
		}
		if ch, ok := o.sweep.waiters[g.Rebuild]; ok {
			close(ch)
			delete(o.sweep.waiters, g.Rebuild)
			continue
		}
		wake = append(wake, g)
	}
	o.sweep.mu.Unlock()
	o.wakeGranted(ctx, wake)
}

// queueLook bounds how far down the queue a slot decision looks.
const queueLook = 1000

// queuePage is how many waiting entries a slot decision reads at a time.
const queuePage = 64

// grantSlots gives the free build slots, in tx under LockQueue, to the
// first waiting entries that fit every budget, in queue order: each is
// marked as holding its slot (so that no other decision, in this process
// or another, hands the slot out again) and returned, for its job to be
// woken. A waiting entry whose project or registry is full is passed
// over, keeping its place for when that budget frees up.
func (o *Orchestrator) grantSlots(ctx context.Context, tx store.Tx) ([]store.QueueEntry, error) {
	running, err := store.RunningBuilds(ctx, tx)
	if err != nil {
		return nil, err
	}
	u := newUsage(o.storm.Budgets, running)
	var out []store.QueueEntry
	for skipped := 0; !u.full() && skipped < queueLook; {
		waiting, err := store.WaitingBuilds(ctx, tx, queuePage, skipped)
		if err != nil {
			return nil, err
		}
		for _, w := range waiting {
			if u.full() {
				break
			}
			if !u.fits(w) {
				skipped++ // granted entries leave the waiting set; skipped ones stay
				continue
			}
			if err := store.StartQueueEntry(ctx, tx, w.Rebuild, store.StepBuild, o.now()); err != nil {
				return nil, err
			}
			u.add(w)
			out = append(out, w)
		}
		if len(waiting) < queuePage {
			break
		}
	}
	return out, nil
}

// releaseSlot gives a build slot back and, in the same transaction,
// grants it to the next waiting entries, whose jobs are then woken.
func (o *Orchestrator) releaseSlot(ctx context.Context, rebuild string) {
	var gs []store.QueueEntry
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		if err := store.LockQueue(ctx, tx, o.db.Dialect()); err != nil {
			return err
		}
		if err := store.DeleteQueueEntry(ctx, tx, rebuild, store.StepBuild); err != nil {
			return err
		}
		var err error
		gs, err = o.grantSlots(ctx, tx)
		return err
	})
	if err != nil {
		o.log.Warn("release build slot", "rebuild", rebuild, "error", err.Error())
		return
	}
	o.handOut(ctx, gs, "")
}

// slotSweep is how often (plus up to as much again, at random) each
// orchestrator with budgets grants free slots and wakes the jobs of
// entries granted a slot at least one sweep ago that have not begun: a
// wake-up lost to a crash or to a job that was still recording its
// snooze costs a second or two, not a build slot.
const slotSweep = time.Second

// sweepSlots runs until ctx ends (see slotSweep).
func (o *Orchestrator) sweepSlots(ctx context.Context) {
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(slotSweep)):
		}
		var gs, lost []store.QueueEntry
		next := map[string]bool{}
		err := o.db.InTx(ctx, func(tx store.Tx) error {
			if err := store.LockQueue(ctx, tx, o.db.Dialect()); err != nil {
				return err
			}
			var err error
			if gs, err = o.grantSlots(ctx, tx); err != nil {
				return err
			}
			idle, err := store.GrantedBuilds(ctx, tx)
			if err != nil {
				return err
			}
			for _, e := range idle {
				if seen[e.Rebuild] {
					lost = append(lost, e)
				}
				next[e.Rebuild] = true
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				o.log.Warn("sweep build slots", "error", err.Error())
			}
			continue
		}
		seen = next
		o.handOut(ctx, gs, "")
		o.handOut(ctx, lost, "")
	}
}

// startSweep starts sweepSlots when budgets are set; stopSweep ends it.
func (o *Orchestrator) startSweep() {
	if !o.storm.Budgets.set() {
		return
	}
	o.sweep.mu.Lock()
	defer o.sweep.mu.Unlock()
	if o.sweep.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	o.sweep.cancel, o.sweep.done = cancel, done
	go func() {
		defer close(done)
		o.sweepSlots(ctx)
	}()
}

func (o *Orchestrator) stopSweep() {
	o.sweep.mu.Lock()
	cancel, done := o.sweep.cancel, o.sweep.done
	o.sweep.cancel, o.sweep.done = nil, nil
	o.sweep.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// sweeper is the state of sweepSlots and of the builds standing by.
type sweeper struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	waiters map[string]chan struct{} // rebuild → closed when granted
}

// wakeGranted wakes the jobs of entries granted a slot. A job still
// running (recording its snooze) is tried again for a few seconds, in
// the background, as long as its entry holds the slot and its build has
// not begun: a job that went on to build and finish is never run again.
func (o *Orchestrator) wakeGranted(ctx context.Context, gs []store.QueueEntry) {
	var left []store.QueueEntry
	for _, g := range gs {
		if running, err := o.eng.Wake(ctx, g.Job); err != nil {
			o.log.Debug("wake job", "job", g.Job, "error", err.Error())
		} else if running {
			left = append(left, g)
		}
	}
	if len(left) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for len(left) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			granted, err := store.GrantedBuilds(ctx, o.db)
			if err != nil {
				continue
			}
			still := map[string]bool{}
			for _, e := range granted {
				still[e.Rebuild] = true
			}
			var next []store.QueueEntry
			for _, g := range left {
				if !still[g.Rebuild] {
					continue // it took its slot, or the entry is gone
				}
				if running, err := o.eng.Wake(ctx, g.Job); err == nil && running {
					next = append(next, g)
				}
			}
			left = next
		}
	}()
}

// jitter returns d plus up to as much again, at random, so that jobs
// and replicas looking again do not do so in step.
func jitter(d time.Duration) time.Duration {
	return d + rand.N(d)
}

// wake makes snoozed jobs available now. A job that recorded its wait
// but whose snooze River has not recorded yet is still running; it is
// tried again for a few seconds, in the background.
func (o *Orchestrator) wake(ctx context.Context, jobs ...int64) {
	left := o.wakeOnce(ctx, jobs)
	if len(left) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for len(left) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			left = o.wakeOnce(ctx, left)
		}
	}()
}

func (o *Orchestrator) wakeOnce(ctx context.Context, jobs []int64) []int64 {
	var running []int64
	for _, j := range jobs {
		r, err := o.eng.Wake(ctx, j)
		if err != nil {
			o.log.Debug("wake job", "job", j, "error", err.Error())
			continue
		}
		if r {
			running = append(running, j)
		}
	}
	return running
}

// admitPublish decides whether a verified rebuild may be published now
// (no pause, no freeze window); otherwise it returns the snooze of its job.
func (o *Orchestrator) admitPublish(ctx context.Context, job *rivertype.JobRow, r store.Rebuild, img *Image) error {
	now := o.now()
	why, until, err := o.holdReason(ctx, img, false, now)
	if err != nil {
		return err
	}
	if why == "" {
		return store.DeleteQueueEntry(ctx, o.db, r.ID, store.StepPublish)
	}
	e := store.QueueEntry{Rebuild: r.ID, Step: store.StepPublish, Job: job.ID, Image: r.Image, Project: img.project,
		Registry: registryOf(img.Repository), State: store.QueueHeld, Why: why, Queued: now}
	return o.hold(ctx, e, r, until)
}

// queueWaiting maps the rebuilds of a cycle that wait in the queue to why.
func (o *Orchestrator) queueWaiting(ctx context.Context, cycle string) (map[string]string, error) {
	entries, err := store.QueueOfCycle(ctx, o.db, cycle)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.State != store.QueueRunning && e.Why != "" {
			out[e.Rebuild] = e.Why
		}
	}
	return out, nil
}

// QueueDepth is how many builds wait and run, for monitoring.
type QueueDepth struct {
	// Held wait for a pause, a freeze window or a soak time.
	Held int `json:"held"`
	// Waiting wait for a build slot.
	Waiting int `json:"waiting"`
	// Running hold a build slot.
	Running int `json:"running"`
}

// Queue returns how many builds are held, wait for a slot and run, across
// every orchestrator sharing the database. Builds are counted once they
// were offered to a worker, so planned rebuilds not yet picked up by one
// are not among them.
func (o *Orchestrator) Queue(ctx context.Context) (QueueDepth, error) {
	m, err := store.QueueDepth(ctx, o.db, store.StepBuild)
	if err != nil {
		return QueueDepth{}, fmt.Errorf("abs: queue: %w", err)
	}
	return QueueDepth{Held: m[store.QueueHeld], Waiting: m[store.QueueWaiting], Running: m[store.QueueRunning]}, nil
}

func registryOf(repo string) string {
	r, err := name.NewRepository(repo)
	if err != nil {
		return ""
	}
	return r.RegistryStr()
}

// usage counts the build slots in use against the budgets.
type usage struct {
	b                   Budgets
	total               int
	project, registries map[string]int
}

func newUsage(b Budgets, running []store.QueueEntry) *usage {
	u := &usage{b: b, project: map[string]int{}, registries: map[string]int{}}
	for _, e := range running {
		u.add(e)
	}
	return u
}

func (u *usage) add(e store.QueueEntry) {
	u.total++
	u.project[e.Project]++
	u.registries[e.Registry]++
}

func (u *usage) full() bool { return u.b.Global > 0 && u.total >= u.b.Global }

func (u *usage) fits(e store.QueueEntry) bool {
	if u.full() {
		return false
	}
	if n := u.b.project(e.Project); n > 0 && u.project[e.Project] >= n {
		return false
	}
	if n := u.b.registry(e.Registry); n > 0 && u.registries[e.Registry] >= n {
		return false
	}
	return true
}
