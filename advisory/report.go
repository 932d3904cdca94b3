package advisory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/openabs/abs/internal/rpmver"
	"github.com/openabs/abs/rpmscan"
)

// VEX states reported by Unfixed.
const (
	StateAffected           = "known_affected"
	StateUnderInvestigation = "under_investigation"
)

// Unfixed is a CVE that affects an installed package and has no fix yet,
// from a VEX document. Unfixed entries never trigger a rebuild and never
// change a grade; they are reported for information.
type Unfixed struct {
	CVE        string    `json:"cve"`
	Severity   Severity  `json:"severity"`
	State      string    `json:"state"` // StateAffected or StateUnderInvestigation
	Package    string    `json:"package"`
	Installed  string    `json:"installed"` // "epoch:version-release.arch"
	Product    string    `json:"product,omitempty"`
	ProductCPE string    `json:"product_cpe,omitempty"`
	Match      MatchRule `json:"match"`
	// ContentSet and ImageCPE say which content set and image CPE led to
	// the product (see Finding).
	ContentSet string `json:"content_set,omitempty"`
	ImageCPE   string `json:"image_cpe,omitempty"`
}

// Update summarises the findings of one installed package: the newest
// fixed EVR to update to (from the image's own stream when it has one) and
// every advisory the update applies.
type Update struct {
	Package    string   `json:"package"`
	Arch       string   `json:"arch"`
	Installed  string   `json:"installed"`
	Fixed      string   `json:"fixed"`     // "epoch:version-release.arch"
	FixedEVR   string   `json:"fixed_evr"` // "epoch:version-release"
	Severity   Severity `json:"severity"`  // the most severe advisory
	Advisories []string `json:"advisories"`
}

// Report is everything an Index says about one image.
type Report struct {
	// Match says how product applicability was decided.
	Match MatchRule `json:"match"`
	// CPEs are the image's product CPEs (from content sets), or the RHEL
	// CPE inferred from os-release.
	CPEs     []string  `json:"cpes,omitempty"`
	Findings []Finding `json:"findings"`
	Updates  []Update  `json:"updates"`
	Unfixed  []Unfixed `json:"unfixed,omitempty"`
}

// Report matches an inventory and returns its findings, per-package
// updates and unfixed CVEs.
func (ix *Index) Report(inv *rpmscan.Inventory) *Report {
	if inv == nil {
		return &Report{}
	}
	app := ix.applicableTo(inv)
	r := &Report{Match: app.rule, CPEs: slices.Clone(app.cpes)}
	r.Findings = append(ix.match(inv, app), ix.baseFindings(inv)...)
	r.Updates = Updates(r.Findings)
	r.Unfixed = append(ix.unfixedFor(inv, app), ix.baseUnfixed(inv)...)
	return r
}

// Unfixed returns the VEX known_affected and under_investigation entries
// that concern installed packages, sorted by package and CVE, followed by
// those that concern the image's Red Hat base (MatchBaseImage), by CVE.
func (ix *Index) Unfixed(inv *rpmscan.Inventory) []Unfixed {
	if inv == nil {
		return nil
	}
	return append(ix.unfixedFor(inv, ix.applicableTo(inv)), ix.baseUnfixed(inv)...)
}

func (ix *Index) unfixedFor(inv *rpmscan.Inventory, app *applicable) []Unfixed {
	var out []Unfixed
	for pi := range inv.Packages {
		p := &inv.Packages[pi]
		es := ix.unfixed[p.Name]
		if len(es) == 0 {
			continue
		}
		mod := p.ModuleStream()
		seen := map[int32]bool{}
		for _, e := range es {
			if seen[e.vex] || e.module != mod || !archCompatible(e.arch, p.Arch) {
				continue
			}
			via, ok := app.lookup(e.target)
			if !ok {
				continue
			}
			v := ix.vex[e.vex]
			if via.main() && ix.vexOwnStreamFixed(e.vex, v.cve, p.Name, app) {
				continue
			}
			seen[e.vex] = true
			sev := v.severity
			if e.fix.Severity != SeverityNone {
				sev = e.fix.Severity
			}
			out = append(out, Unfixed{
				CVE: v.cve, Severity: sev, State: e.state, Package: p.Name,
				Installed: p.EVR() + "." + p.Arch, Product: e.fix.Product,
				ProductCPE: e.fix.CPE, Match: via.rule, ContentSet: via.repo, ImageCPE: via.cpe,
			})
		}
	}
	slices.SortFunc(out, func(a, b Unfixed) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Installed, b.Installed), cmp.Compare(a.CVE, b.CVE))
	})
	return out
}

