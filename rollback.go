package abs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
)

// MethodRollback marks the rebuild-history entry of a rollback
// (Orchestrator.Rollback).
const MethodRollback Method = "rollback"

// ReasonRollback is the reason of a rollback's history entry.
const ReasonRollback Reason = "rollback"

// ErrNothingToRollBack is returned by Rollback for an image the
// orchestrator never published.
var ErrNothingToRollBack = errors.New("abs: nothing to roll back")

// Publication is one digest published for an image, by a rebuild or a
// rollback.
type Publication struct {
	// Rebuild is the id of the rebuild (or rollback) that published it.
	Rebuild string    `json:"rebuild"`
	Digest  string    `json:"digest"`
	Tags    []string  `json:"tags,omitempty"`
	At      time.Time `json:"at"`
	// Rollback is set when Rollback published it.
	Rollback bool `json:"rollback,omitempty"`
	// From is the digest it replaced.
	From string `json:"from,omitempty"`
}

// Publications returns what the orchestrator published for an image,
// newest first.
func (o *Orchestrator) Publications(ctx context.Context, image string) ([]Publication, error) {
	pushes, err := store.Pushes(ctx, o.db, image)
	if err != nil {
		return nil, fmt.Errorf("abs: publications of %s: %w", image, err)
	}
	out := make([]Publication, 0, len(pushes))
	for _, p := range pushes {
		pub := Publication{Rebuild: p.Rebuild, Digest: p.Digest, Tags: p.Tags, At: p.At}
		if r, err := store.GetRebuild(ctx, o.db, p.Rebuild); err == nil {
			pub.Rollback, pub.From = Method(r.Method) == MethodRollback, r.OldDigest
		}
		out = append(out, pub)
	}
	return out, nil
}

// Rollback moves an image's floating tags back to the digest published
// before the current one (the image as it was before its first rebuild,
// when it was rebuilt once), through the publisher, so that a catalog
// publisher (publish.Chain with publish.Catalog) moves the catalog entry
// as well. The rollback is recorded in the image's history (Publications,
// a rebuild entry with MethodRollback) and its owners are notified. A
// second Rollback undoes the first. The rebuild rolled back stays
// recorded as done, so later cycles do not rebuild the same image for the
// same advisories again; Orchestrator.Retry does.
func (o *Orchestrator) Rollback(ctx context.Context, image string) (*Publication, error) {
	img := o.image(image)
	if img == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownImage, image)
	}
	pushes, err := store.Pushes(ctx, o.db, image)
	if err != nil {
		return nil, fmt.Errorf("abs: rollback %s: %w", image, err)
	}
	if len(pushes) == 0 {
		return nil, fmt.Errorf("%w: %s was never published by the orchestrator", ErrNothingToRollBack, image)
	}
	cur := pushes[0].Digest
	prev := ""
	for _, p := range pushes[1:] {
		if p.Digest != cur {
			prev = p.Digest
			break
		}
	}
	if prev == "" {
		r, err := store.GetRebuild(ctx, o.db, pushes[0].Rebuild)
		if err != nil {
			return nil, fmt.Errorf("abs: rollback %s: %w", image, err)
		}
		prev = r.OldDigest
	}
	if prev == "" || prev == cur {
		return nil, fmt.Errorf("%w: %s has no earlier digest", ErrNothingToRollBack, image)
	}
	ref, err := o.digestRef(img.Repository + "@" + prev)
	if err != nil {
		return nil, fmt.Errorf("abs: rollback %s: %w", image, err)
	}
	old, err := remote.Image(ref, o.ropts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("abs: rollback %s: read %s: %w", image, short(prev), err)
	}
	vt := "rebuild-" + strings.TrimPrefix(prev, "sha256:")[:12]
	if cf, err := old.ConfigFile(); err == nil {
		if t, err := publish.VersionTag(cf.Config.Labels["version"], cf.Config.Labels[rebuild.LabelRelease]); err == nil {
			vt = t
		}
	}
	res, err := o.publisher.Publish(ctx, publish.Request{Repository: img.Repository, Image: old, VersionTag: vt, FloatingTags: img.Tags,
		Catalog: publish.CatalogTarget{ProjectID: o.projectID(img), ImageID: img.CatalogImageID}})
	if err != nil {
		return nil, fmt.Errorf("abs: rollback %s: %w", image, o.scrubErr(err))
	}
	var tags []string
	if res != nil {
		for _, t := range res.Tags {
			tags = append(tags, t.Tag)
		}
	}
	now := o.now()
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%d", image, cur, prev, o.wall().UnixNano()))
	id := "rollback-" + hex.EncodeToString(h[:8])
	detail := fmt.Sprintf("rolled back from %s to %s", short(cur), short(prev))
	rctx := context.WithoutCancel(ctx) // the tags moved: record it even when stopping
	err = o.db.InTx(rctx, func(tx store.Tx) error {
		if _, err := store.InsertRebuild(rctx, tx, store.Rebuild{ID: id, Cycle: "", Image: image, OldDigest: cur, NewDigest: prev,
			Key: "rollback:" + id, Reason: string(ReasonRollback), Method: string(MethodRollback), State: string(RebuildPublished),
			Detail: detail, Created: now}); err != nil {
			return err
		}
		_, err := store.RecordPush(rctx, tx, id, image, prev, tags, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("abs: rollback %s: record: %w", image, err)
	}
	o.note("", "publish", image, "rolled back", fmt.Sprintf("%s: %s, tags %s", image, detail, strings.Join(tags, ", ")),
		"from", cur, "to", prev, "tags", tags)
	var events []notify.Event
	for _, ow := range img.Owners {
		events = append(events, notify.Event{Kind: notify.KindRebuilt, Time: now, Image: img.Ref(), Owner: ow,
			Rebuilt: &notify.Rebuilt{OldDigest: cur, NewDigest: prev, Tags: tags}})
	}
	if len(events) > 0 {
		if err := o.notifier.Notify(ctx, events); err != nil {
			// The rollback is done and recorded; say the mail failed.
			return &Publication{Rebuild: id, Digest: prev, Tags: tags, At: now, Rollback: true, From: cur},
				fmt.Errorf("abs: rollback %s: notify: %w", image, o.scrubErr(err))
		}
	}
	return &Publication{Rebuild: id, Digest: prev, Tags: tags, At: now, Rollback: true, From: cur}, nil
}
