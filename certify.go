package abs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// certification is the gate WithCertification configures.
type certification struct {
	policy     *certify.Policy
	checks     []certify.Check
	requireAll bool

	once     sync.Once
	resolved *certify.Policy
	err      error
}

// CertificationOption configures the certification gate of
// WithCertification.
type CertificationOption func(*certification)

// RequireAllChecks makes the gate require every check to pass on every
// rebuild, as for a first certification, instead of only the checks that
// pass on the image it replaces. Use it for images that are certified
// already and must stay fully certified.
func RequireAllChecks() CertificationOption {
	return func(c *certification) { c.requireAll = true }
}

// WithCertification puts a certification gate in the verify step: the
// checks of policy (nil: certify.Container, reading RPMs with the
// orchestrator's scanner), plus checks, run on the image customers have
// now and on its rebuild, on every platform. The rebuild is published only
// if every check that passed on the current image still passes on it (with
// RequireAllChecks, only if every check passes). A rebuild the gate blocks
// fails permanently at stage "verify"; its report detail and its owners'
// message name each check that blocked and why, and the error wraps
// certify.ErrBlocked. A check is an extension point: add a rule of your
// own by implementing certify.Check and passing it here.
//
// Without this option rebuilds are not certified. New returns an error
// when policy is nil and the default policy cannot be made.
func WithCertification(policy *certify.Policy, checks []certify.Check, opts ...CertificationOption) Option {
	return func(o *Orchestrator) {
		c := &certification{policy: policy}
		for _, opt := range opts {
			opt(c)
		}
		if len(checks) > 0 {
			c.checks = checks
		}
		o.cert = c
	}
}

// policyFor returns the policy the gate runs, made on first use when the
// caller gave none.
func (c *certification) policyFor(scanner rpmscan.Scanner) (*certify.Policy, error) {
	c.once.Do(func() {
		p := c.policy
		if p == nil {
			p, c.err = certify.New(certify.Container, certify.WithScanner(scanner))
			if c.err != nil {
				return
			}
		}
		if len(c.checks) > 0 {
			p = p.With(c.checks...)
		}
		c.resolved = p
	})
	return c.resolved, c.err
}

// rebuildArtifact is what the certification gate reads of a rebuild: the
// new image, or the new index of a multi-platform image, and the
// inventories already scanned of it and of the image it replaces
// (matched to platforms by digest; a platform without one is scanned).
type rebuildArtifact struct {
	Image       v1.Image
	Index       v1.ImageIndex
	Inventories []*rpmscan.Inventory
	Current     []*rpmscan.Inventory
}

// CertificationError is the error of a rebuild the certification gate
// blocked. It matches certify.ErrBlocked with errors.Is.
type CertificationError struct {
	// Blocks are the checks that stop publication, one per platform.
	Blocks []certify.Block
	err    error
}

// Error names each check that blocked, on one line.
func (e *CertificationError) Error() string {
	var names []string
	var parts []string
	for _, b := range e.Blocks {
		if b.Check != "" && !slices.Contains(names, b.Check) {
			names = append(names, b.Check)
		}
		parts = append(parts, b.String())
	}
	word, verb := "check", "blocks"
	if len(names) > 1 {
		word, verb = "checks", "block"
	}
	if len(names) == 0 {
		return "certification blocks publication: " + strings.Join(parts, "; ")
	}
	return fmt.Sprintf("certification %s %s %s publication: %s", word, strings.Join(names, ", "), verb, strings.Join(parts, "; "))
}

// Unwrap returns the certify.GateError behind the block.
func (e *CertificationError) Unwrap() error { return e.err }

// Checks returns the names of the checks that blocked, in order, without
// repeats.
func (e *CertificationError) Checks() []string {
	var names []string
	for _, b := range e.Blocks {
		if b.Check != "" && !slices.Contains(names, b.Check) {
			names = append(names, b.Check)
		}
	}
	return names
}

