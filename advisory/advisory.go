package advisory

import (
	"time"
)

// Severity is an advisory's aggregate severity, ordered so that a larger
// value is more severe.
type Severity int

// Severities, in increasing order.
const (
	SeverityNone Severity = iota
	SeverityLow
	SeverityModerate
	SeverityImportant
	SeverityCritical
)

// Type is the kind of erratum.
type Type string

// Erratum types.
const (
	TypeSecurity    Type = "RHSA"
	TypeBugFix      Type = "RHBA"
	TypeEnhancement Type = "RHEA"
)

// Advisory is one erratum and the packages it fixes.
type Advisory struct {
	ID       string    `json:"id"` // e.g. "RHSA-2024:0010"
	Type     Type      `json:"type"`
	Severity Severity  `json:"severity"`
	Title    string    `json:"title,omitempty"`
	Issued   time.Time `json:"issued"`
	Updated  time.Time `json:"updated"`
	CVEs     []string  `json:"cves,omitempty"`
	URL      string    `json:"url,omitempty"`
	Fixes    []Fix     `json:"fixes,omitempty"`
	// Source names the Source the advisory came from (see Source.Name); a
	// Store uses it to replace one source's advisories on a full re-sync.
	Source string `json:"source,omitempty"`
}

// Fix is one package build that an advisory ships for one product.
type Fix struct {
	Product string `json:"product"` // CSAF product id, e.g. "AppStream-9.3.0.Z.MAIN"
	CPE     string `json:"cpe"`     // that product's CPE
	Name    string `json:"name"`
	Epoch   int    `json:"epoch"`
	Version string `json:"version"`
	Release string `json:"release"`
	Arch    string `json:"arch"`
	Module  string `json:"module,omitempty"` // "name:stream" for modular content
	// Severity is the impact Red Hat gives this product (the CSAF
	// threats[category=impact] naming it), when the document says so.
	Severity Severity `json:"severity,omitempty"`
	// Advisory is the erratum that ships the build, for entries read from a
	// VEX document's remediations; empty inside an Advisory.
	Advisory string `json:"advisory,omitempty"`
}

// MatchRule says how a finding's product applicability was decided.
type MatchRule string

// Match rules.
const (
	MatchContentSet MatchRule = "content_set"
	MatchOSRelease  MatchRule = "os_release"
)

// Finding is an advisory that is not applied to one installed package.
type Finding struct {
	Advisory   string    `json:"advisory"`
	Severity   Severity  `json:"severity"`
	Issued     time.Time `json:"issued"`
	CVEs       []string  `json:"cves,omitempty"`
	Package    string    `json:"package"`
	Installed  string    `json:"installed"` // "epoch:version-release.arch"
	Fixed      string    `json:"fixed"`     // "epoch:version-release.arch"
	ProductCPE string    `json:"product_cpe"`
	Match      MatchRule `json:"match"`

	// Arch is the installed package's architecture.
	Arch string `json:"arch,omitempty"`
	// Module is the installed package's module "name:stream", if modular.
	Module string `json:"module,omitempty"`
	// FixedEVR is Fixed without the architecture, "epoch:version-release".
	FixedEVR string `json:"fixed_evr,omitempty"`
	// Product is the CSAF product id (or OSV ecosystem) of the fix.
	Product string `json:"product,omitempty"`
	// MainStream is true when an EUS, AUS, E4S or TUS image was matched by
	// a fix published for the main RHEL stream rather than its own stream.
	MainStream bool `json:"main_stream,omitempty"`
	// Type is the erratum type (RHSA, RHBA, RHEA).
	Type Type `json:"type,omitempty"`
	// URL links to the erratum.
	URL string `json:"url,omitempty"`
}
