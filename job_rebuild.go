package abs

import (
	"context"
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
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
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
	err = o.scrubErr(err)
	var pe *permanentError
	if !errors.As(err, &pe) && job.Attempt < job.MaxAttempts {
		o.note(r.Cycle, stage, r.Image, "step failed, will retry",
			fmt.Sprintf("%s: %s failed (attempt %d, will retry): %v", r.Image, stage, job.Attempt, err),
			"rebuild", r.ID, "attempt", job.Attempt, "error", err.Error())
		return err
	}
	if pe != nil {
		stage = pe.stage
		err = pe.err
	}
	detail := o.failureDetail(stage, err)
	wait, next := o.afterFailure(r, stage, err)
	o.note(r.Cycle, stage, r.Image, "rebuild failed", fmt.Sprintf("%s: failed: %s", r.Image, detail), "rebuild", r.ID, "error", detail,
		"attempt", r.Attempt, "attempts_left", max(o.retryLimit-r.Attempt, 0), "next_attempt", next, "waits_for_inputs", wait == store.WaitInputs)
	return o.db.InTx(ctx, func(tx store.Tx) error {
		if err := o.finishRebuild(ctx, tx, r, store.RebuildUpdate{State: string(RebuildFailed), Detail: detail}, o.now()); err != nil {
			return err
		}
		return store.SetRetry(ctx, tx, r.ID, next, wait)
	})
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// workRebuild builds, rescans, verifies and stages one image. It is
// enqueued by the cycle (or, for a child, by its parent's final state) and
// enqueues the publish job in the transaction that records the verified
// image.
func (o *Orchestrator) workRebuild(ctx context.Context, job *river.Job[rebuildArgs]) error {
	r, err := store.GetRebuild(ctx, o.db, job.Args.Rebuild)
	if err != nil {
		return err
	}
	switch st := RebuildState(r.State); {
	case st.Final():
		return nil
	case st == RebuildBuilt:
		// Built and recorded before a crash: make sure it gets published.
		return o.db.InTx(ctx, func(tx store.Tx) error {
			_, err := o.eng.InsertTx(ctx, tx, publishArgs{Rebuild: r.ID, Image: r.Image}, nil)
			return err
		})
	}
	if err := o.refreshImages(ctx); err != nil {
		return err
	}
	img := o.image(r.Image)
	if img == nil {
		return o.finish(ctx, r, store.RebuildUpdate{State: string(RebuildSkipped), Detail: "image is no longer managed"})
	}
	if !img.AutoRebuild && Reason(r.Reason) != ReasonManual {
		// Planned while auto-rebuild was on, and turned off since. A
		// rebuild asked for by hand (RebuildNow) runs without it.
		o.note(r.Cycle, "build", r.Image, "rebuild skipped", fmt.Sprintf("%s: skipped, auto-rebuild is off", r.Image),
			"rebuild", r.ID, "why", "auto-rebuild is off")
		return o.finish(ctx, r, store.RebuildUpdate{State: string(RebuildSkipped), Detail: "auto-rebuild is off"})
	}
	if !img.BuildService {
		return o.finish(ctx, r, store.RebuildUpdate{State: string(RebuildSkipped), Detail: "the build service is off"})
	}
	pins := map[string]string{}
	if r.Parent != "" {
		p, err := store.GetRebuild(ctx, o.db, r.Parent)
		if err != nil {
			return err
		}
		switch RebuildState(p.State) {
		case RebuildPublished:
			if pimg := o.image(p.Image); pimg != nil {
				pins[pimg.Repository] = pimg.Repository + "@" + p.NewDigest
			}
		case RebuildFailed, RebuildSkipped:
			detail := fmt.Sprintf("parent %s %s: %s", p.Image, p.State, p.Detail)
			o.note(r.Cycle, "build", r.Image, "rebuild skipped", fmt.Sprintf("%s: skipped, %s", r.Image, detail),
				"rebuild", r.ID, "why", detail)
			return o.finish(ctx, r, store.RebuildUpdate{State: string(RebuildSkipped), Detail: detail})
		default:
			// Not reached in normal operation: a child is enqueued by its
			// parent's final state. A job enqueued early (by hand, or by
			// an older release) waits its turn.
			return river.JobSnooze(time.Second)
		}
	}
	release, err := o.admitBuild(ctx, job.JobRow, r, img) // storm.go: pause, freeze, soak, budgets
	if err != nil {
		return err
	}
	defer release()
	if RebuildState(r.State) != RebuildBuilding {
		if err := store.UpdateRebuild(ctx, o.db, r.ID, store.RebuildUpdate{State: string(RebuildBuilding), Detail: r.Method}, o.now()); err != nil {
			return err
		}
	}
	// One directory per rebuild: what an attempt killed with its process
	// (kill -9) left running there is stopped before the next attempt.
	work := filepath.Join(o.workDir, scratchPrefix+r.ID)
	if _, killed, err := rebuild.CleanScratch(work, 0); err != nil || len(killed) > 0 {
		o.log.Info("cleaned the scratch of an earlier attempt", "rebuild", r.ID, "killed", len(killed), "error", err)
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.note(r.Cycle, "build", r.Image, "building", fmt.Sprintf("%s: building with %s", r.Image, r.Method), "rebuild", r.ID, "method", r.Method)
	built, err := o.build(ctx, r, img, pins, work)
	if err != nil {
		return o.fail(ctx, job.JobRow, r, "build", err)
	}
	defer built.Close()
	if built.Index != nil {
		return o.finishIndex(ctx, job.JobRow, r, img, built)
	}
	newImg := built.Image
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
	o.note(r.Cycle, "verify", r.Image, "rebuild verified",
		fmt.Sprintf("%s: rebuilt %s -> %s, grade %s -> %s", r.Image, short(r.OldDigest), short(newDigest.String()), r.BeforeGrade, after),
		"rebuild", r.ID, "old_digest", r.OldDigest, "new_digest", newDigest.String(), "grade_before", r.BeforeGrade, "grade_after", after)
	return o.db.InTx(ctx, func(tx store.Tx) error {
		if err := store.UpdateRebuild(ctx, tx, r.ID, store.RebuildUpdate{State: string(RebuildBuilt), Detail: "verified",
			NewDigest: newDigest.String(), AfterGrade: letter(after)}, o.now()); err != nil {
			return err
		}
		_, err := o.eng.InsertTx(ctx, tx, publishArgs{Rebuild: r.ID, Image: r.Image}, nil)
		return err
	})
}

// build makes the new image with rebuild.Run, the one implementation of a
// rebuild step (fetch, build or rebase, stamp): the rebase fast path when
// the plan chose it, falling back to a build from source when the rebase
// cannot apply and the image has a source and a builder. Errors that
// retrying cannot fix are permanent.
func (o *Orchestrator) build(ctx context.Context, r store.Rebuild, img *Image, pins map[string]string, work string) (*rebuild.Outcome, error) {
	oldRef, err := o.digestRef(img.Repository + "@" + r.OldDigest)
	if err != nil {
		return nil, permanent("build", err)
	}
	desc, err := remote.Get(oldRef, o.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	t := &rebuild.Target{Name: img.Name, Ref: img.Ref(), Source: img.Source, Base: img.Base,
		BuildArgs: img.BuildArgs, Secrets: img.BuildSecrets, Reason: rebuild.Reason{Advisories: r.Advisories, Text: r.Reason}}
	// An index is rebuilt as one unit, every platform (see indexTarget).
	cur, err := o.targetImage(desc, t)
	if err != nil {
		return nil, permanent("build", err)
	}
	// The next release is the next one free among the repository's tags,
	// so that a VERSION-RELEASE tag the team's own CI pushed is not taken
	// again (the publish step refuses to move an immutable tag).
	if cf, err := cur.ConfigFile(); err == nil && cf.Config.Labels["version"] != "" {
		t.Version = cf.Config.Labels["version"]
		tags, err := remote.List(oldRef.Context(), o.ropts(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", oldRef.Context(), err)
		}
		t.Tags = tags
	}
	if img.credErr != nil && Method(r.Method) != MethodRebase {
		return nil, permanent("build", img.credErr)
	}
	canBuild := o.builder != nil && img.Source != nil && img.credErr == nil
	switch {
	case Method(r.Method) == MethodRebase && o.rebaser != nil:
		t.Builder = o.rebaser
		if canBuild {
			t.Fallback = o.builder
		}
	case o.builder == nil:
		return nil, permanent("build", errors.New("no builder configured for builds from source"))
	case img.Source == nil:
		return nil, permanent("build", errors.New("image has no git source"))
	default:
		t.Builder = o.builder
	}
	out, err := rebuild.Run(ctx, t, pins, rebuild.WithLogger(o.log), rebuild.WithClock(o.now), rebuild.WithWorkDir(work))
	if out != nil && out.FallbackCause != nil {
		o.note(r.Cycle, "build", r.Image, "rebase cannot apply, building from source",
			fmt.Sprintf("%s: rebase cannot apply (%v); building from source", r.Image, out.FallbackCause),
			"rebuild", r.ID, "error", out.FallbackCause.Error())
	}
	if err != nil {
		var fe *rebuild.FetchError
		var be *rebuild.BuildError
		var pe *rebuild.PrefixError
		switch {
		case errors.As(err, &fe) && (errors.Is(err, rebuild.ErrAuth) || errors.Is(err, rebuild.ErrHostKeyMismatch) ||
			errors.Is(err, rebuild.ErrHostKeyUnknown) || errors.Is(err, rebuild.ErrRevisionNotFound) || errors.Is(err, rebuild.ErrInvalidSource)):
			return nil, permanent("fetch", err)
		case errors.As(err, &be):
			return nil, permanent("build", err)
		case t.Fallback == nil && t.Builder == o.rebaser && (errors.Is(err, rebuild.ErrNoBase) || errors.As(err, &pe)):
			return nil, permanent("rebase", err)
		case errors.Is(err, rebuild.ErrPlatformMissing):
			// A base without the platform, or a builder that made
			// another: the same inputs fail the same way.
			stage := "build"
			if t.Fallback == nil && t.Builder == o.rebaser {
				stage = "rebase"
			}
			return nil, permanent(stage, err)
		}
		return nil, err
	}
	if out.Status == rebuild.StatusUnchanged {
		_ = out.Close()
		return nil, permanent("rebase", rebuild.ErrBaseUnchanged)
	}
	return out, nil
}

// verify checks that a containers/image client can pull the rebuilt
// image, rescans it and accepts it only when it fixes the
// advisories it was rebuilt for and is not worse than the image it
// replaces: no worse grade, no unapplied advisory the old image did not
// have. It returns the new grade.
func (o *Orchestrator) verify(ctx context.Context, r store.Rebuild, img *Image, newImg v1.Image, digest string) (healthindex.Grade, error) {
	// A real client must be able to pull it: containers/image (skopeo,
	// podman, CRI-O) refuses manifests that mix media type families.
	if err := rebuild.CheckPullable(newImg); err != nil {
		return 0, permanent("verify", err)
	}
	inv, err := o.scanner.Scan(ctx, newImg)
	if err != nil {
		return 0, fmt.Errorf("rescan: %w", err)
	}
	inv.Image.Digest = digest
	m, err := o.matcherFor(ctx)
	if err != nil {
		return 0, err
	}
	oldInv, err := store.Inventory(ctx, o.db, r.OldDigest)
	if err != nil {
		return 0, fmt.Errorf("old inventory: %w", err)
	}
	now := o.now()
	ga, err := o.noWorse(m, r, oldInv, inv, now)
	if err != nil {
		return 0, permanent("verify", err)
	}
	if err := o.certifyRebuild(ctx, r, img, rebuildArtifact{Image: newImg, Inventories: []*rpmscan.Inventory{inv}, Current: []*rpmscan.Inventory{oldInv}}); err != nil {
		return 0, err
	}
	if err := store.PutInventory(ctx, o.db, inv, o.scannerKey, now); err != nil {
		return 0, err
	}
	return ga, nil
}

// noWorse accepts the rescanned inventory inv of a rebuilt image only
// when it fixes the advisories the rebuild was for and is not worse than
// the image it replaces (oldInv): no worse grade, no unapplied advisory
// the old image did not have. It returns the new grade.
func (o *Orchestrator) noWorse(m Matcher, r store.Rebuild, oldInv, inv *rpmscan.Inventory, now time.Time) (healthindex.Grade, error) {
	if len(inv.Packages) == 0 && len(oldInv.Packages) > 0 {
		// Nothing to match would grade A: an image whose packages cannot
		// be seen cannot be shown to be no worse.
		return 0, fmt.Errorf("rescan finds no RPM packages where the old image had %d", len(oldInv.Packages))
	}
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
		return 0, fmt.Errorf("rebuild does not fix %s", strings.Join(still, ", "))
	}
	if ga > gb {
		return 0, fmt.Errorf("rebuild would lower the grade from %s to %s", gb, ga)
	}
	var added []string
	for _, id := range afterIDs {
		if !slices.Contains(beforeIDs, id) {
			added = append(added, id)
		}
	}
	if len(added) > 0 {
		return 0, fmt.Errorf("rebuild carries unapplied advisories the old image did not: %s", strings.Join(added, ", "))
	}
	return ga, nil
}

func describe(findings []advisory.Finding, id string) string {
	for _, f := range findings {
		if f.Advisory == id {
			return fmt.Sprintf("%s %s installed, fixed in %s", f.Package, f.Installed, f.Fixed)
		}
	}
	return ""
}
