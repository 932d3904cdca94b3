package abs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/openabs/abs/internal/store"
)

// workCycle runs one cycle job: the planning half of the pipeline. A
// retried job resumes from the recorded cycle state.
func (o *Orchestrator) workCycle(ctx context.Context, job *river.Job[cycleArgs]) error {
	a := job.Args
	c, err := store.GetCycle(ctx, o.db, a.Cycle)
	if errors.Is(err, store.ErrNotFound) {
		// Enqueued by the poll loop: record it now.
		c = store.Cycle{ID: a.Cycle, Cause: a.Cause, Advisory: a.Advisory, DryRun: a.DryRun, State: string(CycleQueued), Started: o.now()}
		if _, err := store.PutCycle(ctx, o.db, c); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	switch CycleState(c.State) {
	case CyclePlanned, CycleDryRun, CycleFailed:
		return nil // a previous attempt finished the cycle
	case CycleQueued:
		if _, err := o.db.Exec(ctx, `UPDATE abs_cycle SET state = $2 WHERE id = $1`, c.ID, string(CycleRunning)); err != nil {
			return err
		}
	}
	if err := o.cycle(withManual(ctx, a.Rebuild), c); err != nil {
		if snooze, ok := o.cycleSnooze(c.ID, err); ok {
			return snooze
		}
		err = o.scrubErr(err)
		if ctx.Err() == nil && job.Attempt >= job.MaxAttempts {
			o.note(a.Cycle, "cycle", "", "cycle failed", fmt.Sprintf("cycle failed: %v", err), "error", err.Error())
			return store.FinishCycle(ctx, o.db, c.ID, string(CycleFailed), err.Error(), o.now())
		}
		o.note(a.Cycle, "cycle", "", "cycle failed, will retry",
			fmt.Sprintf("cycle failed (attempt %d, will retry): %v", job.Attempt, err), "attempt", job.Attempt, "error", err.Error())
		return err
	}
	return nil
}
