package abs

import (
	"context"
	"slices"
	"time"

	"github.com/openabs/abs/internal/store"
)

// finishRebuild records a rebuild's new state in tx and, when the state is
// final, enqueues in the same transaction what was waiting for it: the
// rebuilds planned on it (its children) and the notifications of owners
// who have nothing else left to wait for. No job polls for its turn.
func (o *Orchestrator) finishRebuild(ctx context.Context, tx store.Tx, r store.Rebuild, u store.RebuildUpdate, now time.Time) error {
	if err := store.UpdateRebuild(ctx, tx, r.ID, u, now); err != nil {
		return err
	}
	if !RebuildState(u.State).Final() {
		return nil
	}
	children, err := store.Children(ctx, tx, r.ID)
	if err != nil {
		return err
	}
	for _, c := range children {
		if RebuildState(c.State).Final() {
			continue
		}
		if _, err := o.eng.InsertTx(ctx, tx, rebuildArgs{Rebuild: c.ID, Image: c.Image, Attempt: c.Attempt}, nil); err != nil {
			return err
		}
	}
	return o.enqueueDueNotifications(ctx, tx, r.Cycle)
}

// finish is finishRebuild in a transaction of its own.
func (o *Orchestrator) finish(ctx context.Context, r store.Rebuild, u store.RebuildUpdate) error {
	return o.db.InTx(ctx, func(tx store.Tx) error { return o.finishRebuild(ctx, tx, r, u, o.now()) })
}

// enqueueDueNotifications enqueues the notify job of every pending
// notification of the cycle whose owner's rebuilds are all final. The
// notification rows are locked first (in id order), so two transactions
// that finish an owner's last two rebuilds at once cannot both miss it.
// A notify job is unique per notification: enqueueing it twice is a
// no-op.
func (o *Orchestrator) enqueueDueNotifications(ctx context.Context, tx store.Tx, cycle string) error {
	notes, err := store.Notifications(ctx, tx, cycle)
	if err != nil {
		return err
	}
	var pending []store.Notification
	for _, n := range notes {
		if NotificationState(n.State) == NotificationPending {
			if err := store.LockNotification(ctx, tx, n.ID); err != nil {
				return err
			}
			pending = append(pending, n)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	// Only the images of rebuilds not final yet: this runs each time a
	// rebuild ends, so it must not read every rebuild of a large cycle.
	open, err := store.UnfinishedImages(ctx, tx, cycle)
	if err != nil {
		return err
	}
	for _, n := range pending {
		if !o.ownerDone(n.Owner, open) {
			continue
		}
		if _, err := o.eng.InsertTx(ctx, tx, notifyArgs{Notification: n.ID, Cycle: cycle, Owner: n.Owner}, nil); err != nil {
			return err
		}
	}
	return nil
}

// ownerDone reports whether none of an owner's images is among open (the
// images whose rebuild is not final).
func (o *Orchestrator) ownerDone(owner string, open []string) bool {
	for _, name := range open {
		img := o.image(name)
		if img != nil && slices.Contains(img.Owners, owner) {
			return false
		}
	}
	return true
}
