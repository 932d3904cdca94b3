package abs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
)

// workNotify sends one owner the message of one cycle, at most once. It is
// enqueued when the owner's last rebuild of the cycle is final.
func (o *Orchestrator) workNotify(ctx context.Context, job *river.Job[notifyArgs]) error {
	a := job.Args
	n, err := store.GetNotification(ctx, o.db, a.Notification)
	if err != nil {
		return err
	}
	switch NotificationState(n.State) {
	case NotificationSent, NotificationFailed:
		return nil
	case NotificationSending:
		// A process stopped hard while sending: the message may have
		// gone out. Never send it twice.
		o.log.Warn("notification may not have been delivered: the process stopped while sending it",
			"owner", a.Owner, "cycle", a.Cycle)
		return store.MarkSent(ctx, o.db, n.ID, `[{"unconfirmed":true}]`, o.now())
	}
	owned := func(image string) bool {
		img := o.byName[image]
		return img != nil && slices.Contains(img.Owners, a.Owner)
	}
	rebuilds, err := store.Rebuilds(ctx, o.db, a.Cycle)
	if err != nil {
		return err
	}
	var events []notify.Event
	now := o.now()
	for _, r := range rebuilds {
		if !owned(r.Image) {
			continue
		}
		if !RebuildState(r.State).Final() {
			// Not reached in normal operation: the job is enqueued when
			// the owner's last rebuild is final.
			return river.JobSnooze(time.Second)
		}
		ev := notify.Event{Time: r.Updated, Image: o.byName[r.Image].Ref(), Owner: a.Owner}
		switch RebuildState(r.State) {
		case RebuildPublished:
			p, err := store.GetPush(ctx, o.db, r.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			ev.Kind = notify.KindRebuilt
			ev.Rebuilt = &notify.Rebuilt{OldDigest: r.OldDigest, NewDigest: r.NewDigest, Tags: p.Tags,
				Advisories: r.Advisories, GradeBefore: r.BeforeGrade, GradeAfter: r.AfterGrade}
		case RebuildFailed:
			stage, cause, _ := strings.Cut(r.Detail, ": ")
			ev.Kind, ev.Failure = notify.KindRebuildFailed, &notify.Failure{Stage: stage, Cause: cause}
		case RebuildSkipped:
			ev.Kind, ev.Skip = notify.KindPublishSkipped, &notify.Skip{Reason: r.Detail}
		}
		events = append(events, ev)
	}
	c, err := store.GetCycle(ctx, o.db, a.Cycle)
	if err != nil {
		return err
	}
	plan, err := decodePlan(c.Plan)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		if !owned(w.Image) {
			continue
		}
		events = append(events, notify.Event{Kind: notify.KindGradeDropping, Time: now, Image: o.byName[w.Image].Ref(),
			Owner: a.Owner, GradeDrop: &notify.GradeDrop{At: w.At, Advisory: w.Advisory, From: w.From, To: w.To}})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on a cancellation must not split sending from recording:
	// a message sent and not recorded would be sent again.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if len(events) > 0 {
		// Record the attempt first: a hard stop during the send leaves
		// "sending", which is never sent again (at most once).
		if err := store.SetNotificationState(sendCtx, o.db, n.ID, store.NoteSending); err != nil {
			return err
		}
		if err := o.notifier.Notify(sendCtx, events); err != nil {
			next := store.NotePending
			if job.Attempt >= job.MaxAttempts {
				next = store.NoteFailed // give up: the report says so
				o.note(a.Cycle, "notify", "", "notification failed", fmt.Sprintf("could not tell %s: %v", a.Owner, err),
					"owner", a.Owner, "error", err.Error())
			}
			if rerr := store.SetNotificationState(sendCtx, o.db, n.ID, next); rerr != nil {
				return errors.Join(err, rerr)
			}
			return fmt.Errorf("abs: notify %s: %w", a.Owner, err)
		}
	}
	summary, _ := json.Marshal(events)
	o.note(a.Cycle, "notify", "", "owner told", fmt.Sprintf("told %s about %d event(s)", a.Owner, len(events)),
		"owner", a.Owner, "events", len(events))
	return store.MarkSent(sendCtx, o.db, n.ID, string(summary), o.now())
}
