package abs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/secret"
)

// sync fetches every source from its stored cursor and applies the batch
// with advisory.ApplyBatch (advisories and VEX documents, replaced sources,
// the newer Updated wins, withdrawals) together with the new cursor, in
// one transaction per source, so a crash neither loses nor repeats a step.
// It returns the ids of new or changed advisories. In a dry run (a context
// carrying an overlay) the batches are applied to the overlay only and no
// cursor moves.
func (o *Orchestrator) sync(ctx context.Context, cycle string) ([]string, error) {
	var changed []string
	for _, src := range o.sources {
		srcName := secret.HideUserinfo(src.Name()) // a feed URL may carry credentials
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
			o.note(cycle, "sync", "", "document skipped", fmt.Sprintf("skipped a document: %v", scrubUserinfo(e)),
				"source", srcName, "error", scrubUserinfo(e).Error())
		}
		var applied advisory.Applied
		if ov := overlayOf(ctx); ov != nil {
			// A dry run: apply to memory, keep the cursor.
			if applied, err = advisory.ApplyBatch(ctx, ov, b); err != nil {
				return nil, fmt.Errorf("abs: apply advisories of %s: %w", srcName, err)
			}
		} else {
			err = o.db.InTx(ctx, func(tx store.Tx) error {
				now := o.now()
				var err error
				if applied, err = advisory.ApplyBatch(ctx, store.Sink(tx, now), b); err != nil {
					return fmt.Errorf("abs: store advisories of %s: %w", srcName, err)
				}
				return store.SetCursor(ctx, tx, srcName, b.Cursor.Encode(), now)
			})
			if err != nil {
				return nil, err
			}
		}
		o.note(cycle, "sync", "", "source synced",
			fmt.Sprintf("%s: %d new or changed advisories, %d withdrawn", srcName, len(applied.Advisories), applied.Deleted),
			"source", srcName, "advisories", len(applied.Advisories), "vex", len(applied.VEX), "withdrawn", applied.Deleted)
		changed = append(changed, applied.Advisories...)
	}
	sort.Strings(changed)
	return slices.Compact(changed), nil
}

// scrubUserinfo returns err, or an error with its message when that
// quotes URL credentials.
func scrubUserinfo(err error) error {
	if msg := secret.HideUserinfo(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}
