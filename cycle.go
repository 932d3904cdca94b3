package abs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openabs/abs/internal/store"
)

// CycleOptions start a cycle.
type CycleOptions struct {
	// Advisory names an advisory that prompted the cycle (Trigger, the
	// push handler); every image is still regraded.
	Advisory string
	// DryRun plans with explanations and builds, pushes and mails
	// nothing.
	DryRun bool
	// Cause is recorded with the cycle ("manual" by default).
	Cause string
	// ID names the cycle; by default a new unique id. Starting a cycle
	// with an existing id does nothing.
	ID string

	// manual names an image rebuilt even when nothing affects it
	// (RebuildNow).
	manual string
	// audited says the caller records the cycle in the audit log itself
	// (Retry).
	audited bool
}

func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// StartCycle enqueues a cycle and returns its id; the cycle runs on the
// workers (of this or another process sharing the database).
func (o *Orchestrator) StartCycle(ctx context.Context, opts CycleOptions) (string, error) {
	var id string
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		var err error
		id, err = o.startCycle(ctx, tx, opts)
		return err
	})
	return id, err
}

// StartCycleTx is StartCycle inside the caller's own transaction, as
// River's InsertTx: tx is a *sql.Tx begun on the SQLite database given to
// NewSQLite, or a pgx.Tx on the pool given to NewPostgres. The cycle is
// recorded and runs only if the caller commits.
func (o *Orchestrator) StartCycleTx(ctx context.Context, tx any, opts CycleOptions) (string, error) {
	t, err := store.WrapTx(tx)
	if err != nil {
		return "", fmt.Errorf("abs: start cycle: %w", err)
	}
	return o.startCycle(ctx, t, opts)
}

func (o *Orchestrator) startCycle(ctx context.Context, tx store.Tx, opts CycleOptions) (string, error) {
	id := opts.ID
	if id == "" {
		id = newID("cycle")
	}
	cause := opts.Cause
	if cause == "" {
		cause = "manual"
	}
	args := cycleArgs{Cycle: id, Cause: cause, Advisory: opts.Advisory, DryRun: opts.DryRun, Rebuild: opts.manual}
	added, err := store.PutCycle(ctx, tx, store.Cycle{ID: id, Cause: cause, Advisory: opts.Advisory,
		DryRun: opts.DryRun, State: string(CycleQueued), Started: o.now()})
	if err != nil {
		return "", fmt.Errorf("abs: start cycle: %w", err)
	}
	if added {
		if err := o.auditCycle(ctx, tx, id, cause, opts); err != nil {
			return "", fmt.Errorf("abs: start cycle: %w", err)
		}
	}
	if _, err := o.eng.InsertTx(ctx, tx, args, nil); err != nil {
		return "", fmt.Errorf("abs: start cycle: %w", err)
	}
	return id, nil
}

// Trigger starts a cycle prompted by a newly released advisory.
func (o *Orchestrator) Trigger(ctx context.Context, advisoryID string) (string, error) {
	return o.StartCycle(ctx, CycleOptions{Advisory: advisoryID, Cause: "trigger"})
}

// RunCycle starts a cycle and waits until it, its rebuilds and its
// notifications are done; the workers must be running (Start).
func (o *Orchestrator) RunCycle(ctx context.Context, opts CycleOptions) (*Report, error) {
	id, err := o.StartCycle(ctx, opts)
	if err != nil {
		return nil, err
	}
	return o.Wait(ctx, id)
}

