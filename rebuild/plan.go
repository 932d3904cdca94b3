package rebuild

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Target is one image to rebuild.
type Target struct {
	// Name identifies the target in the plan and the report (default Ref).
	Name string
	// Ref is the image's current reference, e.g. "reg.example/ns/app:1.2".
	// Its repository (and tag) is how children find it as their parent.
	Ref string
	// Bases are the images this one is built on: the FROM images of its
	// Containerfile (see ParseContainerfile) and/or its recorded
	// org.opencontainers.image.base.name. A base that is another target is
	// that target's child.
	Bases []string
	// Source is where the image's source lives (required by Buildah and
	// Command). Execute fetches it whenever it is set and records the
	// commit; leave it nil for Rebase targets.
	Source *GitSource
	// Builder rebuilds the image.
	Builder Builder
	// Fallback, when set, rebuilds the image from Source when Builder (a
	// rebaser) cannot apply: the base has not moved (ErrBaseUnchanged),
	// is not known (ErrNoBase) or is not a prefix of the image
	// (*PrefixError). Builder then runs without a checkout, and Source is
	// fetched only for the Fallback.
	Fallback Builder
	// Release is the image's current release label; the rebuilt image
	// gets NextRelease(Release). When empty, the release label of Image
	// (when set), else of the freshly built image, is bumped instead.
	Release string
	// Version and Tags, when Version is set, make the new release the
	// next one free among the repository's tags (NextFreeRelease), so
	// that the immutable tag Version-Release is not already taken.
	Version string
	Tags    []string
	// Reason says why the image is rebuilt (advisories, text).
	Reason Reason
	// BuildArgs are passed to the build.
	BuildArgs map[string]string
	// Secrets are passed to the build as build secrets (Request.Secrets).
	Secrets map[string]Secret
	// NoCache disables build caches.
	NoCache bool
	// Image is the current image, if the caller has it (Rebase uses it
	// instead of pulling Ref). It is ignored when Index is set.
	Image v1.Image
	// Base is the image's base as "name@digest", for images that carry no
	// base annotations (used by Rebase).
	Base string
	// Index is the current image when it is a multi-platform image
	// index. Run then rebuilds it as one unit into a new index
	// (Outcome.Index): every platform of Platforms (default: every image
	// of Index) is built with Request.Platform set, the other images of
	// Index are carried over byte for byte, and so is a platform a
	// rebaser finds nothing to do for (ErrBaseUnchanged). The new index
	// keeps Index's media type (OCI index or Docker manifest list),
	// order, annotations and descriptors' platforms and annotations.
	Index v1.ImageIndex
	// Platforms are the platforms to build ("linux/amd64" is
	// {OS: "linux", Architecture: "amd64"}); see ParsePlatform. With
	// Index, the ones to rebuild (default all of Index's); without, the
	// platforms of a new index built from source. A target with Index or
	// Platforms is always rebuilt into an index, never a single image.
	Platforms []v1.Platform
}

// multiPlatform reports whether t is rebuilt into an index.
func (t *Target) multiPlatform() bool { return t.Index != nil || len(t.Platforms) > 0 }

func (t *Target) name() string { return cmp.Or(t.Name, t.Ref) }

// Step is one target in a Plan.
type Step struct {
	Target *Target
	// Parents are the names of the targets this one builds on; they are in
	// earlier batches.
	Parents []string
	// Why explains the rebuild: the target's reason plus its rebuilt
	// parents.
	Why string
}

// Plan orders targets in batches: every target comes after all of its
// parents, and the targets of one batch are independent of each other.
type Plan struct {
	Batches [][]*Step
}

// CycleError reports targets that build on each other in a loop.
type CycleError struct {
	Names []string // the targets on or behind the cycle, sorted
}

// Error lists the targets in the cycle.
func (e *CycleError) Error() string {
	return "rebuild: dependency cycle among " + strings.Join(e.Names, ", ")
}

// ErrDuplicateTarget is returned by NewPlan when two targets share a name.
var ErrDuplicateTarget = errors.New("rebuild: duplicate target")

