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
	// Images are the container images the advisory ships (CSAF products
	// "pkg:oci/…"), for advisories that fix images rather than RPMs.
	Images []ImageFix `json:"images,omitempty"`
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

// MatchRule says which of Red Hat's product matching rules made a
// product apply to an image (see CPEMatch and Index.Match).
type MatchRule string

// Match rules.
const (
	// MatchContentSet: one of the image's content sets maps (through
	// repository-to-cpe.json) to a CPE whose first five segments are the
	// product's.
	MatchContentSet MatchRule = "content_set"
	// MatchMajorVersion: the product CPE carries the major version only,
	// as unfixed entries do, and an image CPE names that major with a
	// minor ("openshift:4" for "openshift:4.16").
	MatchMajorVersion MatchRule = "major_version"
	// MatchMainStream: an image built from an extended-support stream
	// (EUS, AUS, E4S, TUS) is matched by its main stream, for a CVE that is
	// unfixed or has no fix released to the image's own stream.
	MatchMainStream MatchRule = "main_stream"
	// MatchOSRelease: the image has no content set the map knows; its RHEL
	// major (from os-release or the packages' .elN suffix) decides.
	MatchOSRelease MatchRule = "os_release"
	// MatchBaseImage: the image is built on a Red Hat image that a
	// container-image advisory fixes (products pkg:oci/…), checked against
	// the product CPEs of the base's version.
	MatchBaseImage MatchRule = "base_image"
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
	// ContentSet is the image's content set (repository id) whose CPE led
	// to the product; empty for MatchOSRelease and MatchBaseImage.
	ContentSet string `json:"content_set,omitempty"`
	// ImageCPE is the image CPE that matched ProductCPE under Match.
	ImageCPE string `json:"image_cpe,omitempty"`
	// FixedTag is, for MatchBaseImage, the tag of the fixed base image
	// (Fixed holds its digest); empty otherwise.
	FixedTag string `json:"fixed_tag,omitempty"`
}
