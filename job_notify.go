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
	if err := o.refreshImages(ctx); err != nil { // owners changed by any replica
		return err
	}
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
		img := o.image(image)
		return img != nil && slices.Contains(img.Owners, a.Owner)
	}
	rebuilds, err := store.Rebuilds(ctx, o.db, a.Cycle)
	if err != nil {
		return err
	}
	c, err := store.GetCycle(ctx, o.db, a.Cycle)
	if err != nil {
		return err
	}
	plan, err := decodePlan(c.Plan)
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
		ev := notify.Event{Time: r.Updated, Image: o.imageRef(r.Image), Owner: a.Owner}
		switch RebuildState(r.State) {
		case RebuildPublished:
			p, err := store.GetPush(ctx, o.db, r.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			ev.Kind = notify.KindRebuilt
			ev.Rebuilt = &notify.Rebuilt{OldDigest: r.OldDigest, NewDigest: r.NewDigest, Tags: p.Tags,
				Advisories: r.Advisories, GradeBefore: r.BeforeGrade, GradeAfter: r.AfterGrade}
			o.platformGradeText(ctx, plan, r, ev.Rebuilt)
		case RebuildFailed:
			first, tail := splitDetail(o.scrubText(r.Detail))
			stage, cause, _ := strings.Cut(first, ": ")
			ev.Kind, ev.Failure = notify.KindRebuildFailed, &notify.Failure{Stage: stage, Cause: cause, Log: tail}
		case RebuildSkipped:
			ev.Kind, ev.Skip = notify.KindPublishSkipped, &notify.Skip{Reason: r.Detail}
		}
		events = append(events, ev)
	}
	for _, i := range plan.Images {
		if i.Error == "" || !owned(i.Name) {
			continue
		}
		events = append(events, notify.Event{Kind: notify.KindImageFailed, Time: now, Image: o.imageRef(i.Name),
			Owner: a.Owner, Failure: &notify.Failure{Stage: "scan", Cause: o.scrubText(i.Error)}})
	}
	for _, w := range plan.Warnings {
		if !owned(w.Image) {
			continue
		}
		events = append(events, notify.Event{Kind: notify.KindGradeDropping, Time: now, Image: o.imageRef(w.Image),
			Owner: a.Owner, GradeDrop: &notify.GradeDrop{At: w.At, Advisory: w.Advisory, From: w.From, To: w.To}})
	}
	events, marks, dropped, err := o.dedupFailures(ctx, a.Owner, events)
	if err != nil {
		return err
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
			err = o.scrubErr(err)
			if job.Attempt >= min(job.MaxAttempts, notifyAttempts) {
				// Not delivered: the report says so, and the next cycle
				// tries again. A notification is never dropped.
				o.note(a.Cycle, "notify", "", "notification not delivered, will retry next cycle",
					fmt.Sprintf("could not tell %s (will retry next cycle): %v", a.Owner, err), "owner", a.Owner, "error", err.Error())
				doc, _ := json.Marshal(undelivered{Error: err.Error(), Attempts: job.Attempt, Retry: a.Retry})
				return store.UpdateNotification(sendCtx, o.db, n.ID, store.NoteFailed, string(doc))
			}
			if rerr := store.SetNotificationState(sendCtx, o.db, n.ID, store.NotePending); rerr != nil {
				return errors.Join(err, rerr)
			}
			return fmt.Errorf("abs: notify %s: %w", a.Owner, err)
		}
	}
	if err := o.recordMailed(sendCtx, a.Owner, events, marks); err != nil {
		// Sent, not recorded as told: the failures are told once more.
		o.log.Warn("record mailed failures", "owner", a.Owner, "error", err.Error())
	}
	summary, _ := json.Marshal(events)
	text := fmt.Sprintf("told %s about %d event(s)", a.Owner, len(events))
	if dropped > 0 {
		text += fmt.Sprintf("; %d failure(s) told before left out", dropped)
	}
	if a.Retry != "" {
		text += fmt.Sprintf(" (retried by cycle %s)", a.Retry)
	}
	o.note(a.Cycle, "notify", "", "owner told", text, "owner", a.Owner, "events", len(events), "retry", a.Retry, "repeated_failures", dropped)
	return store.MarkSent(sendCtx, o.db, n.ID, string(summary), o.now())
}

// notifyAttempts is how often one cycle tries to deliver a notification
// (with the job backoff between tries) before it leaves it to the next
// cycle.
const notifyAttempts = 3

// undelivered is the stored summary of a notification that could not be
// delivered yet (Error), or that a later cycle (Retry) tries again.
type undelivered struct {
	Error    string `json:"error,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Retry    string `json:"retry,omitempty"`
}

// requeueUndelivered sets every undelivered notification of earlier
// cycles pending again and enqueues its delivery, in the transaction of
// cycle's plan: each cycle tries again what earlier ones could not
// deliver.
func (o *Orchestrator) requeueUndelivered(ctx context.Context, tx store.Tx, cycle string) error {
	notes, err := store.NotificationsIn(ctx, tx, store.NoteFailed)
	if err != nil {
		return err
	}
	for _, n := range notes {
		if n.Cycle == cycle {
			continue
		}
		var u undelivered
		_ = json.Unmarshal([]byte(n.Summary), &u)
		u.Retry = cycle
		doc, _ := json.Marshal(u)
		if err := store.UpdateNotification(ctx, tx, n.ID, store.NotePending, string(doc)); err != nil {
			return err
		}
		if _, err := o.eng.InsertTx(ctx, tx, notifyArgs{Notification: n.ID, Cycle: n.Cycle, Owner: n.Owner, Retry: cycle}, nil); err != nil {
			return err
		}
		o.note(cycle, "notify", "", "retrying undelivered notification",
			fmt.Sprintf("retrying the notification of %s from cycle %s", n.Owner, n.Cycle), "owner", n.Owner, "from_cycle", n.Cycle)
	}
	return nil
}

// failedImageOwners returns the owners of the images a report could not
// read or scan: they are told, as owners of rebuilds are.
func (o *Orchestrator) failedImageOwners(rep *Report) []string {
	var out []string
	for _, i := range rep.Images {
		if img := o.image(i.Name); i.Error != "" && img != nil {
			out = append(out, img.Owners...)
		}
	}
	return out
}

// retriedBy returns the notifications of earlier cycles that cycle
// retries and that are not delivered yet: a cycle is done only when they
// are sent or failed again.
func (o *Orchestrator) retriedBy(ctx context.Context, cycle string) ([]store.Notification, error) {
	notes, err := store.NotificationsIn(ctx, o.db, store.NotePending, store.NoteSending, store.NoteFailed)
	if err != nil {
		return nil, err
	}
	var out []store.Notification
	for _, n := range notes {
		var u undelivered
		if n.Cycle != cycle && json.Unmarshal([]byte(n.Summary), &u) == nil && u.Retry == cycle {
			out = append(out, n)
		}
	}
	return out, nil
}
