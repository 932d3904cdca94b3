package advisory

import (
	"cmp"
	"slices"

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
	r.Findings = ix.match(inv, app)
	r.Updates = Updates(r.Findings)
	r.Unfixed = ix.unfixedFor(inv, app)
	return r
}

// Unfixed returns the VEX known_affected and under_investigation entries
// that concern installed packages, sorted by package and CVE.
func (ix *Index) Unfixed(inv *rpmscan.Inventory) []Unfixed {
	if inv == nil {
		return nil
	}
	return ix.unfixedFor(inv, ix.applicableTo(inv))
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
			if ok, _ := app.lookup(e.target); !ok {
				continue
			}
			seen[e.vex] = true
			v := ix.vex[e.vex]
			sev := v.severity
			if e.fix.Severity != SeverityNone {
				sev = e.fix.Severity
			}
			out = append(out, Unfixed{
				CVE: v.cve, Severity: sev, State: e.state, Package: p.Name,
				Installed: p.EVR() + "." + p.Arch, Product: e.fix.Product,
				ProductCPE: e.fix.CPE, Match: app.rule,
			})
		}
	}
	slices.SortFunc(out, func(a, b Unfixed) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Installed, b.Installed), cmp.Compare(a.CVE, b.CVE))
	})
	return out
}

// Updates groups findings by installed package. The fixed EVR is the
// newest among findings from the image's own stream, or among all findings
// when every one came through the main stream.
func Updates(findings []Finding) []Update {
	type key struct{ pkg, arch, installed string }
	idx := map[key]int{}
	var out []Update
	own := map[key]bool{}
	for _, f := range findings {
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
