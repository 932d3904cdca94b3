package rebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// runIndexStep is runStep for a multi-platform target: every platform is
// built, stamped and verified before anything is staged, and the first
// platform that fails fails the whole target with a *PlatformError.
func runIndexStep(ctx context.Context, cfg *config, t *Target, out *Outcome, log *slog.Logger, fail func(error)) {
	var is IndexStore
	if cfg.store != nil {
		var ok bool
		if is, ok = cfg.store.(IndexStore); !ok {
			fail(fmt.Errorf("rebuild: store %T cannot stage a multi-platform index (it is no IndexStore)", cfg.store))
			return
		}
	}
	plats, cur, err := targetPlatforms(t)
	if err != nil {
		fail(err)
		return
	}
	s, err := startStep(ctx, cfg, t, out)
	if err != nil {
		fail(err)
		return
	}
	defer s.close()
	work, stamp := s.work, s.stamp
	var co *Checkout
	fetch := func() (err error) {
		co, err = s.fetch()
		return err
	}
	var logs strings.Builder
	// build builds every platform with b; with carry, a platform b finds
	// unchanged is carried over, and ErrBaseUnchanged is returned only
	// when every platform is.
	build := func(b Builder, src *Checkout, n int, carry bool) ([]*PlatformOutcome, []Stamp, error) {
		outs := make([]*PlatformOutcome, len(plats))
		stamps := make([]Stamp, len(plats))
		var unchanged []string
		for i, p := range plats {
			st := stamp
			st.Method = b.Name()
			if src != nil {
				st.Commit, st.Source = src.Commit, src.URL
			}
			dir := filepath.Join(work, fmt.Sprintf("build-%d-%d", n, i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				return nil, nil, err
			}
			req := &Request{
				Ref: t.Ref, Image: cur[i], Source: src, Pins: out.Pins, Base: t.Base,
				BuildArgs: t.BuildArgs, Labels: st.Labels(), Annotations: st.Annotations(),
				NoCache: t.NoCache, Platform: &p, WorkDir: dir,
			}
			log.LogAttrs(ctx, slog.LevelInfo, "rebuild: building", slog.String("builder", b.Name()),
				slog.String("platform", PlatformString(p)), slog.Any("pins", out.Pins))
			res, err := b.Build(ctx, req)
			var be *BuildError
			switch {
			case res != nil && len(res.Log) > 0:
				fmt.Fprintf(&logs, "== %s\n%s\n", PlatformString(p), res.Log)
			case errors.As(err, &be):
				fmt.Fprintf(&logs, "== %s\n%s\n", PlatformString(p), be.Log)
			}
			if err != nil {
				if carry && cur[i] != nil && errors.Is(err, ErrBaseUnchanged) {
					d, derr := cur[i].Digest()
					if derr != nil {
						return nil, nil, &PlatformError{Platform: p, Err: derr}
					}
					outs[i] = &PlatformOutcome{Platform: p, Status: StatusUnchanged, Reason: err.Error(), Image: cur[i], Digest: d}
					unchanged = append(unchanged, PlatformString(p))
					continue
				}
				var pe *PlatformError
				if !errors.As(err, &pe) {
					err = &PlatformError{Platform: p, Err: err}
				}
				return nil, nil, err
			}
			got, err := imagePlatform(res.Image)
			if err != nil {
				return nil, nil, &PlatformError{Platform: p, Err: err}
			}
			if !SamePlatform(got, p) {
				return nil, nil, &PlatformError{Platform: p, Err: fmt.Errorf("%w: %s built an image for %s", ErrPlatformMissing, b.Name(), PlatformString(got))}
			}
			outs[i] = &PlatformOutcome{Platform: p, Status: StatusBuilt, Builder: b.Name(), Image: res.Image,
				BaseName: res.BaseName, BaseDigest: res.BaseDigest}
			stamps[i] = st
		}
		if len(unchanged) == len(plats) {
			return nil, nil, fmt.Errorf("%w: no platform's base moved (%s)", ErrBaseUnchanged, strings.Join(unchanged, ", "))
		}
		return outs, stamps, nil
	}

	var (
		outs   []*PlatformOutcome
		stamps []Stamp
	)
	if t.Fallback == nil {
		if err := fetch(); err != nil {
			fail(err)
			return
		}
		outs, stamps, err = build(t.Builder, co, 1, true)
	} else {
		outs, stamps, err = build(t.Builder, nil, 1, true)
		if err != nil && rebaseCannotApply(err) {
			out.FallbackCause = err
			log.LogAttrs(ctx, slog.LevelInfo, "rebuild: rebase cannot apply, building every platform from source", slog.String("reason", firstLine(err.Error())))
			if ferr := fetch(); ferr != nil {
				fail(ferr)
				return
			}
			out.Builder = t.Fallback.Name()
			outs, stamps, err = build(t.Fallback, co, 2, false)
		}
	}
	out.Log = []byte(logs.String())
	if len(out.Log) > MaxLog {
		out.Log = out.Log[len(out.Log)-MaxLog:]
	}
	if errors.Is(err, ErrBaseUnchanged) {
		out.Status, out.Reason = StatusUnchanged, err.Error()
		return
	}
	if err != nil {
		fail(err)
		return
	}

	// One release for every platform.
	release := stamp.Release
	if release == "" {
		for _, o := range outs {
			if o.Status != StatusBuilt {
				continue
			}
			if cf, err := o.Image.ConfigFile(); err == nil {
				release = nextRelease(t, cf.Config.Labels[LabelRelease])
			}
			break
		}
	}
	for i, o := range outs {
		if o.Status != StatusBuilt {
			continue
		}
		st := stamps[i]
		st.Release = release
		st.BaseName, st.BaseDigest = o.BaseName, o.BaseDigest
		if m, err := o.Image.Manifest(); err == nil && m.Annotations[AnnotationBaseDigest] != "" {
			st.BaseName, st.BaseDigest = m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
		}
		img, err := st.Apply(o.Image)
		if err == nil {
			o.Digest, err = img.Digest()
		}
		if err != nil {
			fail(&PlatformError{Platform: o.Platform, Err: err})
			return
		}
		o.Image, o.BaseName, o.BaseDigest = img, st.BaseName, st.BaseDigest
		if cfg.verify != nil {
			if err := cfg.verify(ctx, t, img); err != nil {
				fail(&PlatformError{Platform: o.Platform, Err: err})
				return
			}
		}
	}

	ist := stamp
	ist.Release, ist.Method = release, out.Builder
	if co != nil {
		ist.Commit, ist.Source = co.Commit, co.URL
	}
	ann := ist.Annotations()
	delete(ann, AnnotationBaseName)
	delete(ann, AnnotationBaseDigest)
	idx, err := assembleIndex(t.Index, outs, ann)
	if err == nil {
		out.Digest, err = idx.Digest()
	}
	if err == nil {
		out.Platforms, err = indexOutcomes(idx, outs)
	}
	if err != nil {
		fail(err)
		return
	}
	out.Release = release
	if is != nil {
		if out.Pinned, err = is.PutIndex(ctx, t, idx); err != nil {
			fail(err)
			return
		}
	} else {
		out.Pinned = Repository(t.Ref) + "@" + out.Digest.String()
	}
	out.Index = idx
	out.dir = work
	out.Status = StatusBuilt
	log.LogAttrs(ctx, slog.LevelInfo, "rebuild: built index", slog.String("digest", out.Digest.String()),
		slog.Int("platforms", len(out.Platforms)), slog.String("release", release))
}

// targetPlatforms returns the platforms to build for t and, for each, its
// current image in t.Index (nil when it has none).
func targetPlatforms(t *Target) ([]v1.Platform, []v1.Image, error) {
	var children []v1.Descriptor
	if t.Index != nil {
		var err error
		if children, err = imageChildren(t.Index); err != nil {
			return nil, nil, err
		}
	}
	plats := t.Platforms
	if len(plats) == 0 {
		for _, d := range children {
			plats = append(plats, *d.Platform)
		}
	}
	if len(plats) == 0 {
		return nil, nil, errors.New("rebuild: multi-platform target without platforms")
	}
	cur := make([]v1.Image, len(plats))
	for i, p := range plats {
		for _, q := range plats[:i] {
			if SamePlatform(p, q) {
				return nil, nil, fmt.Errorf("rebuild: platform %s listed twice", PlatformString(p))
			}
		}
		for _, d := range children {
			if SamePlatform(*d.Platform, p) {
				img, err := t.Index.Image(d.Digest)
				if err != nil {
					return nil, nil, &PlatformError{Platform: p, Err: err}
				}
				cur[i] = img
				break
			}
		}
	}
	return plats, cur, nil
}

// indexOutcomes returns one outcome per image of idx, in its order: those
// of built, and carried-over ones for the images no platform of built
// names.
func indexOutcomes(idx v1.ImageIndex, built []*PlatformOutcome) ([]*PlatformOutcome, error) {
	ds, err := imageChildren(idx)
	if err != nil {
		return nil, err
	}
	out := make([]*PlatformOutcome, 0, len(ds))
	for _, d := range ds {
		var o *PlatformOutcome
		for _, b := range built {
			if b.Digest == d.Digest {
				o = b
				break
			}
		}
		if o == nil {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			o = &PlatformOutcome{Platform: *d.Platform, Status: StatusUnchanged, Reason: "not among the target's platforms", Image: img, Digest: d.Digest}
		}
		out = append(out, o)
	}
	return out, nil
}