// vexOwnStreamFixed reports whether a CVE that is unfixed on the main
// stream has a fix for package name in one of an extended-support image's
// own streams, in its VEX document or in an advisory: then the main
// stream's unfixed entry does not concern the image.
func (ix *Index) vexOwnStreamFixed(vi int32, cve, name string, app *applicable) bool {
	own := func(t uint32) bool {
		v, ok := app.lookup(t)
		return ok && !v.main()
	}
	for _, nt := range ix.vexFixed[vi] {
		if nt.name == name && own(nt.target) {
			return true
		}
	}
	for _, g := range ix.names[name] {
		if !own(g.target) {
			continue
		}
		for _, e := range g.entries {
			if slices.Contains(ix.advs[e.adv].cves, cve) {
				return true
			}
		}
	}
	return false
}

// Updates groups findings by installed package; findings of the base
// image (MatchBaseImage) call for a rebase, not a package update, and are
// left out. The fixed EVR is the
// newest among findings from the image's own stream, or among all findings
// when every one came through the main stream.
func Updates(findings []Finding) []Update {
	type key struct{ pkg, arch, installed string }
	idx := map[key]int{}
	var out []Update
	own := map[key]bool{}
	for _, f := range findings {
		if f.Match == MatchBaseImage {
			continue // a rebase, not a package update
		}
		k := key{f.Package, f.Arch, f.Installed}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Update{Package: f.Package, Arch: f.Arch, Installed: f.Installed})
		}
		u := &out[i]
		u.Severity = max(u.Severity, f.Severity)
		if !slices.Contains(u.Advisories, f.Advisory) {
			u.Advisories = append(u.Advisories, f.Advisory)
		}
		switch {
		case !f.MainStream && !own[k]:
			own[k] = true
			u.Fixed, u.FixedEVR = f.Fixed, f.FixedEVR
		case f.MainStream && own[k]:
		default:
			if u.FixedEVR == "" || rpmver.Compare(f.FixedEVR, u.FixedEVR) > 0 {
				u.Fixed, u.FixedEVR = f.Fixed, f.FixedEVR
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Advisories)
	}
	slices.SortFunc(out, func(a, b Update) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Installed, b.Installed))
	})
	return out
}

// Path describes how the finding's product came to apply to the image,
// from content set to fixed build: for an RPM,
// "rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6 → cpe:/o:redhat:rhel_eus:8.6::baseos
// → BaseOS-8.10.0.Z.MAIN (cpe:/o:redhat:enterprise_linux:8::baseos) → 0:2.9.7-18.el8_10.1.x86_64 [main_stream]";
// for the image's base, "base image registry.redhat.io/openshift4/X has
// RHSA-…; fixed in sha256:… (tag …) [base_image]".
func (f Finding) Path() string {
	var b strings.Builder
	if f.Match == MatchBaseImage {
		fmt.Fprintf(&b, "base image %s has %s; fixed in %s", f.Package, f.Advisory, f.Fixed)
		if f.FixedTag != "" {
			fmt.Fprintf(&b, " (tag %s)", f.FixedTag)
		}
		if f.Product != "" {
			fmt.Fprintf(&b, " for %s", f.Product)
		}
		fmt.Fprintf(&b, " [%s]", f.Match)
		return b.String()
	}
	switch {
	case f.ContentSet != "":
		b.WriteString(f.ContentSet)
	case f.Match == MatchOSRelease:
		b.WriteString("os-release")
	default:
		b.WriteString("image")
	}
	if f.ImageCPE != "" {
		b.WriteString(" → " + f.ImageCPE)
	}
	b.WriteString(" → ")
	if f.Product != "" {
		b.WriteString(f.Product)
		if f.ProductCPE != "" {
			b.WriteString(" (" + f.ProductCPE + ")")
		}
	} else {
		b.WriteString(f.ProductCPE)
	}
	fmt.Fprintf(&b, " → %s [%s]", f.Fixed, f.Match)
	return b.String()
}
