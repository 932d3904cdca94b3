package abs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
)

// workPublish publishes one verified rebuild and records the push in the
// transaction that finishes the rebuild.
func (o *Orchestrator) workPublish(ctx context.Context, job *river.Job[publishArgs]) error {
	r, err := store.GetRebuild(ctx, o.db, job.Args.Rebuild)
	if err != nil {
		return err
	}
	if RebuildState(r.State) != RebuildBuilt {
		return nil // published before, or never built
	}
	if err := o.refreshImages(ctx); err != nil {
		return err
	}
	img := o.image(r.Image)
	if img == nil || !img.AutoPublish {
		detail := "auto-publish is off; the verified rebuild is staged as " + r.Image + "@" + r.NewDigest
		if img == nil {
			detail = "image is no longer managed; the verified rebuild is staged as " + r.Image + "@" + r.NewDigest
		}
		return o.finish(ctx, r, store.RebuildUpdate{State: string(RebuildSkipped), Detail: detail})
	}
	if err := o.admitPublish(ctx, job.JobRow, r, img); err != nil { // storm.go: pause, freeze
		return err
	}
	ref, err := o.digestRef(img.Repository + "@" + r.NewDigest)
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "publish", permanent("publish", err))
	}
	desc, err := remote.Get(ref, o.ropts(ctx)...)
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "publish", err)
	}
	// An index is published as a whole: its platforms, annotations and
	// media types as staged; its first platform image carries the
	// version labels.
	var t rebuild.Target
	newImg, err := o.targetImage(desc, &t)
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "publish", err)
	}
	cf, err := newImg.ConfigFile()
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "publish", err)
	}
	version, release := cf.Config.Labels["version"], cf.Config.Labels[rebuild.LabelRelease]
	vt, err := publish.VersionTag(version, release)
	if err != nil {
		vt = "rebuild-" + strings.TrimPrefix(r.NewDigest, "sha256:")[:12]
	}
	req := publish.Request{Repository: img.Repository, Image: newImg, VersionTag: vt, FloatingTags: img.Tags,
		Catalog: publish.CatalogTarget{ProjectID: o.projectID(img), ImageID: img.CatalogImageID}}
	if t.Index != nil {
		req.Image, req.Index = nil, t.Index
	}
	// Signed before any tag moves (supplychain.go).
	if err := o.signRebuild(ctx, r, img); err != nil {
		return o.fail(ctx, job.JobRow, r, "sign", err)
	}
	res, err := o.publisher.Publish(ctx, req)
	if err != nil {
		var it *publish.ImmutableTagError
		if errors.As(err, &it) || errors.Is(err, publish.ErrInvalidRequest) || errors.Is(err, publish.ErrPlainHTTP) ||
			errors.Is(err, publish.ErrShapeChange) || errors.Is(err, publish.ErrCredentials) {
			err = permanent("publish", err)
		}
		return o.fail(ctx, job.JobRow, r, "publish", err)
	}
	tags := []string{}
	if res != nil {
		for _, t := range res.Tags {
			tags = append(tags, t.Tag)
		}
	}
	o.note(r.Cycle, "publish", r.Image, "published", fmt.Sprintf("%s: published %s as %s", r.Image, short(r.NewDigest), strings.Join(tags, ", ")),
		"rebuild", r.ID, "digest", r.NewDigest, "tags", tags)
	rctx := context.WithoutCancel(ctx) // the push happened: record it even when stopping
	return o.db.InTx(rctx, func(tx store.Tx) error {
		if _, err := store.RecordPush(rctx, tx, r.ID, r.Image, r.NewDigest, tags, o.now()); err != nil {
			return err
		}
		return o.finishRebuild(rctx, tx, r, store.RebuildUpdate{State: string(RebuildPublished),
			Detail: "published as " + strings.Join(tags, ", ")}, o.now())
	})
}

func (o *Orchestrator) projectID(img *Image) string {
	if img.catalogProject != "" {
		return img.catalogProject
	}
	return o.projectIDs[img.project]
}
