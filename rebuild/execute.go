package rebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Store receives every rebuilt image during Execute and returns the pinned
// reference ("repo@sha256:…") that children of the image are built on.
// It is the hand-over point to publishing.
type Store interface {
	Put(ctx context.Context, t *Target, img v1.Image) (string, error)
}

// RegistryStore pushes rebuilt images to a registry by digest only: no tag
// moves, so nothing is published until someone tags the digest.
type RegistryStore struct {
	// Repository returns the repository to push a target's image to
	// (default: the repository of Target.Ref).
	Repository func(t *Target) string
	// Options are used for the push (auth, transport).
	Options []remote.Option
}

var _ Store = (*RegistryStore)(nil)

// Put pushes img and returns its digest reference.
func (s *RegistryStore) Put(ctx context.Context, t *Target, img v1.Image) (string, error) {
	repoName := Repository(t.Ref)
	if s.Repository != nil {
		repoName = s.Repository(t)
	}
	repo, err := name.NewRepository(repoName)
	if err != nil {
		return "", fmt.Errorf("rebuild: store %s: %w", repoName, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	ref := repo.Digest(d.String())
	opts := append(append([]remote.Option{}, s.Options...), remote.WithContext(ctx))
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", fmt.Errorf("rebuild: push %s: %w", ref, err)
	}
	return ref.String(), nil
}

// Status is the outcome of one step.
type Status int

// The statuses of a step.
const (
	StatusPlanned   Status = iota // dry run: would be built
	StatusBuilt                   // rebuilt
	StatusUnchanged               // nothing to do (Rebase: base has not moved)
	StatusFailed                  // the build failed; see Err
	StatusSkipped                 // not attempted; see Reason
)

// String returns the status in lower case ("built").
func (s Status) String() string {
	switch s {
	case StatusPlanned:
		return "planned"
	case StatusBuilt:
		return "built"
	case StatusUnchanged:
		return "unchanged"
	case StatusFailed:
		return "failed"
	case StatusSkipped:
		return "skipped"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Outcome is what happened to one target.
type Outcome struct {
	Name    string
	Status  Status
	Reason  string // why it was built, or why it was skipped
	Err     error  // set when Status is StatusFailed
	Builder string
	// Image is the rebuilt image, Digest its manifest digest and Pinned
	// the digest reference its children were built on. For a
	// multi-platform target Image is nil, Index is the new index and
	// Digest its digest.
	Image   v1.Image
	Index   v1.ImageIndex
	Digest  v1.Hash
	Pinned  string
	Release string // the new release label
	Commit  string // the source commit built
	Pins    map[string]string
	Log     []byte // build tool output
	// FallbackCause is why Target.Builder could not apply when
	// Target.Fallback built the image instead (nil otherwise).
	FallbackCause error
	// Platforms are the per-platform results of a multi-platform target
	// that was built, one per image of the new index in its order.
	Platforms []*PlatformOutcome

	dir string // working directory the image reads from; see Close
}

// Report lists the outcome of every step in plan order.
type Report struct {
	Outcomes []*Outcome
	keep     []string
}

// Get returns the outcome of the named target, or nil.
func (r *Report) Get(name string) *Outcome {
	for _, o := range r.Outcomes {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Err joins the errors of the failed steps (nil when none failed).
func (r *Report) Err() error {
	var errs []error
	for _, o := range r.Outcomes {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Name, o.Err))
		}
	}
	return errors.Join(errs...)
}

// Close removes the working directories that the report's images may read
// from (built images are unpacked there).
func (r *Report) Close() error {
	var errs []error
	for _, d := range r.keep {
		errs = append(errs, os.RemoveAll(d))
	}
	r.keep = nil
	return errors.Join(errs...)
}

// String renders one line per step (with each platform's status for a
// multi-platform target).
func (r *Report) String() string {
	var b strings.Builder
	for _, o := range r.Outcomes {
		fmt.Fprintf(&b, "%s: %s", o.Name, o.Status)
		if o.Pinned != "" {
			fmt.Fprintf(&b, " %s", o.Pinned)
		}
		if o.Release != "" {
			fmt.Fprintf(&b, " release=%s", o.Release)
		}
		if len(o.Platforms) > 0 {
			ps := make([]string, len(o.Platforms))
			for i, p := range o.Platforms {
				ps[i] = PlatformString(p.Platform) + "=" + p.Status.String()
			}
			fmt.Fprintf(&b, " platforms=%s", strings.Join(ps, ","))
		}
		if o.Reason != "" {
			fmt.Fprintf(&b, " (%s)", o.Reason)
		}
		if o.Err != nil {
			fmt.Fprintf(&b, ": %v", firstLine(o.Err.Error()))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Execute runs plan batch by batch. Within a batch up to WithConcurrency
// steps run at once, each through Run. Each step fetches its source (when it has one),
// builds with its Builder on the new digests of its rebuilt parents, and
// stamps the image with the bumped release and the reasons (see Stamp). A
// step whose parent failed or was skipped is skipped with that reason.
//
// With WithStore, every image is handed to the store and children build on
// the reference it returns; otherwise children are pinned to
// "<parent repository>@<new digest>" (which then must be reachable by the
// child's builder). Images in the report may read from working directories
// that Report.Close removes; source checkouts are removed after each step.
//
// With WithDryRun nothing is fetched or built: every step is reported as
// planned with its reason. Execute returns an error only when ctx ends;
// build failures are in the report (Report.Err).
func Execute(ctx context.Context, plan *Plan, opts ...Option) (*Report, error) {
	cfg := newConfig(opts)
	rep := &Report{}
	done := map[string]*Outcome{}
	var mu sync.Mutex
	for _, batch := range plan.Batches {
		outs := make([]*Outcome, len(batch))
		sem := make(chan struct{}, cfg.concurrency)
		var wg sync.WaitGroup
		for i, st := range batch {
			name := st.Target.name()
			out := &Outcome{Name: name, Reason: st.Why}
			outs[i] = out
			if st.Target.Builder != nil {
				out.Builder = st.Target.Builder.Name()
			}
			pins, skip := pinsFor(st, done, plan)
			switch {
			case skip != "":
				out.Status, out.Reason = StatusSkipped, skip
				cfg.logger.LogAttrs(ctx, slog.LevelWarn, "rebuild: skipped", slog.String("target", name), slog.String("reason", skip))
				continue
			case cfg.dryRun:
				out.Status, out.Pins = StatusPlanned, pins
				if cur := currentRelease(st.Target); cur != "" {
					out.Release = nextRelease(st.Target, cur)
				}
				continue
			case ctx.Err() != nil:
				out.Status, out.Reason = StatusSkipped, "cancelled: "+ctx.Err().Error()
				continue
			}
			out.Pins = pins
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					out.Status, out.Reason = StatusSkipped, "cancelled: "+ctx.Err().Error()
					return
				}
				defer func() { <-sem }()
				runStep(ctx, cfg, st.Target, out)
				if out.dir != "" {
					mu.Lock()
					rep.keep = append(rep.keep, out.dir)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, o := range outs {
			done[o.Name] = o
		}
		rep.Outcomes = append(rep.Outcomes, outs...)
	}
	return rep, ctx.Err()
}

// pinsFor returns the pinned references of st's rebuilt parents, or why st
// must be skipped.
func pinsFor(st *Step, done map[string]*Outcome, plan *Plan) (map[string]string, string) {
	pins := map[string]string{}
	for _, p := range st.Parents {
		o := done[p]
		switch {
		case o == nil:
			return nil, "parent " + p + " not run"
		case o.Status == StatusFailed:
			return nil, fmt.Sprintf("parent %s failed: %s", p, firstLine(o.Err.Error()))
		case o.Status == StatusSkipped:
			return nil, fmt.Sprintf("parent %s skipped: %s", p, o.Reason)
		case o.Status == StatusPlanned:
			pins[Repository(targetRef(plan, p))] = "<new digest of " + p + ">"
		case o.Status == StatusBuilt:
			pins[Repository(targetRef(plan, p))] = o.Pinned
		}
	}
	return pins, ""
}

func targetRef(plan *Plan, n string) string {
	for _, s := range plan.Steps() {
		if s.Target.name() == n {
			return s.Target.Ref
		}
	}
	return ""
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Run runs one rebuild step for t on the pinned references of its rebuilt
// parents (repository -> "repo@sha256:…", see Pin): it fetches t.Source
// when a builder needs it, builds with t.Builder (or, when t.Builder is a
// rebaser that cannot apply, with t.Fallback), stamps the image with the
// next release and the reasons (see Stamp), checks it (WithVerify) and
// stages it with the Store (WithStore; otherwise Outcome.Pinned is
// "<repository of t.Ref>@<digest>" and nothing is pushed). Execute runs
// every step of a plan through Run; an orchestrator runs one.
//
// The working directory is a new directory under WithWorkDir (default
// os.TempDir); the source checkout is removed when Run returns, the build
// directory (which the image may read from) when Outcome.Close is called.
//
// Run returns the outcome, and the step's error when it failed (also in
// Outcome.Err, unchanged so that callers can match ErrAuth, *FetchError,
// *BuildError, *PrefixError…). A rebase with nothing to do and no
// Fallback is StatusUnchanged with a nil error, its reason in
// Outcome.Reason.
func Run(ctx context.Context, t *Target, pins map[string]string, opts ...Option) (*Outcome, error) {
	cfg := newConfig(opts)
	out := &Outcome{Name: t.name(), Pins: pins}
	if t.Builder != nil {
		out.Builder = t.Builder.Name()
	}
	runStep(ctx, cfg, t, out)
	return out, out.Err
}

// Close removes the working directory the outcome's image may read from.
// It is safe to call more than once.
func (o *Outcome) Close() error {
	if o.dir == "" {
		return nil
	}
	err := os.RemoveAll(o.dir)
	o.dir = ""
	return err
}

// rebaseCannotApply reports whether err says a rebase is not possible, so
// that a build from source is the way.
func rebaseCannotApply(err error) bool {
	var pe *PrefixError
	return errors.Is(err, ErrBaseUnchanged) || errors.Is(err, ErrNoBase) || errors.As(err, &pe)
}

// currentRelease returns the release label the step bumps: t.Release, or
// the label of t.Image.
func currentRelease(t *Target) string {
	img := t.Image
	if t.Release == "" && img == nil && t.Index != nil {
		if ds, err := imageChildren(t.Index); err == nil && len(ds) > 0 {
			img, _ = t.Index.Image(ds[0].Digest)
		}
	}
	if t.Release != "" || img == nil {
		return t.Release
	}
	if cf, err := img.ConfigFile(); err == nil {
		return cf.Config.Labels[LabelRelease]
	}
	return ""
}

// nextRelease applies the target's release rule to current.
func nextRelease(t *Target, current string) string {
	if t.Version != "" {
		return NextFreeRelease(t.Version, current, t.Tags)
	}
	return NextRelease(current)
}

// runStep builds t into out.
func runStep(ctx context.Context, cfg *config, t *Target, out *Outcome) {
	log := cfg.logger.With(slog.String("target", out.Name))
	fail := func(err error) {
		out.Status, out.Err = StatusFailed, err
		log.LogAttrs(ctx, slog.LevelError, "rebuild: failed", slog.String("error", firstLine(err.Error())))
	}
	if t.Builder == nil {
		fail(errors.New("rebuild: target has no Builder"))
		return
	}
	if t.multiPlatform() {
		runIndexStep(ctx, cfg, t, out, log, fail)
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
	build := func(b Builder, src *Checkout, n int) (*Result, Stamp, error) {
		st := stamp
		st.Method = b.Name()
		if src != nil {
			st.Commit, st.Source = src.Commit, src.URL
		}
		dir := filepath.Join(work, "build-"+strconv.Itoa(n))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, st, err
		}
		req := &Request{
			Ref: t.Ref, Image: t.Image, Source: src, Pins: out.Pins, Base: t.Base,
			BuildArgs: t.BuildArgs, Secrets: t.Secrets, Labels: st.Labels(), Annotations: st.Annotations(),
			NoCache: t.NoCache, WorkDir: dir,
		}
		log.LogAttrs(ctx, slog.LevelInfo, "rebuild: building", slog.String("builder", b.Name()), slog.Any("pins", out.Pins))
		res, err := b.Build(ctx, req)
		if err != nil {
			var be *BuildError
			if errors.As(err, &be) {
				out.Log = be.Log
			}
		}
		return res, st, err
	}

	var (
		res *Result
		st  Stamp
	)
	if t.Fallback == nil {
		if err := fetch(); err != nil {
			fail(err)
			return
		}
		res, st, err = build(t.Builder, co, 1)
	} else {
		res, st, err = build(t.Builder, nil, 1)
		if err != nil && rebaseCannotApply(err) {
			out.FallbackCause = err
			log.LogAttrs(ctx, slog.LevelInfo, "rebuild: rebase cannot apply, building from source", slog.String("reason", firstLine(err.Error())))
			if ferr := fetch(); ferr != nil {
				fail(ferr)
				return
			}
			out.Builder = t.Fallback.Name()
			res, st, err = build(t.Fallback, co, 2)
		}
	}
	if errors.Is(err, ErrBaseUnchanged) {
		out.Status, out.Reason = StatusUnchanged, err.Error()
		return
	}
	if err != nil {
		fail(err)
		return
	}
	out.Log = res.Log
	img := res.Image
	if st.Release == "" {
		if cf, err := img.ConfigFile(); err == nil {
			st.Release = nextRelease(t, cf.Config.Labels[LabelRelease])
		}
	}
	st.BaseName, st.BaseDigest = res.BaseName, res.BaseDigest
	if m, err := img.Manifest(); err == nil && m.Annotations[AnnotationBaseDigest] != "" {
		// What the build tool recorded is authoritative.
		st.BaseName, st.BaseDigest = m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
	}
	if img, err = st.Apply(img); err != nil {
		fail(err)
		return
	}
	out.Release = st.Release
	if out.Digest, err = img.Digest(); err != nil {
		fail(err)
		return
	}
	if cfg.verify != nil {
		if err := cfg.verify(ctx, t, img); err != nil {
			fail(err)
			return
		}
	}
	out.Image = img
	if cfg.store != nil {
		if out.Pinned, err = cfg.store.Put(ctx, t, img); err != nil {
			fail(err)
			return
		}
	} else {
		out.Pinned = Repository(t.Ref) + "@" + out.Digest.String()
	}
	out.dir = work
	out.Status = StatusBuilt
	log.LogAttrs(ctx, slog.LevelInfo, "rebuild: built", slog.String("digest", out.Digest.String()), slog.String("release", st.Release))
}

// step holds what every rebuild step starts with: its work directory, the
// stamp of the new image (reason, time, next release) and the source,
// fetched once on first use.
type step struct {
	ctx   context.Context
	cfg   *config
	t     *Target
	out   *Outcome
	work  string
	stamp Stamp
	co    *Checkout
}

// startStep creates the step's work directory and its stamp.
func startStep(ctx context.Context, cfg *config, t *Target, out *Outcome) (*step, error) {
	work, err := os.MkdirTemp(cfg.workDir, "rebuild-"+unsafeChars.ReplaceAllString(out.Name, "_")+"-")
	if err != nil {
		return nil, err
	}
	s := &step{ctx: ctx, cfg: cfg, t: t, out: out, work: work, stamp: Stamp{Reason: t.Reason, Time: cfg.now()}}
	if cur := currentRelease(t); cur != "" {
		s.stamp.Release = nextRelease(t, cur)
	}
	return s, nil
}

// fetch checks the target's source out once (nil without a source) and
// records its commit in the outcome.
func (s *step) fetch() (*Checkout, error) {
	if s.t.Source == nil || s.co != nil {
		return s.co, nil
	}
	c, err := s.t.Source.Fetch(s.ctx, filepath.Join(s.work, "source"), WithLogger(s.cfg.logger))
	if err != nil {
		return nil, err
	}
	s.co, s.out.Commit = c, c.Commit
	return c, nil
}

// close removes the checkout, and the whole work directory unless the
// step built an image (which Outcome.Close removes).
func (s *step) close() {
	_ = os.RemoveAll(filepath.Join(s.work, "source"))
	if s.out.Status != StatusBuilt {
		_ = os.RemoveAll(s.work)
	}
}
