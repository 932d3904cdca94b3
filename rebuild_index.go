package abs

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river/rivertype"

	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// targetImage points t at what desc (the image being rebuilt) is: its
// image, or for an index the index with its platforms, so that
// rebuild.Run rebuilds every platform as one unit (rebased per platform
// onto the matching image of the new base index, or built per platform
// from source). It returns the image whose labels carry the version: the
// image itself, or the index's first platform image.
func (o *Orchestrator) targetImage(desc *remote.Descriptor, t *rebuild.Target) (v1.Image, error) {
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		t.Image = img
		return img, err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	ds, err := indexImages(idx)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("index %s has no platform image", desc.Digest)
	}
	t.Index = idx
	// The platform images only: attestations are carried over (or
	// dropped with the image they describe) by rebuild.Run.
	for _, d := range ds {
		t.Platforms = append(t.Platforms, *d.Platform)
	}
	return idx.Image(ds[0].Digest)
}

// finishIndex is the end of workRebuild for a multi-platform image: it
// verifies every platform of the new index (verifyIndex), stages the
// index by digest only when all passed, records it verified with each
// platform's grade and enqueues its publish, in one transaction. A
// platform that fails fails the whole rebuild, naming the platform;
// nothing is staged or published.
func (o *Orchestrator) finishIndex(ctx context.Context, job *rivertype.JobRow, r store.Rebuild, img *Image, built *rebuild.Outcome) error {
	after, pgs, err := o.verifyIndex(ctx, r, img, built)
	if err != nil {
		return o.fail(ctx, job, r, "verify", err)
	}
	newDigest := built.Digest.String()
	dref, err := o.digestRef(img.Repository + "@" + newDigest)
	if err != nil {
		return o.fail(ctx, job, r, "stage", permanent("stage", err))
	}
	if _, herr := remote.Head(dref, o.ropts(ctx)...); herr != nil {
		if err := remote.WriteIndex(dref, built.Index, o.ropts(ctx)...); err != nil {
			return o.fail(ctx, job, r, "stage", err)
		}
	}
	o.note(r.Cycle, "verify", r.Image, "rebuild verified",
		fmt.Sprintf("%s: rebuilt index %s -> %s, grade %s -> %s (%s)", r.Image, short(r.OldDigest), short(newDigest), r.BeforeGrade, after,
			platformText(pgs)),
		"rebuild", r.ID, "old_digest", r.OldDigest, "new_digest", newDigest, "grade_before", r.BeforeGrade, "grade_after", after,
		"platforms", platformText(pgs))
	return o.db.InTx(ctx, func(tx store.Tx) error {
		if err := store.UpdateRebuild(ctx, tx, r.ID, store.RebuildUpdate{State: string(RebuildBuilt), Detail: verifiedDetail(pgs),
			NewDigest: newDigest, AfterGrade: letter(after)}, o.now()); err != nil {
			return err
		}
		_, err := o.eng.InsertTx(ctx, tx, publishArgs{Rebuild: r.ID, Image: r.Image}, nil)
		return err
	})
}

// verifyIndex checks every platform of a rebuilt index against the same
// platform of the index it replaces, as verify does for one image: a
// containers/image client can pull it, and its rescan fixes the
// advisories of the rebuild, grades no worse and carries no unapplied
// advisory the old platform image did not; then the certification gate
// (certifyRebuild) reads the whole index. A platform carried over
// unchanged is judged from its stored inventory. The new inventories are
// stored only when every platform passed. It returns the index's grade
// (the worst platform's) and each platform's.
func (o *Orchestrator) verifyIndex(ctx context.Context, r store.Rebuild, img *Image, built *rebuild.Outcome) (healthindex.Grade, []PlatformGrade, error) {
	if err := rebuild.CheckPullableIndex(built.Index); err != nil {
		return 0, nil, permanent("verify", err)
	}
	oldRef, err := o.digestRef(img.Repository + "@" + r.OldDigest)
	if err != nil {
		return 0, nil, permanent("verify", err)
	}
	oldIdx, err := remote.Index(oldRef, o.ropts(ctx)...)
	if err != nil {
		return 0, nil, fmt.Errorf("old index: %w", err)
	}
	olds, err := indexImages(oldIdx)
	if err != nil {
		return 0, nil, fmt.Errorf("old index: %w", err)
	}
	news, err := indexImages(built.Index)
	if err != nil {
		return 0, nil, permanent("verify", err)
	}
	if len(news) != len(olds) {
		return 0, nil, permanent("verify", fmt.Errorf("the new index has %d platform images, the old one %d", len(news), len(olds)))
	}
	m, err := o.matcherFor(ctx)
	if err != nil {
		return 0, nil, err
	}
	now := o.now()
	var (
		worst healthindex.Grade
		pgs   []PlatformGrade
		fresh []*rpmscan.Inventory
		// every platform's inventory, new and old, for the
		// certification gate
		newInvs, oldInvs []*rpmscan.Inventory
	)
	for _, d := range news {
		p := *d.Platform
		pfail := func(err error) error { return permanent("verify", &rebuild.PlatformError{Platform: p, Err: err}) }
		var old *v1.Descriptor
		for i := range olds {
			if rebuild.SamePlatform(*olds[i].Platform, p) {
				old = &olds[i]
			}
		}
		if old == nil {
			return 0, nil, pfail(fmt.Errorf("%w: the image it replaces has no such platform", rebuild.ErrPlatformMissing))
		}
		oldInv, err := store.Inventory(ctx, o.db, old.Digest.String())
		if err != nil {
			return 0, nil, &rebuild.PlatformError{Platform: p, Err: fmt.Errorf("old inventory: %w", err)}
		}
		inv := oldInv
		if d.Digest != old.Digest {
			child, err := built.Index.Image(d.Digest)
			if err != nil {
				return 0, nil, &rebuild.PlatformError{Platform: p, Err: err}
			}
			// A real client must be able to pull it (see verify).
			if err := rebuild.CheckPullable(child); err != nil {
				return 0, nil, pfail(err)
			}
			if inv, err = o.scanner.Scan(ctx, child); err != nil {
				return 0, nil, &rebuild.PlatformError{Platform: p, Err: fmt.Errorf("rescan: %w", err)}
			}
			inv.Image.Digest = d.Digest.String()
			fresh = append(fresh, inv)
		}
		g, err := o.noWorse(m, r, oldInv, inv, now)
		if err != nil {
			return 0, nil, pfail(err)
		}
		newInvs, oldInvs = append(newInvs, inv), append(oldInvs, oldInv)
		worst = max(worst, g)
		pgs = append(pgs, PlatformGrade{Platform: rebuild.PlatformString(p), Digest: d.Digest.String(), Grade: g})
	}
	if err := o.certifyRebuild(ctx, r, img, rebuildArtifact{Index: built.Index, Inventories: newInvs, Current: oldInvs}); err != nil {
		return 0, nil, err
	}
	for _, inv := range fresh {
		if err := store.PutInventory(ctx, o.db, inv, o.scannerKey, now); err != nil {
			return 0, nil, err
		}
	}
	return worst, pgs, nil
}
