package certify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/openabs/abs/rpmscan"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check.
const (
	// Passed means the image meets the rule.
	Passed Status = "passed"
	// Failed means the image breaks the rule.
	Failed Status = "failed"
	// Error means the check could not decide (unreadable layer, catalog
	// unreachable, missing input).
	Error Status = "error"
)

// Result is the outcome of one check on one image.
type Result struct {
	// Check is the name of the check, e.g. "HasLicense".
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Reason says in a sentence why the check passed, failed or erred.
	Reason string `json:"reason"`
	// Err is the error behind an Error status, for errors.Is and errors.As.
	Err error `json:"-"`
}

// Check is one certification rule. It is the package's extension point:
// the checks of Red Hat's container policy implement it, and a user adds
// a rule of their own by implementing it and passing it to [Policy.With].
//
// Validate must not panic and must stop when ctx is cancelled; it reads
// the image through t, which caches what the checks share (the
// configuration, the merged filesystem, the RPM inventory).
type Check interface {
	// Name identifies the check in results and gate decisions; it must be
	// unique within a policy.
	Name() string
	// Description says in a sentence what the check requires.
	Description() string
	// Validate runs the check on one image (one platform).
	Validate(ctx context.Context, t *Target) Result
}

// Subject is what the image bytes do not say: where the image is
// published and what it was built from.
type Subject struct {
	// Repository is where the image is (or will be) published,
	// "registry/namespace/name". HasProhibitedContainerName reads its last
	// element.
	Repository string
	// Tags are the tags the image is published under. HasUniqueTag needs
	// one that is not "latest".
	Tags []string
	// BaseDigest is the manifest digest of the image's base, when the
	// caller knows it. When empty, the manifest annotation or config label
	// org.opencontainers.image.base.digest is used.
	BaseDigest string
	// BaseName is the reference of the base ("registry.access.redhat.com/ubi9/ubi:9.4").
	// When empty, org.opencontainers.image.base.name is used.
	BaseName string
	// Inventories are RPM inventories the caller already has (from
	// rpmscan), matched to platforms by image digest; a platform without
	// one is scanned.
	Inventories []*rpmscan.Inventory
}

// Target is one image (one platform of an index) under certification, as
// a [Check] sees it. Its methods read the image lazily and cache what they
// read; they are safe for concurrent use.
type Target struct {
	// Image is the image of this platform.
	Image v1.Image
	// Platform is "os/arch[/variant]" from the index, or from the image
	// configuration for a lone image.
	Platform string
	// Digest is the image's manifest digest.
	Digest v1.Hash
	// Annotations are the manifest's annotations (from the index
	// descriptor for an index).
	Annotations map[string]string
	Subject

	scanner rpmscan.Scanner
	limits  Limits

	mu      sync.Mutex
	cfg     *v1.ConfigFile
	cfgErr  error
	fs      *FS
	fsErr   error
	inv     *rpmscan.Inventory
	invErr  error
	invDone bool
}

// NewTarget returns a Target for img with the default scanner and limits;
// [Policy.Certify] makes its own, configured by the policy's options.
func NewTarget(img v1.Image, s Subject) (*Target, error) {
	return newTarget(img, nil, s, nil, Limits{})
}

func newTarget(img v1.Image, desc *v1.Descriptor, s Subject, scanner rpmscan.Scanner, lim Limits) (*Target, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("certify: image digest: %w", err)
	}
	t := &Target{Image: img, Digest: d, Subject: s, scanner: scanner, limits: lim}
	if desc != nil {
		t.Annotations = desc.Annotations
		if desc.Platform != nil {
			t.Platform = platformString(desc.Platform)
		}
	}
	if m, err := img.Manifest(); err == nil && len(m.Annotations) > 0 {
		merged := make(map[string]string, len(m.Annotations)+len(t.Annotations))
		for k, v := range m.Annotations {
			merged[k] = v
		}
		for k, v := range t.Annotations {
			merged[k] = v
		}
		t.Annotations = merged
	}
	if t.Platform == "" {
		if cfg, err := t.Config(); err == nil {
			if p := cfg.Platform(); p != nil {
				t.Platform = platformString(p)
			}
		}
	}
	return t, nil
}