// certifyRebuild is the certification gate of the verify step: nil when
// no gate is configured or the rebuild may be published, a permanent
// failure of "verify" wrapping a *CertificationError when it may not, and
// a retryable error when the images cannot be read.
func (o *Orchestrator) certifyRebuild(ctx context.Context, r store.Rebuild, img *Image, built rebuildArtifact) error {
	if o.cert == nil {
		return nil
	}
	p, err := o.cert.policyFor(o.scanner)
	if err != nil {
		return permanent("verify", fmt.Errorf("certification policy: %w", err))
	}
	var current *certify.Report
	if !o.cert.requireAll {
		current, err = o.certifyCurrent(ctx, p, r, img, built.Current)
		if err != nil {
			return fmt.Errorf("certify the current image: %w", err)
		}
	}
	var after *certify.Report
	switch {
	case built.Index != nil:
		s, err := o.certSubject(img, built.Inventories, nil, built.Index)
		if err != nil {
			return permanent("verify", err)
		}
		after, err = p.CertifyIndex(ctx, built.Index, s)
		if err != nil {
			return fmt.Errorf("certify the rebuild: %w", err)
		}
	case built.Image != nil:
		s, err := o.certSubject(img, built.Inventories, built.Image, nil)
		if err != nil {
			return permanent("verify", err)
		}
		after, err = p.Certify(ctx, built.Image, s)
		if err != nil {
			return fmt.Errorf("certify the rebuild: %w", err)
		}
	default:
		return permanent("verify", errors.New("certify: no rebuilt image"))
	}
	d := certify.Gate(current, after)
	passed, total := countPassed(after)
	if d.Allowed {
		o.note(r.Cycle, "verify", r.Image, "certification passed",
			fmt.Sprintf("%s: certification (%s) passed: %d of %d checks pass, none that passed before fails", r.Image, p.Name(), passed, total),
			"rebuild", r.ID, "policy", p.Name(), "passed", passed, "checks", total)
		return nil
	}
	ce := &CertificationError{Blocks: d.Blocks, err: d.Err()}
	o.note(r.Cycle, "verify", r.Image, "certification blocked the rebuild", fmt.Sprintf("%s: %v", r.Image, ce),
		"rebuild", r.ID, "policy", p.Name(), "checks", ce.Checks())
	return permanent("verify", ce)
}

// certifyCurrent runs the policy on the image the rebuild replaces.
func (o *Orchestrator) certifyCurrent(ctx context.Context, p *certify.Policy, r store.Rebuild, img *Image, invs []*rpmscan.Inventory) (*certify.Report, error) {
	ref, err := o.digestRef(img.Repository + "@" + r.OldDigest)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, o.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		s, err := o.certSubject(img, invs, nil, idx)
		if err != nil {
			return nil, err
		}
		return p.CertifyIndex(ctx, idx, s)
	}
	cur, err := desc.Image()
	if err != nil {
		return nil, err
	}
	s, err := o.certSubject(img, invs, cur, nil)
	if err != nil {
		return nil, err
	}
	return p.Certify(ctx, cur, s)
}

// certSubject says where an image is published: its repository, and its
// tags, the image's floating tags and the immutable VERSION-RELEASE tag
// the publish step gives it.
func (o *Orchestrator) certSubject(img *Image, invs []*rpmscan.Inventory, single v1.Image, idx v1.ImageIndex) (certify.Subject, error) {
	s := certify.Subject{Repository: img.Repository, Tags: slices.Clone(img.Tags), Inventories: invs}
	var cf *v1.ConfigFile
	var digest v1.Hash
	var err error
	switch {
	case single != nil:
		if cf, err = single.ConfigFile(); err != nil {
			return s, err
		}
		if digest, err = single.Digest(); err != nil {
			return s, err
		}
	case idx != nil:
		if digest, err = idx.Digest(); err != nil {
			return s, err
		}
		if im, err := idx.IndexManifest(); err == nil && len(im.Manifests) > 0 {
			if child, err := idx.Image(im.Manifests[0].Digest); err == nil {
				cf, _ = child.ConfigFile()
			}
		}
	}
	s.Tags = append(s.Tags, versionTagOf(cf, digest.String()))
	return s, nil
}

// versionTagOf is the immutable tag the publish step gives an image:
// VERSION-RELEASE from its labels, or "rebuild-" and the digest's first
// twelve hex digits when they do not make a valid tag.
func versionTagOf(cf *v1.ConfigFile, digest string) string {
	if cf != nil {
		if vt, err := publish.VersionTag(cf.Config.Labels["version"], cf.Config.Labels[rebuild.LabelRelease]); err == nil {
			return vt
		}
	}
	hex := strings.TrimPrefix(digest, "sha256:")
	return "rebuild-" + hex[:min(12, len(hex))]
}

func countPassed(rep *certify.Report) (passed, total int) {
	if rep == nil {
		return 0, 0
	}
	for _, p := range rep.Platforms {
		for _, r := range p.Results {
			total++
			if r.Status == certify.Passed {
				passed++
			}
		}
	}
	return passed, total
}
