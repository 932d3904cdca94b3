package abs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
)

// permanentError marks a failure that retrying cannot fix: the rebuild is
// recorded as failed at once.
type permanentError struct {
	stage string
	err   error
}

func (e *permanentError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(stage string, err error) error { return &permanentError{stage: stage, err: err} }

// fail records a rebuild failure when the error is permanent or the job
// has no attempts left, and otherwise returns the error so River retries.
func (o *Orchestrator) fail(ctx context.Context, job *rivertype.JobRow, r store.Rebuild, stage string, err error) error {
	if ctx.Err() != nil {
		return err // stopping: resume on the next start
	}
	var pe *permanentError
	if !errors.As(err, &pe) && job.Attempt < job.MaxAttempts {
		o.emit(r.Cycle, stage, r.Image, "%s: %s failed (attempt %d, will retry): %v", r.Image, stage, job.Attempt, err)
		return err
	}
	if pe != nil {
		stage = pe.stage
		err = pe.err
	}
	detail := stage + ": " + firstLine(err.Error())
	o.emit(r.Cycle, stage, r.Image, "%s: failed: %s", r.Image, detail)
	return store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: store.StateFailed, Detail: detail}, o.now())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (o *Orchestrator) workRebuild(ctx context.Context, job *river.Job[rebuildArgs]) error {
	r, err := store.GetRebuild(ctx, o.db, job.Args.Rebuild)
	if err != nil {
		return err
	}
	switch {
	case store.Terminal(r.State):
		return nil
	case r.State == store.StateBuilt:
		// Built and recorded before a crash: make sure it gets published.
		return o.db.InTx(ctx, func(tx store.Tx) error {
			_, err := o.eng.InsertTx(ctx, tx, publishArgs{Rebuild: r.ID, Image: r.Image}, nil)
			return err
		})
	}
	img := o.byName[r.Image]
	if img == nil {
		return store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: store.StateSkipped,
			Detail: "image is no longer managed"}, o.now())
	}
	if !img.AutoRebuild {
		// Planned while auto-rebuild was on, and turned off since.
		o.emit(r.Cycle, "build", r.Image, "%s: skipped, auto-rebuild is off", r.Image)
		return store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: store.StateSkipped,
			Detail: "auto-rebuild is off"}, o.now())
	}
	pins := map[string]string{}
	if r.Parent != "" {
		p, err := store.GetRebuild(ctx, o.db, r.Parent)
		if err != nil {
			return err
		}
		switch p.State {
		case store.StatePublished:
			if pimg := o.byName[p.Image]; pimg != nil {
				pins[pimg.Repository] = pimg.Repository + "@" + p.NewDigest
			}
		case store.StateFailed, store.StateSkipped:
			detail := fmt.Sprintf("parent %s %s: %s", p.Image, p.State, p.Detail)
			o.emit(r.Cycle, "build", r.Image, "%s: skipped, %s", r.Image, detail)
			return store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: store.StateSkipped, Detail: detail}, o.now())
		default:
			return river.JobSnooze(500 * time.Millisecond) // parents first
		}
	}
	if r.State != store.StateBuilding {
		if err := store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: store.StateBuilding, Detail: r.Method}, o.now()); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp(o.workDir, "abs-rebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.emit(r.Cycle, "build", r.Image, "%s: building with %s", r.Image, r.Method)
	newImg, err := o.build(ctx, r, img, pins, work)
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "build", err)
	}
	newDigest, err := newImg.Digest()
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "build", err)
	}
	after, err := o.verify(ctx, r, img, newImg, newDigest.String())
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "verify", err)
	}
	// Stage the verified image by digest: no tag moves until publish.
	dref, err := o.digestRef(img.Repository + "@" + newDigest.String())
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "stage", permanent("stage", err))
	}
	if _, herr := remote.Head(dref, o.ropts(ctx)...); herr != nil {
		if err := remote.Write(dref, newImg, o.ropts(ctx)...); err != nil {
			return o.fail(ctx, job.JobRow, r, "stage", err)
		}
	}
	o.emit(r.Cycle, "verify", r.Image, "%s: rebuilt %s -> %s, grade %s -> %s", r.Image, short(r.OldDigest), short(newDigest.String()), r.BeforeGrade, after)
	return o.db.InTx(ctx, func(tx store.Tx) error {
		if err := store.UpdateRebuild(ctx, tx, r.ID, store.RebuildUpdate{State: store.StateBuilt, Detail: "verified",
			NewDigest: newDigest.String(), AfterGrade: after}, o.now()); err != nil {
			return err
		}
		_, err := o.eng.InsertTx(ctx, tx, publishArgs{Rebuild: r.ID, Image: r.Image}, nil)
		return err
	})
}