func platformString(p *v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Config returns the image configuration.
func (t *Target) Config() (*v1.ConfigFile, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg == nil && t.cfgErr == nil {
		t.cfg, t.cfgErr = t.Image.ConfigFile()
		if t.cfgErr == nil && t.cfg == nil {
			t.cfgErr = fmt.Errorf("certify: image has no configuration")
		}
	}
	return t.cfg, t.cfgErr
}

// Labels returns the configuration's labels (nil when there are none).
func (t *Target) Labels() (map[string]string, error) {
	cfg, err := t.Config()
	if err != nil {
		return nil, err
	}
	return cfg.Config.Labels, nil
}

// FS returns the image's merged filesystem, reading the layers once.
func (t *Target) FS(ctx context.Context) (*FS, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fs != nil || t.fsErr != nil {
		return t.fs, t.fsErr
	}
	f, err := ReadFS(ctx, t.Image, t.limits)
	if err != nil && ctx.Err() != nil {
		return nil, err // cancelled: a later call may read again
	}
	t.fs, t.fsErr = f, err
	return f, err
}

// Inventory returns the image's RPM inventory: the one given in
// [Subject.Inventories] for this digest, else a scan with the policy's
// [rpmscan.Scanner].
func (t *Target) Inventory(ctx context.Context) (*rpmscan.Inventory, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.invDone {
		return t.inv, t.invErr
	}
	for _, inv := range t.Inventories {
		if inv != nil && inv.Image.Digest == t.Digest.String() {
			t.inv, t.invDone = inv, true
			return inv, nil
		}
	}
	s := t.scanner
	if s == nil {
		s = rpmscan.New()
	}
	t.inv, t.invErr = s.Scan(ctx, t.Image)
	if ctx.Err() == nil {
		t.invDone = true
	}
	return t.inv, t.invErr
}

// BaseDigest returns the digest of the image's base: [Subject.BaseDigest],
// else the org.opencontainers.image.base.digest annotation or label.
func (t *Target) BaseDigest() string {
	return t.baseField(t.Subject.BaseDigest, "org.opencontainers.image.base.digest")
}

// BaseName returns the reference of the image's base: [Subject.BaseName],
// else the org.opencontainers.image.base.name annotation or label.
func (t *Target) BaseName() string {
	return t.baseField(t.Subject.BaseName, "org.opencontainers.image.base.name")
}

func (t *Target) baseField(given, key string) string {
	if given != "" {
		return given
	}
	if v := t.Annotations[key]; v != "" {
		return v
	}
	if l, err := t.Labels(); err == nil {
		return l[key]
	}
	return ""
}

// Variant selects which checks of the container policy apply, as
// preflight's policies do.
type Variant string

// The container policies of Red Hat's certification.
const (
	// Container is the full container policy.
	Container Variant = "container"
	// RootException is the container policy for an image granted the
	// exception to run as root: RunAsNonRoot is not run.
	RootException Variant = "root"
	// ScratchNonRoot is the policy for an image built from scratch: no
	// package, modified-files or UBI checks.
	ScratchNonRoot Variant = "scratch-nonroot"
	// ScratchRoot is the scratch policy with the root exception.
	ScratchRoot Variant = "scratch-root"
	// Konflux is the policy of Konflux pipelines: no label trademark or
	// container name checks.
	Konflux Variant = "konflux"
)

// Variants lists every known [Variant].
func Variants() []Variant {
	return []Variant{Container, RootException, ScratchNonRoot, ScratchRoot, Konflux}
}

// Option configures a [Policy].
type Option func(*config)

type config struct {
	catalog Catalog
	files   FileLister
	scanner rpmscan.Scanner
	limits  Limits
	log     *slog.Logger
}

// WithCatalog makes BasedOnUbi look the base image up in a catalog
// (a *partnerapi.Client satisfies [Catalog]).
func WithCatalog(c Catalog) Option { return func(o *config) { o.catalog = c } }

// WithFileLister sets how HasModifiedFiles learns the files each RPM
// installed (default [ScannerFiles], which reads the image's rpmdb with
// rpmscan).
func WithFileLister(l FileLister) Option { return func(o *config) { o.files = l } }

// WithScanner sets the scanner that produces RPM inventories
// (default rpmscan.New()).
func WithScanner(s rpmscan.Scanner) Option { return func(o *config) { o.scanner = s } }

// WithLimits bounds the layer walk.
func WithLimits(l Limits) Option { return func(o *config) { o.limits = l } }

// WithLogger sets a logger for one debug record per result; by default
// the policy is silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *config) {
		if l != nil {
			o.log = l
		}
	}
}

