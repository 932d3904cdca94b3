package abs

import (
	"context"
	"fmt"

	"github.com/openabs/abs/internal/store"
)

// actorOf returns the actor WithActor set, if any.
func actorOf(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(actorKey{}).(string)
	return a, ok && a != ""
}

// auditCycle records a cycle someone asked for in the audit log, in the
// transaction that queues it: a manual rebuild (RebuildNow) always, any
// other cycle when its context names an actor (WithActor: the REST API,
// the console, the advisory push). The cycles the poll loop starts are
// not recorded there.
func (o *Orchestrator) auditCycle(ctx context.Context, tx store.Tx, id, cause string, opts CycleOptions) error {
	switch {
	case opts.audited || opts.DryRun:
		return nil
	case opts.manual != "":
		return o.audit(ctx, tx, "rebuild", opts.manual, "manual rebuild; cycle "+id)
	}
	if _, ok := actorOf(ctx); !ok {
		return nil
	}
	detail := "cause " + cause
	if opts.Advisory != "" {
		detail += fmt.Sprintf(", advisory %s", opts.Advisory)
	}
	action := "start-cycle"
	if cause == "trigger" {
		action = "trigger"
	}
	return o.audit(ctx, tx, action, id, detail)
}
