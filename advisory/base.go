package advisory

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/openabs/abs/rpmscan"
)

// unfixedImage is one container image a VEX document lists as unfixed.
type unfixedImage struct {
	vex int32
	key string
	im  UnfixedImage
}

// imageEntry is one fixed container image of an advisory.
type imageEntry struct {
	adv  int32
	prod uint32 // index into Index.prods
	key  string // the product's CPE key, "a:redhat:openshift:4.16"
	fix  ImageFix
}

// redHatRegistries are the registries that serve the same Red Hat images
// under the same repository paths.
var redHatRegistries = []string{"registry.redhat.io/", "registry.access.redhat.com/"}

// repoPath reduces an image reference or repository URL to the repository
// path Red Hat's registries share ("openshift4/ose-console-rhel9"), without
// tag or digest; ok is false for images of other registries.
func repoPath(ref string) (string, bool) {
	ref = strings.TrimSpace(ref)
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "https://"), "docker://")
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		ref = ref[:i]
	}
	for _, r := range redHatRegistries {
		if p, ok := strings.CutPrefix(ref, r); ok && p != "" {
			return strings.ToLower(p), true
		}
	}
	return "", false
}

// refTag returns the tag of an image reference, "" when it has none.
func refTag(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	return ""
}

// base is what matching knows of an image's base.
type base struct {
	name    string    // the reference as given
	path    string    // repository path on Red Hat's registries
	digest  string    // "sha256:…", or ""
	tags    []string  // tags it is known by: its reference's, and "version-release" from buildinfo
	version string    // product version, "4.16", or "" when unknown
	built   time.Time // when it was built, zero when unknown
}

