package abs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
)

// Kinds of failures told once (store.Mailed).
const (
	mailImage   = "image"   // the image could not be read or scanned
	mailRebuild = "rebuild" // a rebuild of the image failed
)

// failurePrint is what makes a failure the same failure for mail: its
// stage and cause, not the log tail (which carries times and paths) nor
// the rebuild's attempt.
func failurePrint(f *notify.Failure) string {
	h := sha256.Sum256([]byte(f.Stage + "\x00" + f.Cause))
	return hex.EncodeToString(h[:12])
}

func mailKind(k notify.Kind) string {
	switch k {
	case notify.KindImageFailed:
		return mailImage
	case notify.KindRebuildFailed:
		return mailRebuild
	}
	return ""
}

// tellAgain reports whether a failure with fingerprint fp is news to an
// owner last told prev (ok: told at all) at now: a different failure, or
// the same one after the reminder interval.
func tellAgain(prev store.Mailed, ok bool, fp string, now time.Time, reminder time.Duration) bool {
	return !ok || prev.Fingerprint != fp || reminder <= 0 || now.Sub(prev.Sent) >= reminder
}

// mailMark is a failure to record as told once the message went out.
type mailMark struct{ image, kind, fp string }

// dedupFailures drops from events the failures the owner was told about
// already (the same image, kind and failure fingerprint, within the
// reminder interval, WithFailureReminder), and returns what to record
// once the message is delivered (recordMailed). The reminder runs on the
// wall clock.
func (o *Orchestrator) dedupFailures(ctx context.Context, owner string, events []notify.Event) (kept []notify.Event, marks []mailMark, dropped int, err error) {
	now := o.wall()
	for _, ev := range events {
		kind := mailKind(ev.Kind)
		if kind == "" || ev.Failure == nil {
			kept = append(kept, ev)
			continue
		}
		fp := failurePrint(ev.Failure)
		prev, ok, err := store.GetMailed(ctx, o.db, ev.Image, owner, kind)
		if err != nil {
			return nil, nil, 0, err
		}
		if !tellAgain(prev, ok, fp, now, o.failureReminder()) {
			dropped++
			continue
		}
		kept = append(kept, ev)
		marks = append(marks, mailMark{image: ev.Image, kind: kind, fp: fp})
	}
	return kept, marks, dropped, nil
}

// recordMailed records the failures told, and forgets the rebuild
// failures of images whose rebuild was published: a failure coming back
// after that is news again.
func (o *Orchestrator) recordMailed(ctx context.Context, owner string, events []notify.Event, marks []mailMark) error {
	now := o.wall()
	for _, m := range marks {
		if err := store.SetMailed(ctx, o.db, m.image, owner, m.kind, m.fp, now); err != nil {
			return err
		}
	}
	for _, ev := range events {
		if ev.Kind == notify.KindRebuilt {
			if _, err := store.ClearMailed(ctx, o.db, ev.Image, mailRebuild); err != nil {
				return err
			}
		}
	}
	return nil
}

// clearRecovered forgets the told read and scan failures of the images a
// cycle read and scanned: the same failure coming back is news again.
func (o *Orchestrator) clearRecovered(ctx context.Context, q store.Querier, states []*imageState) error {
	for _, s := range states {
		if s.err != nil {
			continue
		}
		if _, err := store.ClearMailed(ctx, q, s.img.Ref(), mailImage); err != nil {
			return err
		}
	}
	return nil
}