// NewPlan relates targets through their Bases and orders them in batches,
// parents first. A base matches a target when it names the target's
// repository and tag; a base pinned by digest, or without a matching tag,
// matches the repository's only target. Bases that match no target are
// outside the plan. It fails with a *CycleError when targets depend on each
// other in a loop.
func NewPlan(targets []*Target) (*Plan, error) {
	byName := map[string]*Target{}
	byRepo := map[string][]*Target{}
	for _, t := range targets {
		n := t.name()
		if n == "" {
			return nil, fmt.Errorf("%w: target without Name or Ref", ErrDuplicateTarget)
		}
		if _, dup := byName[n]; dup {
			return nil, fmt.Errorf("%w: %s", ErrDuplicateTarget, n)
		}
		byName[n] = t
		if t.Ref != "" {
			r := Repository(t.Ref)
			byRepo[r] = append(byRepo[r], t)
		}
	}
	parents := map[string][]string{}
	children := map[string][]string{}
	for _, t := range targets {
		seen := map[string]bool{}
		for _, b := range t.Bases {
			p := matchParent(b, byRepo[Repository(b)], t)
			if p == nil || seen[p.name()] {
				continue
			}
			seen[p.name()] = true
			parents[t.name()] = append(parents[t.name()], p.name())
			children[p.name()] = append(children[p.name()], t.name())
		}
		slices.Sort(parents[t.name()])
	}

	// Kahn's algorithm, one level at a time.
	indeg := map[string]int{}
	for _, t := range targets {
		indeg[t.name()] = len(parents[t.name()])
	}
	var level []string
	for _, t := range targets {
		if indeg[t.name()] == 0 {
			level = append(level, t.name())
		}
	}
	plan := &Plan{}
	done := 0
	for len(level) > 0 {
		slices.Sort(level)
		batch := make([]*Step, 0, len(level))
		var next []string
		for _, n := range level {
			t := byName[n]
			batch = append(batch, &Step{Target: t, Parents: parents[n], Why: why(t, parents[n])})
			for _, c := range children[n] {
				if indeg[c]--; indeg[c] == 0 {
					next = append(next, c)
				}
			}
		}
		done += len(batch)
		plan.Batches = append(plan.Batches, batch)
		level = next
	}
	if done != len(targets) {
		var stuck []string
		for n, d := range indeg {
			if d > 0 {
				stuck = append(stuck, n)
			}
		}
		slices.Sort(stuck)
		return nil, &CycleError{Names: stuck}
	}
	return plan, nil
}

func matchParent(base string, candidates []*Target, self *Target) *Target {
	var others []*Target
	for _, c := range candidates {
		if c != self {
			others = append(others, c)
		}
	}
	if len(others) == 0 {
		return nil
	}
	if bt, err := name.NewTag(base); err == nil && !strings.Contains(base, "@") {
		for _, c := range others {
			if ct, err := name.NewTag(c.Ref); err == nil && ct.TagStr() == bt.TagStr() {
				return c
			}
		}
	}
	if len(others) == 1 {
		return others[0]
	}
	return nil
}

func why(t *Target, parents []string) string {
	parts := []string{}
	if s := t.Reason.String(); s != "" {
		parts = append(parts, s)
	}
	if len(parents) > 0 {
		parts = append(parts, "parent "+strings.Join(parents, ", ")+" rebuilt")
	}
	if len(parts) == 0 {
		return "requested"
	}
	return strings.Join(parts, "; ")
}

// Steps returns the steps of all batches in order.
func (p *Plan) Steps() []*Step {
	var out []*Step
	for _, b := range p.Batches {
		out = append(out, b...)
	}
	return out
}

// String renders the plan, one batch per paragraph: what is built, with
// which builder, on which parents, and why.
func (p *Plan) String() string {
	var b strings.Builder
	for i, batch := range p.Batches {
		fmt.Fprintf(&b, "batch %d:\n", i+1)
		for _, s := range batch {
			builder := "no builder"
			if s.Target.Builder != nil {
				builder = s.Target.Builder.Name()
			}
			fmt.Fprintf(&b, "  %s (%s)", s.Target.name(), builder)
			if len(s.Parents) > 0 {
				fmt.Fprintf(&b, " on %s", strings.Join(s.Parents, ", "))
			}
			fmt.Fprintf(&b, ": %s\n", s.Why)
		}
	}
	return b.String()
}
