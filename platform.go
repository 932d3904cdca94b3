package abs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// PlatformGrade is one platform of a multi-platform image (an image
// index) and its grade. The image's own grade is the worst of its
// platforms'.
type PlatformGrade struct {
	// Platform is "os/arch[/variant]" ("linux/arm64").
	Platform string `json:"platform"`
	// Digest is the manifest digest of the platform's image.
	Digest string            `json:"digest"`
	Grade  healthindex.Grade `json:"grade,omitempty"`
	// Findings are the platform's unapplied advisories (left out of
	// plan steps and summaries).
	Findings []advisory.Finding `json:"findings,omitempty"`
}

// platformState is what one cycle knows about one platform of a
// multi-platform image.
type platformState struct {
	platform   v1.Platform
	name       string // "linux/arm64"
	digest     string
	inv        *rpmscan.Inventory
	baseDigest string // the base digest the platform's image records
	findings   []advisory.Finding
	grade      healthindex.Grade
}

// platformGrades returns the per-platform grades of s (nil for a single
// image), with their findings when withFindings.
func (s *imageState) platformGrades(withFindings bool) []PlatformGrade {
	if len(s.platforms) == 0 {
		return nil
	}
	out := make([]PlatformGrade, 0, len(s.platforms))
	for _, p := range s.platforms {
		pg := PlatformGrade{Platform: p.name, Digest: p.digest, Grade: p.grade}
		if withFindings {
			pg.Findings = p.findings
		}
		out = append(out, pg)
	}
	return out
}

// attestationType is the descriptor annotation BuildKit sets on the
// attestation manifests it adds to an index.
const attestationType = "vnd.docker.reference.type"