var (
	versionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)`)
	// A Red Hat build's release starts with its build time, "202409181705.p0…".
	builtRe = regexp.MustCompile(`^(\d{12})(?:\.|$)`)
	// A buildinfo NVR ends in "-VERSION-RELEASE".
	nvrRe = regexp.MustCompile(`^(.+)-(v?\d[^-]*)-([^-]+)$`)
)

// baseOf returns the image's Red Hat base, or nil when the inventory names
// none on Red Hat's registries. Its version and build time come from the
// reference's tag and from the topmost buildinfo content manifest.
func baseOf(inv *rpmscan.Inventory) *base {
	if inv.Base == nil {
		return nil
	}
	p, ok := repoPath(inv.Base.Name)
	if !ok {
		return nil
	}
	b := &base{name: inv.Base.Name, path: p, digest: inv.Base.Digest}
	if i := strings.IndexByte(inv.Base.Name, '@'); i >= 0 && b.digest == "" {
		b.digest = inv.Base.Name[i+1:]
	}
	if t := refTag(inv.Base.Name); t != "" {
		b.tags = append(b.tags, t)
	}
	if len(inv.BuildInfo) > 0 {
		if m := nvrRe.FindStringSubmatch(inv.BuildInfo[0].NVR); m != nil {
			b.tags = append(b.tags, m[2]+"-"+m[3])
			if t, err := time.Parse("200601021504", firstMatch(builtRe, m[3])); err == nil {
				b.built = t
			}
		}
	}
	for _, t := range b.tags {
		if m := versionRe.FindStringSubmatch(t); m != nil {
			b.version = m[1] + "." + m[2]
			break
		}
	}
	return b
}

func firstMatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// productCPE returns the base's CPE for the product of key ("cpe:/a:redhat:openshift:4.16"
// for a 4.16 base and the key "a:redhat:openshift:4.16"), and whether the
// product applies to the base under the rules CPEMatch follows (same
// version, or a major-only product). When the base's version is unknown
// the repository alone decides: ok is true and the CPE empty.
func (b *base) productCPE(key, product string) (string, bool) {
	if b.version == "" || key == "" {
		return "", true
	}
	f := strings.Split(key, ":")
	if len(f) != 4 {
		return "", false
	}
	c := keyString(f[0] + ":" + f[1] + ":" + f[2] + ":" + b.version)
	return c, CPEMatch(c, product)
}

// baseUnfixed returns the VEX entries that list the image's Red Hat base
// as affected, or under investigation, with no fix yet (rules 3 and 5: an
// unfixed "openshift:4" entry concerns a 4.16 base).
func (ix *Index) baseUnfixed(inv *rpmscan.Inventory) []Unfixed {
	if len(ix.unfixedImages) == 0 {
		return nil
	}
	b := baseOf(inv)
	if b == nil {
		return nil
	}
	var out []Unfixed
	var seen []int32
	for _, e := range ix.unfixedImages[b.path] {
		if slices.Contains(seen, e.vex) {
			continue
		}
		imageCPE, ok := b.productCPE(e.key, e.im.CPE)
		if !ok {
			continue
		}
		seen = append(seen, e.vex)
		v := ix.vex[e.vex]
		sev := v.severity
		if e.im.Severity != SeverityNone {
			sev = e.im.Severity
		}
		installed := b.digest
		if installed == "" {
			installed = b.name
		}
		out = append(out, Unfixed{CVE: v.cve, Severity: sev, State: e.im.State,
			Package: strings.TrimSuffix(redHatRegistries[0], "/") + "/" + b.path, Installed: installed,
			Product: e.im.Product, ProductCPE: e.im.CPE, Match: MatchBaseImage, ImageCPE: imageCPE})
	}
	slices.SortFunc(out, func(a, b Unfixed) int { return cmp.Compare(a.CVE, b.CVE) })
	return out
}

// archOf maps an image's architecture label to the purl arch Red Hat uses.
func archOf(inv *rpmscan.Inventory) string {
	switch a := inv.Image.Labels["architecture"]; a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	default:
		return a
	}
}

// baseFindings returns a finding for each container-image advisory that
// fixes the image's Red Hat base and that the base has not applied: the
// base is not one of the advisory's fixed images (by digest or tag), was
// not built after the advisory was issued, and (Red Hat's rule for
// container-first content) the product's CPE names the base's version,
// when that version is known. Findings are sorted by issue date and id.
func (ix *Index) baseFindings(inv *rpmscan.Inventory) []Finding {
	if len(ix.images) == 0 {
		return nil
	}
	b := baseOf(inv)
	if b == nil {
		return nil
	}
	es := ix.images[b.path]
	if len(es) == 0 {
		return nil
	}
	arch := archOf(inv)
	type hit struct {
		adv   int32
		e     *imageEntry
		cpe   string
		fixed bool
	}
	var hits []hit
	for i := range es {
		e := &es[i]
		imageCPE, ok := b.productCPE(e.key, e.fix.CPE)
		if !ok {
			continue
		}
		fixed := (b.digest != "" && e.fix.Digest == b.digest) || (e.fix.Tag != "" && slices.Contains(b.tags, e.fix.Tag)) ||
			(!b.built.IsZero() && !b.built.Before(ix.advs[e.adv].issued))
		j := slices.IndexFunc(hits, func(h hit) bool { return h.adv == e.adv })
		switch {
		case j < 0:
			hits = append(hits, hit{adv: e.adv, e: e, cpe: imageCPE, fixed: fixed})
		case fixed:
			hits[j].fixed = true
		case hits[j].e.fix.Arch != arch && (e.fix.Arch == arch || e.fix.Arch == ""):
			hits[j].e = e // prefer the image's own architecture
		}
	}
	var out []Finding
	for _, h := range hits {
		if h.fixed {
			continue
		}
		m := &ix.advs[h.adv]
		installed := b.digest
		if installed == "" {
			installed = b.name
		}
		out = append(out, Finding{
			Advisory: m.id, Severity: m.severity, Issued: m.issued, CVEs: slices.Clone(m.cves),
			Package: strings.TrimSuffix(redHatRegistries[0], "/") + "/" + b.path, Installed: installed,
			Fixed: h.e.fix.Digest, FixedTag: h.e.fix.Tag, Arch: h.e.fix.Arch,
			ProductCPE: ix.prods[h.e.prod].cpe, Product: ix.prods[h.e.prod].product,
			Match: MatchBaseImage, ImageCPE: h.cpe, Type: m.typ, URL: m.url,
		})
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(a.Issued.Compare(b.Issued), cmp.Compare(a.Advisory, b.Advisory))
	})
	return out
}