// Policy is an ordered set of checks run on every platform of an image.
type Policy struct {
	name   string
	checks []Check
	cfg    config
}

// New returns the container policy variant v, configured by opts. An
// unknown variant is an error.
func New(v Variant, opts ...Option) (*Policy, error) {
	cfg := config{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	ubi := BasedOnUbi{Catalog: cfg.catalog}
	if cfg.files == nil {
		cfg.files = ScannerFiles{}
	}
	mod := HasModifiedFiles{Files: cfg.files}
	var cs []Check
	switch v {
	case Container:
		cs = []Check{HasLicense{}, HasUniqueTag{}, LayerCountAcceptable{}, HasNoProhibitedPackages{},
			HasRequiredLabel{}, HasNoProhibitedLabels{}, RunAsNonRoot{}, mod, ubi, HasProhibitedContainerName{}}
	case RootException:
		cs = []Check{HasLicense{}, HasUniqueTag{}, LayerCountAcceptable{}, HasNoProhibitedPackages{},
			HasRequiredLabel{}, HasNoProhibitedLabels{}, mod, ubi, HasProhibitedContainerName{}}
	case ScratchNonRoot:
		cs = []Check{HasLicense{}, HasUniqueTag{}, LayerCountAcceptable{},
			HasRequiredLabel{}, HasNoProhibitedLabels{}, RunAsNonRoot{}, HasProhibitedContainerName{}}
	case ScratchRoot:
		cs = []Check{HasLicense{}, HasUniqueTag{}, LayerCountAcceptable{},
			HasRequiredLabel{}, HasNoProhibitedLabels{}, HasProhibitedContainerName{}}
	case Konflux:
		cs = []Check{HasLicense{}, HasUniqueTag{}, LayerCountAcceptable{}, HasNoProhibitedPackages{},
			HasRequiredLabel{}, RunAsNonRoot{}, mod, ubi}
	default:
		return nil, fmt.Errorf("certify: unknown policy variant %q", v)
	}
	return &Policy{name: string(v), checks: cs, cfg: cfg}, nil
}

// Name returns the policy's name: its variant, with "+" and the names of
// added checks.
func (p *Policy) Name() string { return p.name }

// Checks returns the policy's checks in the order they run.
func (p *Policy) Checks() []Check { return slices.Clone(p.checks) }

// With returns a copy of p that also runs checks. A check with the name
// of one already in p replaces it.
func (p *Policy) With(checks ...Check) *Policy {
	q := &Policy{name: p.name, checks: slices.Clone(p.checks), cfg: p.cfg}
	var added []string
	for _, c := range checks {
		if i := slices.IndexFunc(q.checks, func(o Check) bool { return o.Name() == c.Name() }); i >= 0 {
			q.checks[i] = c
			continue
		}
		q.checks = append(q.checks, c)
		added = append(added, c.Name())
	}
	if len(added) > 0 {
		q.name += "+" + strings.Join(added, "+")
	}
	return q
}

// Without returns a copy of p without the checks named.
func (p *Policy) Without(names ...string) *Policy {
	q := &Policy{name: p.name, checks: slices.Clone(p.checks), cfg: p.cfg}
	q.checks = slices.DeleteFunc(q.checks, func(c Check) bool { return slices.Contains(names, c.Name()) })
	if len(q.checks) != len(p.checks) {
		q.name += "-" + strings.Join(names, "-")
	}
	return q
}

// Report is the outcome of a policy on an image: one set of results per
// platform.
type Report struct {
	Policy    string            `json:"policy"`
	Platforms []PlatformResults `json:"platforms"`
}

// PlatformResults are the results of every check on one platform.
type PlatformResults struct {
	// Platform is "os/arch[/variant]".
	Platform string `json:"platform"`
	// Digest is the platform image's manifest digest.
	Digest  string   `json:"digest"`
	Results []Result `json:"results"`
}

// Passed reports whether every check passed on every platform.
func (r *Report) Passed() bool {
	if r == nil || len(r.Platforms) == 0 {
		return false
	}
	for _, p := range r.Platforms {
		for _, res := range p.Results {
			if res.Status != Passed {
				return false
			}
		}
	}
	return true
}

// Certify runs the policy on a single image. The error is for what stops
// the whole run (cancellation, an unreadable manifest); a check that
// cannot decide reports [Error] in its result.
func (p *Policy) Certify(ctx context.Context, img v1.Image, s Subject) (*Report, error) {
	t, err := newTarget(img, nil, s, p.cfg.scanner, p.cfg.limits)
	if err != nil {
		return nil, err
	}
	pr, err := p.run(ctx, t)
	if err != nil {
		return nil, err
	}
	return &Report{Policy: p.name, Platforms: []PlatformResults{pr}}, nil
}

// CertifyIndex runs the policy on every platform of an index (nested
// indexes are followed one level; attestation manifests with platform
// unknown/unknown are skipped).
func (p *Policy) CertifyIndex(ctx context.Context, idx v1.ImageIndex, s Subject) (*Report, error) {
	rep := &Report{Policy: p.name}
	if err := p.index(ctx, idx, s, rep, 0); err != nil {
		return nil, err
	}
	if len(rep.Platforms) == 0 {
		return nil, fmt.Errorf("certify: index holds no image")
	}
	return rep, nil
}

func (p *Policy) index(ctx context.Context, idx v1.ImageIndex, s Subject, rep *Report, depth int) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("certify: index manifest: %w", err)
	}
	for _, desc := range m.Manifests {
		if err := ctx.Err(); err != nil {
			return err
		}
		if desc.MediaType.IsIndex() {
			if depth > 0 {
				continue
			}
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return fmt.Errorf("certify: index %s: %w", desc.Digest, err)
			}
			if err := p.index(ctx, child, s, rep, depth+1); err != nil {
				return err
			}
			continue
		}
		if !desc.MediaType.IsImage() || desc.Platform != nil && desc.Platform.OS == "unknown" {
			continue
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return fmt.Errorf("certify: image %s: %w", desc.Digest, err)
		}
		t, err := newTarget(img, &desc, s, p.cfg.scanner, p.cfg.limits)
		if err != nil {
			return err
		}
		pr, err := p.run(ctx, t)
		if err != nil {
			return err
		}
		rep.Platforms = append(rep.Platforms, pr)
	}
	return nil
}