// indexImages returns the platform images of idx in index order, each
// descriptor with its platform filled in (from the image's config when
// the index omits it); attestation manifests are left out.
func indexImages(idx v1.ImageIndex) ([]v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Annotations[attestationType] != "" {
			continue
		}
		if d.Platform == nil {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("index child %s: %w", d.Digest, err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("index child %s: %w", d.Digest, err)
			}
			if d.Platform = cf.Platform(); d.Platform == nil {
				return nil, fmt.Errorf("index child %s has no platform", d.Digest)
			}
		}
		if d.Platform.OS == "unknown" {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// platformImage returns the image of the index desc for platform p
// ("os/arch[/variant]").
func (o *Orchestrator) platformImage(desc *remote.Descriptor, p string) (v1.Image, error) {
	want, err := rebuild.ParsePlatform(p)
	if err != nil {
		return nil, err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	ds, err := indexImages(idx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if rebuild.SamePlatform(*d.Platform, want) {
			return idx.Image(d.Digest)
		}
	}
	return nil, &rebuild.PlatformError{Platform: want, Err: fmt.Errorf("%w: index %s has none", rebuild.ErrPlatformMissing, desc.Digest)}
}

// childrenPrefix marks a base cache key asking for the platform images of
// an index by reference rather than for an image's layers.
const childrenPrefix = "children:"

// baseFetch is the fetch of a cycle's base cache: the layers of an image
// (baseLayers), or for "children:ref" the "platform=digest" of every
// platform image of the index ref names now.
func (o *Orchestrator) baseFetch(ctx context.Context, key string) ([]string, error) {
	ref, ok := strings.CutPrefix(key, childrenPrefix)
	if !ok {
		return o.baseLayers(ctx, key)
	}
	r, err := o.ref(ref)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, o.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	ds, err := indexImages(idx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = rebuild.PlatformString(*d.Platform) + "=" + d.Digest.String()
	}
	return out, nil
}

// resolveIndex is resolveOne for a tag that points at an image index:
// one inventory per platform image (stored by digest and rpmdb layer like
// any image's), each platform's digest recorded with the index digest,
// and the base learnt per platform.
func (o *Orchestrator) resolveIndex(ctx context.Context, cycle string, s *imageState, desc *remote.Descriptor, bases *layerCache) error {
	idx, err := desc.ImageIndex()
	if err != nil {
		return fmt.Errorf("resolve %s: %w", s.img.Ref(), err)
	}
	s.digest = desc.Digest.String()
	ds, err := indexImages(idx)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", s.img.Ref(), err)
	}
	if len(ds) == 0 {
		return fmt.Errorf("resolve %s: index %s has no platform image", s.img.Ref(), short(s.digest))
	}
	digests := map[string]string{}
	for _, d := range ds {
		p := &platformState{platform: *d.Platform, name: rebuild.PlatformString(*d.Platform), digest: d.Digest.String()}
		if _, dup := digests[p.name]; dup {
			return fmt.Errorf("resolve %s: index lists platform %s twice", s.img.Ref(), p.name)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("resolve %s (%s): %w", s.img.Ref(), p.name, err)
		}
		if p.inv, err = o.inventory(ctx, cycle, s.img, img, p.digest, p.name); err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return fmt.Errorf("resolve %s (%s): %w", s.img.Ref(), p.name, err)
		}
		var bn string
		bn, p.baseDigest = recordedBase(m, img, s.img.Base)
		if s.baseName == "" {
			s.baseName = bn
		}
		digests[p.name] = p.digest
		s.platforms = append(s.platforms, p)
	}
	if err := store.SetManaged(ctx, o.db, s.img.Name, s.digest, o.now()); err != nil {
		return err
	}
	if err := store.SetManagedPlatforms(ctx, o.db, s.img.Name, digests, o.now()); err != nil {
		return err
	}
	if s.baseName == "" {
		return nil
	}
	bref, err := o.ref(s.baseName)
	if err != nil {
		return fmt.Errorf("base %s: %w", s.baseName, err)
	}
	if _, pinned := bref.(name.Digest); !pinned {
		bd, err := remote.Head(bref, o.ropts(ctx)...)
		if err != nil {
			return fmt.Errorf("base %s: %w", s.baseName, err)
		}
		s.baseNow = bd.Digest.String()
	}
	// Each platform records either the base index's digest or that of
	// the base's image for its platform; the base moved when, for some
	// platform, what it records is neither what the base tag points at
	// now nor the image for the platform in that index.
	var now map[string]string
	moved, recorded, inBase := "", "", true
	for _, p := range s.platforms {
		if p.baseDigest == "" {
			inBase = false
			continue
		}
		if recorded == "" {
			recorded = p.baseDigest
		}
		layers, err := bases.get(ctx, bref.Context().Name()+"@"+p.baseDigest+"#"+p.name)
		if err != nil || p.inv.RPMDB == nil || !slices.Contains(layers, p.inv.RPMDB.LayerDigest) {
			inBase = false
		}
		if s.baseNow == "" || p.baseDigest == s.baseNow {
			continue
		}
		if now == nil {
			now = map[string]string{}
			kids, err := bases.get(ctx, childrenPrefix+bref.Name())
			if err != nil {
				return fmt.Errorf("base %s: %w", s.baseName, err)
			}
			for _, k := range kids {
				pl, d, _ := strings.Cut(k, "=")
				now[pl] = d
			}
		}
		if d := platformDigest(now, p.platform); d == p.baseDigest {
			continue
		}
		if moved == "" {
			moved = p.baseDigest
		}
	}
	s.rpmdbInBase = inBase && recorded != ""
	switch {
	case moved != "":
		s.baseDigest = moved
	case recorded != "" && s.baseNow != "":
		s.baseDigest = s.baseNow // no platform's base moved
	default:
		s.baseDigest = recorded
	}
	return nil
}

// platformDigest returns the digest of the platform p in m
// ("os/arch[/variant]" -> digest), matched by rebuild.SamePlatform.
func platformDigest(m map[string]string, p v1.Platform) string {
	for k, d := range m {
		if q, err := rebuild.ParsePlatform(k); err == nil && rebuild.SamePlatform(q, p) {
			return d
		}
	}
	return ""
}

// setPlatformGrades takes the per-platform grades of a regrade for the
// platforms of s.
func (s *imageState) setPlatformGrades(pgs []PlatformGrade) error {
	for _, p := range s.platforms {
		i := slices.IndexFunc(pgs, func(g PlatformGrade) bool { return g.Platform == p.name && g.Digest == p.digest })
		if i < 0 {
			return fmt.Errorf("no stored inventory for platform %s", p.name)
		}
		p.findings, p.grade = pgs[i].Findings, pgs[i].Grade
	}
	return nil
}

// platformText renders per-platform grades for reports and mails:
// "linux/amd64 A, linux/arm64 C".
func platformText(pgs []PlatformGrade) string {
	parts := make([]string, len(pgs))
	for i, p := range pgs {
		parts[i] = p.Platform + " " + letterOr(p.Grade)
	}
	return strings.Join(parts, ", ")
}

func letterOr(g healthindex.Grade) string {
	if l := letter(g); l != "" {
		return l
	}
	return "?"
}

// verifiedDetail is the stored detail of a verified rebuild: "verified",
// and for a multi-platform image each platform's grade and new digest
// ("verified: linux/amd64 A sha256:…, linux/arm64 B sha256:…"), which
// reports read back with parseVerified.
func verifiedDetail(pgs []PlatformGrade) string {
	if len(pgs) == 0 {
		return "verified"
	}
	parts := make([]string, len(pgs))
	for i, p := range pgs {
		parts[i] = p.Platform + " " + letterOr(p.Grade) + " " + p.Digest
	}
	return "verified: " + strings.Join(parts, ", ")
}

func parseVerified(d string) []PlatformGrade {
	rest, ok := strings.CutPrefix(d, "verified: ")
	if !ok {
		return nil
	}
	var out []PlatformGrade
	for _, part := range strings.Split(rest, ", ") {
		f := strings.Fields(part)
		if len(f) != 3 {
			return nil
		}
		out = append(out, PlatformGrade{Platform: f[0], Grade: grade(f[1]), Digest: f[2]})
	}
	return out
}

// platformGradeText adds, for a published multi-platform rebuild, each
// platform's grade to the grades of the owner's message: "A (linux/amd64
// A, linux/arm64 A)", before from the cycle's plan, after from the
// verified rebuild.
func (o *Orchestrator) platformGradeText(ctx context.Context, plan storedPlan, r store.Rebuild, ev *notify.Rebuilt) {
	for _, st := range plan.Plan {
		if st.ID == r.ID && len(st.Platforms) > 0 {
			ev.GradeBefore += " (" + platformText(platformGrades(st.Platforms)) + ")"
		}
	}
	if d, err := store.LogDetail(ctx, o.db, r.ID, string(RebuildBuilt)); err == nil {
		if pgs := parseVerified(d); len(pgs) > 0 {
			ev.GradeAfter += " (" + platformText(pgs) + ")"
		}
	}
}