// build makes the new image: rebase on the new base when that suffices,
// otherwise (or when the rebase cannot apply) build from source.
func (o *Orchestrator) build(ctx context.Context, r store.Rebuild, img *Image, pins map[string]string, work string) (v1.Image, error) {
	oldRef, err := o.digestRef(img.Repository + "@" + r.OldDigest)
	if err != nil {
		return nil, permanent("build", err)
	}
	cur, err := remote.Image(oldRef, o.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	cf, err := cur.ConfigFile()
	if err != nil {
		return nil, err
	}
	stamp := rebuild.Stamp{
		Release: rebuild.NextRelease(cf.Config.Labels[rebuild.LabelRelease]),
		Reason:  rebuild.Reason{Advisories: r.Advisories, Text: r.Reason},
		Time:    o.now(),
	}
	run := func(b rebuild.Builder, co *rebuild.Checkout) (v1.Image, error) {
		st := stamp
		st.Method = b.Name()
		if co != nil {
			st.Commit, st.Source = co.Commit, co.URL
		}
		dir, err := os.MkdirTemp(work, "build-")
		if err != nil {
			return nil, err
		}
		req := &rebuild.Request{Ref: img.Ref(), Image: cur, Source: co, Pins: pins, Base: img.Base,
			BuildArgs: img.BuildArgs, Labels: st.Labels(), Annotations: st.Annotations(), WorkDir: dir}
		res, err := b.Build(ctx, req)
		if err != nil {
			return nil, err
		}
		st.BaseName, st.BaseDigest = res.BaseName, res.BaseDigest
		if m, err := res.Image.Manifest(); err == nil && m.Annotations[rebuild.AnnotationBaseDigest] != "" {
			st.BaseName, st.BaseDigest = m.Annotations[rebuild.AnnotationBaseName], m.Annotations[rebuild.AnnotationBaseDigest]
		}
		return st.Apply(res.Image)
	}
	fromSource := func() (v1.Image, error) {
		if o.builder == nil {
			return nil, permanent("build", errors.New("no builder configured for builds from source"))
		}
		if img.Source == nil {
			return nil, permanent("build", errors.New("image has no git source"))
		}
		co, err := img.Source.Fetch(ctx, filepath.Join(work, "source"), rebuild.WithLogger(o.log))
		if err != nil {
			var fe *rebuild.FetchError
			if errors.As(err, &fe) && (errors.Is(err, rebuild.ErrAuth) || errors.Is(err, rebuild.ErrHostKeyMismatch) ||
				errors.Is(err, rebuild.ErrHostKeyUnknown) || errors.Is(err, rebuild.ErrRevisionNotFound) || errors.Is(err, rebuild.ErrInvalidSource)) {
				return nil, permanent("fetch", err)
			}
			return nil, err
		}
		out, err := run(o.builder, co)
		var be *rebuild.BuildError
		if errors.As(err, &be) {
			return nil, permanent("build", err)
		}
		return out, err
	}
	if r.Method == MethodRebase && o.rebaser != nil {
		out, err := run(o.rebaser, nil)
		if err == nil {
			return out, nil
		}
		var pe *rebuild.PrefixError
		cannot := errors.Is(err, rebuild.ErrBaseUnchanged) || errors.Is(err, rebuild.ErrNoBase) || errors.As(err, &pe)
		if !cannot {
			return nil, err
		}
		if o.builder == nil || img.Source == nil {
			return nil, permanent("rebase", err)
		}
		o.emit(r.Cycle, "build", r.Image, "%s: rebase cannot apply (%v); building from source", r.Image, err)
	}
	return fromSource()
}

// verify rescans the rebuilt image and accepts it only when it fixes the
// advisories it was rebuilt for and is not worse than the image it
// replaces: no worse grade, no unapplied advisory the old image did not
// have. It returns the new grade.
func (o *Orchestrator) verify(ctx context.Context, r store.Rebuild, img *Image, newImg v1.Image, digest string) (string, error) {
	inv, err := o.scanner.Scan(ctx, newImg)
	if err != nil {
		return "", fmt.Errorf("rescan: %w", err)
	}
	inv.Image.Digest = digest
	m, err := o.matcherFor(ctx)
	if err != nil {
		return "", err
	}
	oldInv, err := store.Inventory(ctx, o.db, r.OldDigest)
	if err != nil {
		return "", fmt.Errorf("old inventory: %w", err)
	}
	if len(inv.Packages) == 0 && len(oldInv.Packages) > 0 {
		// Nothing to match would grade A: an image whose packages cannot
		// be seen cannot be shown to be no worse.
		return "", permanent("verify", fmt.Errorf("rescan finds no RPM packages where the old image had %d", len(oldInv.Packages)))
	}
	now := o.now()
	before, after := m.Match(oldInv), m.Match(inv)
	gb, ga := healthindex.GradeAt(o.policy, before, now), healthindex.GradeAt(o.policy, after, now)
	afterIDs, beforeIDs := idsOf(after, nil), idsOf(before, nil)
	var still []string
	for _, id := range r.Advisories {
		if slices.Contains(afterIDs, id) {
			still = append(still, id+" ("+describe(after, id)+")")
		}
	}
	if len(still) > 0 {
		return "", permanent("verify", fmt.Errorf("rebuild does not fix %s", strings.Join(still, ", ")))
	}
	if ga > gb {
		return "", permanent("verify", fmt.Errorf("rebuild would lower the grade from %s to %s", gb, ga))
	}
	var added []string
	for _, id := range afterIDs {
		if !slices.Contains(beforeIDs, id) {
			added = append(added, id)
		}
	}
	if len(added) > 0 {
		return "", permanent("verify", fmt.Errorf("rebuild carries unapplied advisories the old image did not: %s", strings.Join(added, ", ")))
	}
	if err := store.PutInventory(ctx, o.db, inv, now); err != nil {
		return "", err
	}
	return ga.String(), nil
}

func describe(findings []advisory.Finding, id string) string {
	for _, f := range findings {
		if f.Advisory == id {
			return fmt.Sprintf("%s %s installed, fixed in %s", f.Package, f.Installed, f.Fixed)
		}
	}
	return ""
}

func (o *Orchestrator) workPublish(ctx context.Context, job *river.Job[publishArgs]) error {
	r, err := store.GetRebuild(ctx, o.db, job.Args.Rebuild)
	if err != nil {
		return err
	}
	if r.State != store.StateBuilt {
		return nil // published before, or never built
	}
	img := o.byName[r.Image]
	if img == nil || !img.AutoPublish {
		detail := "auto-publish is off; the verified rebuild is staged as " + r.Image + "@" + r.NewDigest
		return store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: store.StateSkipped, Detail: detail}, o.now())
	}
	ref, err := o.digestRef(img.Repository + "@" + r.NewDigest)
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "publish", permanent("publish", err))
	}
	newImg, err := remote.Image(ref, o.ropts(ctx)...)
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
	res, err := o.publisher.Publish(ctx, req)
	if err != nil {
		var it *publish.ImmutableTagError
		if errors.As(err, &it) || errors.Is(err, publish.ErrInvalidRequest) || errors.Is(err, publish.ErrPlainHTTP) {
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
	o.emit(r.Cycle, "publish", r.Image, "%s: published %s as %s", r.Image, short(r.NewDigest), strings.Join(tags, ", "))
	rctx := context.WithoutCancel(ctx) // the push happened: record it even when stopping
	return o.db.InTx(rctx, func(tx store.Tx) error {
		if _, err := store.RecordPush(rctx, tx, r.ID, r.Image, r.NewDigest, tags, o.now()); err != nil {
			return err
		}
		return store.UpdateRebuild(rctx, tx, r.ID, store.RebuildUpdate{State: store.StatePublished,
			Detail: "published as " + strings.Join(tags, ", ")}, o.now())
	})
}

func (o *Orchestrator) projectID(img *Image) string {
	return o.projectIDs[img.project]
}

func (o *Orchestrator) workNotify(ctx context.Context, job *river.Job[notifyArgs]) error {
	a := job.Args
	n, err := store.GetNotification(ctx, o.db, a.Notification)
	if err != nil {
		return err
	}
	switch n.State {
	case store.NoteSent, store.NoteFailed:
		return nil
	case store.NoteSending:
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
		if !store.Terminal(r.State) {
			return river.JobSnooze(500 * time.Millisecond) // one message per owner, when the cycle's work is done
		}
		ev := notify.Event{Time: r.Updated, Image: o.byName[r.Image].Ref(), Owner: a.Owner}
		switch r.State {
		case store.StatePublished:
			p, err := store.GetPush(ctx, o.db, r.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			ev.Kind = notify.KindRebuilt
			ev.Rebuilt = &notify.Rebuilt{OldDigest: r.OldDigest, NewDigest: r.NewDigest, Tags: p.Tags,
				Advisories: r.Advisories, GradeBefore: r.BeforeGrade, GradeAfter: r.AfterGrade}
		case store.StateFailed:
			stage, cause, _ := strings.Cut(r.Detail, ": ")
			ev.Kind, ev.Failure = notify.KindRebuildFailed, &notify.Failure{Stage: stage, Cause: cause}
		case store.StateSkipped:
			ev.Kind, ev.Skip = notify.KindPublishSkipped, &notify.Skip{Reason: r.Detail}
		}
		events = append(events, ev)
	}
	c, err := store.GetCycle(ctx, o.db, a.Cycle)
	if err != nil {
		return err
	}
	var plan Report
	if c.Plan != "" {
		if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
			return err
		}
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
				o.emit(a.Cycle, "notify", "", "could not tell %s: %v", a.Owner, err)
			}
			if rerr := store.SetNotificationState(sendCtx, o.db, n.ID, next); rerr != nil {
				return errors.Join(err, rerr)
			}
			return fmt.Errorf("abs: notify %s: %w", a.Owner, err)
		}
	}
	summary, _ := json.Marshal(events)
	o.emit(a.Cycle, "notify", "", "told %s about %d event(s)", a.Owner, len(events))
	return store.MarkSent(sendCtx, o.db, n.ID, string(summary), o.now())
}