func (p *Policy) run(ctx context.Context, t *Target) (PlatformResults, error) {
	pr := PlatformResults{Platform: t.Platform, Digest: t.Digest.String()}
	for _, c := range p.checks {
		if err := ctx.Err(); err != nil {
			return pr, err
		}
		r := validate(ctx, c, t)
		p.cfg.log.Debug("certify: check", "check", r.Check, "platform", t.Platform, "status", string(r.Status), "reason", r.Reason)
		pr.Results = append(pr.Results, r)
	}
	return pr, nil
}

// validate runs c, turning a panic into an Error result.
func validate(ctx context.Context, c Check, t *Target) (r Result) {
	defer func() {
		if v := recover(); v != nil {
			r = errorResult(c.Name(), fmt.Errorf("certify: check %s panicked: %v", c.Name(), v))
		}
	}()
	r = c.Validate(ctx, t)
	if r.Check == "" {
		r.Check = c.Name()
	}
	switch r.Status {
	case Passed, Failed, Error:
	default:
		r = errorResult(c.Name(), fmt.Errorf("certify: check %s returned status %q", c.Name(), r.Status))
	}
	return r
}

func passed(name, reason string) Result { return Result{Check: name, Status: Passed, Reason: reason} }
func failed(name, reason string) Result { return Result{Check: name, Status: Failed, Reason: reason} }
func errorResult(name string, err error) Result {
	return Result{Check: name, Status: Error, Reason: err.Error(), Err: err}
}