// Plan runs a dry-run cycle in the calling goroutine and returns its
// report: the plan with explanations, grades and warnings due. It needs no
// running workers and starts none, so work queued by earlier cycles (builds,
// pushes, mail) stays queued: Plan itself builds, pushes and mails nothing.
// opts.DryRun is implied.
func (o *Orchestrator) Plan(ctx context.Context, opts CycleOptions) (*Report, error) {
	c := store.Cycle{ID: opts.ID, Cause: opts.Cause, Advisory: opts.Advisory, DryRun: true, State: string(CycleRunning), Started: o.now()}
	if c.ID == "" {
		c.ID = newID("plan")
	}
	if c.Cause == "" {
		c.Cause = "manual"
	}
	ok, err := store.PutCycle(ctx, o.db, c)
	if err != nil {
		return nil, fmt.Errorf("abs: plan: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("abs: plan: cycle %s exists", c.ID)
	}
	if err := o.cycle(ctx, c); err != nil {
		err = o.scrubErr(err)
		if ferr := store.FinishCycle(context.WithoutCancel(ctx), o.db, c.ID, string(CycleFailed), err.Error(), o.now()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return nil, fmt.Errorf("abs: plan: %w", err)
	}
	return o.Report(ctx, c.ID)
}

// Wait waits until a cycle, its rebuilds and its notifications are done
// and returns its report. A cycle that gave up gives an error wrapping
// ErrCycleFailed; Report still reads it.
func (o *Orchestrator) Wait(ctx context.Context, cycleID string) (*Report, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		rep, done, err := o.report(ctx, cycleID)
		if err != nil {
			return nil, err
		}
		if rep.State == CycleFailed {
			return nil, fmt.Errorf("%w: %s", ErrCycleFailed, rep.Error)
		}
		if done {
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// cycle runs the planning half of the pipeline, the steps the package
// documentation lists, and records the plan and its jobs in one
// transaction; the jobs build, verify, publish and notify.
func (o *Orchestrator) cycle(ctx context.Context, c store.Cycle) error {
	now := o.now()
	if c.DryRun {
		// Nothing a dry run learns is stored: the real run after it
		// finds the same new advisories and affected images.
		ctx = withOverlay(ctx, newOverlay(o.db, now))
	}
	// 1. Sync advisories from the stored cursors.
	changed, err := o.sync(ctx, c.ID)
	if err != nil {
		return err
	}
	if err := o.holdForBatch(ctx, c); err != nil {
		return err // wait for the batch window (storm.go)
	}
	// 2. Resolve each image's tag, scan what was not seen, and find what
	// the new advisories affect.
	states, err := o.resolve(ctx, c.ID)
	if err != nil {
		return err
	}
	// What else can change a rebuild's outcome is learned now: the commit
	// each source's branch or tag names, the registry credentials.
	srcWarnings := o.planInputs(ctx, c.ID, states)
	affected, err := o.affectedBy(ctx, c, changed)
	if err != nil {
		return err
	}
	// 3. Regrade every image and find the grade drops to warn about.
	if err := o.grade(ctx, c.ID, states, now); err != nil {
		return err
	}
	warnings, err := o.warnings(ctx, c, states, now)
	if err != nil {
		return err
	}
	// 4. Decide what to rebuild, parents before children.
	markManual(ctx, c.ID, states)
	steps, err := decide(states, o.rebuildP, o.rebaser != nil)
	if err != nil {
		return err
	}
	for _, st := range steps {
		if st.holdBase {
			o.note(c.ID, "plan", st.Image, "waiting for fixed base", st.Image+": "+st.Waiting, "advisories", st.Advisories)
			continue
		}
		o.note(c.ID, "plan", st.Image, "rebuild planned",
			fmt.Sprintf("%s: %s (%s, grade %s)", st.Image, st.Why, st.Method, st.BeforeGrade),
			"reason", st.Reason, "method", st.Method, "grade", st.BeforeGrade, "advisories", st.Advisories)
	}
	if len(steps) == 0 {
		o.note(c.ID, "plan", "", "nothing to rebuild", "nothing to rebuild")
	}
	rep := newReport(c, changed, affected, states, steps, warnings)
	for i := range rep.Images {
		if w := srcWarnings[rep.Images[i].Name]; w != "" {
			rep.Images[i].Warnings = append(rep.Images[i].Warnings, w)
		}
	}
	if c.DryRun {
		if err := o.annotateRetries(ctx, rep.Plan); err != nil {
			return err
		}
		plan, err := encodePlan(rep)
		if err != nil {
			return err
		}
		return store.FinishCycle(ctx, o.db, c.ID, string(CycleDryRun), plan, o.now())
	}
	// 5–8. Record the plan and enqueue its rebuilds and notifications.
	return o.enqueuePlan(ctx, c, rep, states, now)
}

// affectedBy finds the images each new advisory (and the one that
// prompted the cycle) affects.
func (o *Orchestrator) affectedBy(ctx context.Context, c store.Cycle, changed []string) (map[string][]string, error) {
	prompt := changed
	if c.Advisory != "" && !slices.Contains(prompt, c.Advisory) {
		prompt = append(slices.Clone(prompt), c.Advisory)
	}
	affected := map[string][]string{}
	for _, id := range prompt {
		names, err := o.Affected(ctx, id)
		if err != nil {
			return nil, err
		}
		affected[id] = names
		if len(names) > 0 {
			o.note(c.ID, "match", "", "advisory affects images", fmt.Sprintf("%s affects %s", id, strings.Join(names, ", ")),
				"advisory", id, "images", names)
		}
	}
	return affected, nil
}

func newReport(c store.Cycle, changed []string, affected map[string][]string, states []*imageState, steps []PlanStep, warnings []Warning) *Report {
	rep := &Report{Cycle: c.ID, Cause: c.Cause, Advisory: c.Advisory, DryRun: c.DryRun, Started: c.Started,
		Synced: changed, Affected: affected, Plan: steps, Warnings: warnings}
	for _, s := range states {
		ir := ImageReport{Name: s.img.Name, Reference: s.img.Ref(), Digest: s.digest, Findings: s.findings, Unfixed: s.unfixed,
			Explanation: s.expl.String(), Platforms: s.platformGrades(true)}
		if s.err != nil {
			ir.Error = s.err.Error()
		} else {
			ir.Grade = s.expl.Grade
			if !s.expl.NextDrop.IsZero() {
				t := s.expl.NextDrop
				ir.NextDrop = &t
			}
		}
		rep.Images = append(rep.Images, ir)
	}
	for i := range rep.Plan {
		if s := stateOf(states, rep.Plan[i].Image); s != nil {
			rep.Plan[i].Platforms = s.platformGrades(false)
		}
	}
	return rep
}

// annotateRetries says, for a dry run, which planned rebuilds ran before
// and whether they would run again, as enqueuePlan decides.
func (o *Orchestrator) annotateRetries(ctx context.Context, steps []PlanStep) error {
	for i := range steps {
		st := &steps[i]
		if st.holdBase {
			continue
		}
		prev, err := store.GetRebuild(ctx, o.db, st.ID)
		if errors.Is(err, store.ErrNotFound) {
			st.Attempt, st.AttemptsLeft = 1, max(o.retryLimit-1, 0)
			continue
		}
		if err != nil {
			return err
		}
		rs := o.retryState(prev, o.wall())
		st.Attempt, st.AttemptsLeft, st.NextAttempt, st.Waiting, st.Duplicate = prev.Attempt, rs.left, rs.next, rs.waiting, !rs.due
		if rs.due {
			st.Attempt++
			st.AttemptsLeft = max(o.retryLimit-st.Attempt, 0)
		}
	}
	return nil
}

// enqueuePlan records the plan, its rebuilds and one notification per
// owner in one transaction, and enqueues what can run now: the rebuilds
// without a parent (a child is enqueued when its parent finishes) and the
// notifications whose owner has nothing left to wait for.
func (o *Orchestrator) enqueuePlan(ctx context.Context, c store.Cycle, rep *Report, states []*imageState, now time.Time) error {
	return o.db.InTx(ctx, func(tx store.Tx) error {
		owners := map[string]bool{}
		revived := map[string]bool{}
		for i := range rep.Plan {
			st := &rep.Plan[i]
			if st.holdBase {
				continue
			}
			s := stateOf(states, st.Image)
			r := store.Rebuild{ID: st.ID, Cycle: c.ID, Image: st.Image, OldDigest: s.digest, Advisories: st.Advisories, Key: st.Key,
				Reason: string(st.Reason), Method: string(st.Method), Parent: st.ParentID, State: string(RebuildPlanned), Detail: st.Why,
				BeforeGrade: letter(st.BeforeGrade), Created: now}
			if act, ok, err := store.ActiveRebuild(ctx, tx, st.Image); err != nil {
				return err
			} else if ok && act.ID != st.ID {
				// One rebuild of an image at a time: this one is planned
				// again once that one is done.
				st.Duplicate = true
				st.Waiting = fmt.Sprintf("waiting for rebuild %s of cycle %s (%s)", act.ID, act.Cycle, act.State)
				continue
			}
			ok, err := store.InsertRebuild(ctx, tx, r)
			if err != nil {
				return err
			}
			attempt := 1
			if !ok {
				prev, err := store.GetRebuild(ctx, tx, st.ID)
				if err != nil {
					return err
				}
				rs := o.retryState(prev, o.wall())
				if !rs.due && RebuildState(prev.State) == RebuildSkipped && revived[st.ParentID] {
					rs.due = true // its parent runs again
				}
				st.Attempt, st.AttemptsLeft, st.NextAttempt, st.Waiting = prev.Attempt, rs.left, rs.next, rs.waiting
				if !rs.due {
					st.Duplicate = true
					continue
				}
				attempt = prev.Attempt + 1
				detail := fmt.Sprintf("attempt %d of %d", attempt, max(o.retryLimit, attempt))
				// The cycle the last run belongs to keeps it in its report.
				if err := store.RecordRun(ctx, tx, store.RebuildRun{Rebuild: prev.ID, Attempt: prev.Attempt, Cycle: prev.Cycle,
					State: prev.State, Detail: prev.Detail, RetriedBy: c.ID, At: prev.Updated}); err != nil {
					return err
				}
				if err := store.ReviveRebuild(ctx, tx, st.ID, c.ID, detail, now); err != nil {
					return err
				}
				o.note(c.ID, "plan", st.Image, "rebuild runs again", fmt.Sprintf("%s: runs again, %s (last: %s)", st.Image, detail, prev.Detail),
					"rebuild", st.ID, "attempt", attempt, "previous", prev.Detail)
				revived[st.ID] = true
				st.Waiting, st.NextAttempt = "", nil
			}
			st.Attempt, st.AttemptsLeft = attempt, max(o.retryLimit-attempt, 0)
			for _, ow := range s.img.Owners {
				owners[ow] = true
			}
			due := st.ParentID == ""
			if !due {
				// A parent planned by an earlier cycle may be done already.
				p, err := store.GetRebuild(ctx, tx, st.ParentID)
				if err != nil {
					return err
				}
				due = RebuildState(p.State).Final()
			}
			if due {
				if _, err := o.eng.InsertTx(ctx, tx, rebuildArgs{Rebuild: st.ID, Image: st.Image, Attempt: attempt}, rebuildPriority(s, st)); err != nil {
					return err
				}
			}
		}
		for _, w := range rep.Warnings {
			if img := o.image(w.Image); img != nil {
				for _, ow := range img.Owners {
					owners[ow] = true
				}
			}
		}
		for _, ow := range o.failedImageOwners(rep) {
			owners[ow] = true
		}
		if err := o.clearRecovered(ctx, tx, states); err != nil {
			return err
		}
		if err := o.requeueUndelivered(ctx, tx, c.ID); err != nil {
			return err
		}
		for _, ow := range sortedKeys(owners) {
			if _, err := store.InsertNotification(ctx, tx, store.Notification{ID: c.ID + "/" + ow, Cycle: c.ID, Owner: ow, Kind: "cycle"}); err != nil {
				return err
			}
		}
		plan, err := encodePlan(rep)
		if err != nil {
			return err
		}
		if err := store.FinishCycle(ctx, tx, c.ID, string(CyclePlanned), plan, o.now()); err != nil {
			return err
		}
		return o.enqueueDueNotifications(ctx, tx, c.ID)
	})
}
