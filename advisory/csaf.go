package advisory

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrMalformed is matched (errors.Is) by every error about a document that
// cannot be read: invalid JSON, a missing id, a bad date.
var ErrMalformed = errors.New("malformed advisory document")

// ParseError reports a document that could not be parsed. It matches
// ErrMalformed.
type ParseError struct {
	// Doc names the document (a file name or URL) when known.
	Doc string
	Err error
}

// Error describes the document and the cause.
func (e *ParseError) Error() string {
	if e.Doc != "" {
		return "advisory: " + e.Doc + ": " + e.Err.Error()
	}
	return "advisory: " + e.Err.Error()
}

// Unwrap returns ErrMalformed and the underlying cause.
func (e *ParseError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

func malformed(format string, args ...any) error {
	return &ParseError{Err: fmt.Errorf(format, args...)}
}

// Document is one parsed advisory document: exactly one of Advisory and VEX
// is set.
type Document struct {
	Advisory *Advisory
	VEX      *VEX
}

// ID returns the advisory id or the VEX document's CVE.
func (d Document) ID() string {
	switch {
	case d.Advisory != nil:
		return d.Advisory.ID
	case d.VEX != nil:
		return d.VEX.CVE
	}
	return ""
}

// VEX is a Red Hat CSAF VEX document: the status of one CVE across
// products. Fixed entries name the advisory that ships the fix
// (Fix.Advisory); they are informational, since findings come from the
// advisories themselves.
// Affected entries (known_affected) and UnderInvestigation entries have no
// fix yet: they are reported apart from findings and never change a grade.
type VEX struct {
	CVE                string    `json:"cve"`
	Title              string    `json:"title,omitempty"`
	Severity           Severity  `json:"severity"`
	Published          time.Time `json:"published"`
	Updated            time.Time `json:"updated"`
	Fixed              []Fix     `json:"fixed,omitempty"`
	Affected           []Fix     `json:"affected,omitempty"`
	NotAffected        []Fix     `json:"not_affected,omitempty"`
	UnderInvestigation []Fix     `json:"under_investigation,omitempty"`
	// UnfixedImages are the container images (pkg:oci components, without
	// a digest) that are known_affected or under_investigation.
	UnfixedImages []UnfixedImage `json:"unfixed_images,omitempty"`
	Source        string         `json:"source,omitempty"`
}

type csafDoc struct {
	Document struct {
		Category          string `json:"category"`
		CSAFVersion       string `json:"csaf_version"`
		Title             string `json:"title"`
		AggregateSeverity *struct {
			Text string `json:"text"`
		} `json:"aggregate_severity"`
		References []struct {
			Category string `json:"category"`
			URL      string `json:"url"`
		} `json:"references"`
		Tracking struct {
			ID                 string `json:"id"`
			InitialReleaseDate string `json:"initial_release_date"`
			CurrentReleaseDate string `json:"current_release_date"`
		} `json:"tracking"`
	} `json:"document"`
	ProductTree struct {
		Branches         branchList   `json:"branches"`
		FullProductNames productList  `json:"full_product_names"`
		Relationships    relationList `json:"relationships"`
	} `json:"product_tree"`
	Vulnerabilities vulnList `json:"vulnerabilities"`
}

type csafRelationship struct {
	FullProductName  csafProduct `json:"full_product_name"`
	ProductReference string      `json:"product_reference"`
	RelatesTo        string      `json:"relates_to_product_reference"`
}

type csafVuln struct {
	CVE           string              `json:"cve"`
	ProductStatus map[string][]string `json:"product_status"`
	Remediations  []struct {
		Category   string   `json:"category"`
		URL        string   `json:"url"`
		ProductIDs []string `json:"product_ids"`
	} `json:"remediations"`
	Threats []csafThreat `json:"threats"`
}

type csafThreat struct {
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	ProductIDs []string `json:"product_ids"`
}

// Only the fields read are decoded: a large product tree takes no memory
// for names and categories.
type csafBranch struct {
	Product  *csafProduct `json:"product"`
	Branches branchList   `json:"branches"`
}

type csafProduct struct {
	ProductID string `json:"product_id"`
	Helper    *struct {
		CPE  string `json:"cpe"`
		PURL string `json:"purl"`
	} `json:"product_identification_helper"`
}

// Parse reads one advisory document in any format this package knows: a
// CSAF v2 advisory or VEX document, or an OSV record. Errors match
// ErrMalformed; the options that apply are WithMaxProducts (CSAF).
func Parse(data []byte, opts ...Option) (Document, error) {
	var probe struct {
		Document json.RawMessage `json:"document"`
		ID       string          `json:"id"`
		Affected json.RawMessage `json:"affected"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return Document{}, &ParseError{Err: err}
	}
	if probe.Document == nil && probe.ID != "" {
		a, err := ParseOSV(data)
		if err != nil {
			return Document{}, err
		}
		return Document{Advisory: a}, nil
	}
	return ParseCSAF(data, opts...)
}

// ParseCSAF reads a Red Hat CSAF v2 document. Documents of category
// csaf_security_advisory, and older advisories published as csaf_vex (their
// tracking id is an erratum id), give an Advisory; csaf_vex documents whose
// id is a CVE give a VEX.
//
// Fixed packages come from vulnerabilities[].product_status.fixed (and
// first_fixed); each "<product>:<component>" id is resolved through the
// product tree's relationships to the product's CPE and the component's
// purl (name, epoch, version, release, arch, and module from rpmmod=). Ids
// of components without a purl are read as NEVRAs, including the modular
// forms "…x86_64::ruby:3.1" and "…x86_64.rpm-ruby:2.7". Only RPM components
// are kept.
//
// A document defining more products than WithMaxProducts allows, or whose
// product-tree branches nest deeper than 32 levels, fails with a
// *ParseError matching ErrTooManyProducts (and ErrTooLarge).
func ParseCSAF(data []byte, opts ...Option) (Document, error) {
	return parseCSAF(data, newConfig(opts).products())
}

func parseCSAF(data []byte, maxProducts int) (Document, error) {
	var d csafDoc
	c := newCounter(maxProducts)
	d.ProductTree.Branches.c = c
	d.ProductTree.FullProductNames.c = c
	d.ProductTree.Relationships.c = c
	d.Vulnerabilities.c = c
	if err := json.Unmarshal(data, &d); err != nil {
		return Document{}, &ParseError{Err: err}
	}
	doc := &d.Document
	id := strings.TrimSpace(doc.Tracking.ID)
	if id == "" {
		return Document{}, malformed("document.tracking.id is missing")
	}
	switch doc.Category {
	case "csaf_security_advisory", "csaf_vex", "csaf_base":
	case "":
		return Document{}, malformed("%s: document.category is missing", id)
	default:
		return Document{}, malformed("%s: unsupported document.category %q", id, doc.Category)
	}
	issued, err := parseTime(doc.Tracking.InitialReleaseDate)
	if err != nil {
		return Document{}, malformed("%s: initial_release_date: %v", id, err)
	}
	updated, err := parseTime(doc.Tracking.CurrentReleaseDate)
	if err != nil {
		return Document{}, malformed("%s: current_release_date: %v", id, err)
	}
	var sev Severity
	if doc.AggregateSeverity != nil {
		sev, _ = ParseSeverity(doc.AggregateSeverity.Text) // unknown words read as None
	}
	r := newResolver(&d)

	isVEX := doc.Category == "csaf_vex" && strings.HasPrefix(strings.ToUpper(id), "CVE-")
	if isVEX {
		v := &VEX{CVE: id, Title: doc.Title, Severity: sev, Published: issued, Updated: updated}
		for _, vul := range d.Vulnerabilities.items {
			impact := r.impacts(vul.Threats, vul.ProductStatus)
			fixedBy := map[string]string{}
			for _, rem := range vul.Remediations {
				if rem.Category != "vendor_fix" || rem.URL == "" {
					continue
				}
				adv := advisoryFromURL(rem.URL)
				for _, p := range rem.ProductIDs {
					fixedBy[p] = adv
				}
			}
			add := func(dst *[]Fix, ids []string) {
				for _, pid := range ids {
					if dst == &v.Affected || dst == &v.UnderInvestigation {
						if im, ok := r.image(pid); ok {
							im.Severity = impact[pid]
							state := StateAffected
							if dst == &v.UnderInvestigation {
								state = StateUnderInvestigation
							}
							v.UnfixedImages = append(v.UnfixedImages, UnfixedImage{ImageFix: im, State: state})
							continue
						}
					}
					f, ok := r.fix(pid)
					if !ok {
						continue
					}
					f.Severity = impact[pid]
					f.Advisory = fixedBy[pid]
					*dst = append(*dst, f)
				}
			}
			add(&v.Fixed, vul.ProductStatus["fixed"])
			add(&v.Fixed, vul.ProductStatus["first_fixed"])
			add(&v.Affected, vul.ProductStatus["known_affected"])
			add(&v.NotAffected, vul.ProductStatus["known_not_affected"])
			add(&v.UnderInvestigation, vul.ProductStatus["under_investigation"])
		}
		return Document{VEX: v}, nil
	}

	a := &Advisory{
		ID: id, Type: TypeOf(id), Severity: sev, Title: doc.Title,
		Issued: issued, Updated: updated,
	}
	for _, ref := range doc.References {
		if ref.Category == "self" {
			a.URL = ref.URL
			break
		}
	}
	seen := map[string]int{}
	for _, vul := range d.Vulnerabilities.items {
		if vul.CVE != "" && !slices.Contains(a.CVEs, vul.CVE) {
			a.CVEs = append(a.CVEs, vul.CVE)
		}
		impact := r.impacts(vul.Threats, vul.ProductStatus)
		ids := append(slices.Clip(vul.ProductStatus["fixed"]), vul.ProductStatus["first_fixed"]...)
		for _, rem := range vul.Remediations {
			if rem.Category == "vendor_fix" {
				ids = append(ids, rem.ProductIDs...)
			}
		}
		for _, pid := range ids {
			if i, ok := seen[pid]; ok {
				if i < 0 {
					i = -i - 1
					a.Images[i].Severity = max(a.Images[i].Severity, impact[pid])
				} else {
					a.Fixes[i].Severity = max(a.Fixes[i].Severity, impact[pid])
				}
				continue
			}
			if im, ok := r.image(pid); ok {
				if im.Digest == "" {
					continue
				}
				im.Severity = impact[pid]
				seen[pid] = -len(a.Images) - 1
				a.Images = append(a.Images, im)
				continue
			}
			f, ok := r.fix(pid)
			if !ok || f.Version == "" {
				continue
			}
			f.Severity = impact[pid]
			seen[pid] = len(a.Fixes)
			a.Fixes = append(a.Fixes, f)
		}
	}
	if a.Severity == SeverityNone {
		for _, f := range a.Fixes {
			a.Severity = max(a.Severity, f.Severity)
		}
		for _, im := range a.Images {
			a.Severity = max(a.Severity, im.Severity)
		}
	}
	return Document{Advisory: a}, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// advisoryFromURL turns "https://access.redhat.com/errata/RHSA-2023:5700"
// into "RHSA-2023:5700".
func advisoryFromURL(u string) string {
	p := u
	if pu, err := url.Parse(u); err == nil {
		p = pu.Path
	}
	return path.Base(strings.TrimSuffix(p, "/"))
}

type relation struct{ component, product string }

type resolver struct {
	helpers map[string]csafProduct // product id -> product (with helper)
	rels    map[string]relation
	strs    map[string]string // interned product ids, so fixes share them
}

func (r *resolver) intern(s string) string {
	if v, ok := r.strs[s]; ok {
		return v
	}
	r.strs[s] = s
	return s
}

func newResolver(d *csafDoc) *resolver {
	r := &resolver{helpers: map[string]csafProduct{}, rels: map[string]relation{}, strs: map[string]string{}}
	var walk func([]csafBranch)
	walk = func(bs []csafBranch) { // as deep as the decoder allows, maxBranchDepth
		for _, b := range bs {
			if b.Product != nil && b.Product.ProductID != "" {
				r.helpers[b.Product.ProductID] = *b.Product
			}
			walk(b.Branches.items)
		}
	}
	walk(d.ProductTree.Branches.items)
	for _, p := range d.ProductTree.FullProductNames.items {
		if p.ProductID != "" {
			r.helpers[p.ProductID] = p
		}
	}
	for _, rel := range d.ProductTree.Relationships.items {
		if id := rel.FullProductName.ProductID; id != "" {
			r.rels[id] = relation{component: rel.ProductReference, product: r.intern(rel.RelatesTo)}
		}
	}
	return r
}

// impacts maps each product id of a vulnerability to its impact.
func (r *resolver) impacts(threats []csafThreat, status map[string][]string) map[string]Severity {
	out := map[string]Severity{}
	for _, t := range threats {
		if t.Category != "impact" {
			continue
		}
		s, err := ParseSeverity(t.Details)
		if err != nil {
			continue
		}
		ids := t.ProductIDs
		if len(ids) == 0 { // applies to the whole vulnerability
			for _, l := range status {
				for _, id := range l {
					out[id] = max(out[id], s)
				}
			}
			continue
		}
		for _, id := range ids {
			out[id] = max(out[id], s)
		}
	}
	return out
}

// fix resolves a "<product>:<component>" id to a Fix; ok is false for
// components that are not RPMs or cannot be read.
func (r *resolver) fix(pid string) (Fix, bool) {
	rel, ok := r.rels[pid]
	if !ok {
		prod, comp, found := strings.Cut(pid, ":")
		if !found {
			return Fix{}, false
		}
		rel = relation{component: comp, product: r.intern(prod)}
	}
	f := Fix{Product: rel.product}
	if p, ok := r.helpers[rel.product]; ok && p.Helper != nil {
		f.CPE = p.Helper.CPE
	}
	comp := rel.component
	if p, ok := r.helpers[comp]; ok && p.Helper != nil && p.Helper.PURL != "" {
		pu, ok := parsePURL(p.Helper.PURL)
		if !ok {
			return Fix{}, false
		}
		f.Name, f.Epoch, f.Version, f.Release, f.Arch, f.Module = pu.name, pu.epoch, pu.version, pu.release, pu.arch, pu.module
		if f.Module == "" {
			_, f.Module = splitModule(comp)
		}
		return f, f.Name != ""
	}
	nevra, module := splitModule(comp)
	n, ok := parseNEVRA(nevra)
	if !ok {
		return Fix{}, false
	}
	f.Name, f.Epoch, f.Version, f.Release, f.Arch, f.Module = n.name, n.epoch, n.version, n.release, n.arch, module
	return f, true
}

// ImageFix is one container image an advisory ships for one product: a
// fixed build of a Red Hat image, a CSAF component
// "pkg:oci/NAME@sha256:…?arch=…&repository_url=…&tag=…".
type ImageFix struct {
	Product string `json:"product"` // CSAF product id, e.g. "9Base-RHOSE-4.16"
	CPE     string `json:"cpe"`     // that product's CPE
	Name    string `json:"name"`    // "ose-console-rhel9"
	// Repository is where the image is published,
	// "registry.redhat.io/openshift4/ose-console-rhel9".
	Repository string `json:"repository"`
	// Digest is the fixed image's manifest digest, "sha256:…".
	Digest string `json:"digest"`
	Tag    string `json:"tag,omitempty"`
	// Arch is the purl's arch ("amd64"), or "" for every architecture.
	Arch     string   `json:"arch,omitempty"`
	Severity Severity `json:"severity,omitempty"`
}

// UnfixedImage is a container image a VEX document lists as affected (or
// under investigation) with no fix yet; ImageFix.Digest is empty.
type UnfixedImage struct {
	ImageFix
	State string `json:"state"` // StateAffected or StateUnderInvestigation
}

// image resolves a "<product>:<component>" id whose component is a
// container image (a pkg:oci purl, or an id of the form
// "openshift4/ose-console-rhel9@sha256:…_amd64").
func (r *resolver) image(pid string) (ImageFix, bool) {
	rel, ok := r.rels[pid]
	if !ok {
		return ImageFix{}, false
	}
	im := ImageFix{Product: rel.product}
	if p, ok := r.helpers[rel.product]; ok && p.Helper != nil {
		im.CPE = p.Helper.CPE
	}
	if p, ok := r.helpers[rel.component]; ok && p.Helper != nil && p.Helper.PURL != "" {
		o, ok := parseOCIPURL(p.Helper.PURL)
		if !ok {
			return ImageFix{}, false
		}
		im.Name, im.Repository, im.Digest, im.Tag, im.Arch = o.Name, o.Repository, o.Digest, o.Tag, o.Arch
		return im, true
	}
	// Without a purl, an id "openshift4/ose-console-rhel9@sha256:…_amd64".
	comp := rel.component
	repo, rest, found := strings.Cut(comp, "@sha256:")
	if !strings.Contains(repo, "/") || strings.ContainsAny(repo, " :") {
		return ImageFix{}, false
	}
	if !found { // an unfixed entry, "openshift4/ose-console-rhel9"
		im.Name, im.Repository = path.Base(repo), "registry.redhat.io/"+repo
		return im, true
	}
	digest, arch, _ := strings.Cut(rest, "_")
	if !isHex(digest, 64) {
		return ImageFix{}, false
	}
	im.Name, im.Repository, im.Digest, im.Arch = path.Base(repo), "registry.redhat.io/"+repo, "sha256:"+digest, arch
	return im, true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseOCIPURL reads a container image package URL,
// "pkg:oci/NAME@sha256:HEX?arch=amd64&repository_url=registry.redhat.io/ns/NAME&tag=TAG"
// (the version may be percent-encoded, "sha256%3AHEX"). Without
// repository_url the purl spec's default, "public.ecr.aws/…" aside, is the
// bare name; Red Hat's always give one. The version may be absent (an
// unfixed entry).
func parseOCIPURL(s string) (ImageFix, bool) {
	var im ImageFix
	rest, ok := strings.CutPrefix(s, "pkg:oci/")
	if !ok {
		return im, false
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	name, ver, hasVer := strings.Cut(rest, "@")
	var err error
	if im.Name, err = url.PathUnescape(name); err != nil || im.Name == "" || strings.Contains(im.Name, "/") {
		return im, false
	}
	if hasVer {
		if ver, err = url.PathUnescape(ver); err != nil {
			return im, false
		}
		algo, hex, ok := strings.Cut(ver, ":")
		if !ok || algo != "sha256" || !isHex(hex, 64) {
			return im, false
		}
		im.Digest = ver
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return im, false
	}
	im.Arch, im.Tag = q.Get("arch"), q.Get("tag")
	im.Repository = strings.TrimSuffix(q.Get("repository_url"), "/")
	if im.Repository == "" {
		im.Repository = im.Name
	}
	return im, true
}

// splitModule separates the module suffix of a modular component id:
// "…x86_64::ruby:3.1" or "…x86_64.rpm-ruby:2.7" (advisories), or the
// "ruby:3.1/ruby" form of VEX documents.
func splitModule(comp string) (nevra, module string) {
	if i := strings.IndexByte(comp, '/'); i > 0 && strings.Contains(comp[:i], ":") {
		return comp[i+1:], comp[:i] // VEX's "nodejs:18/nodejs"
	}
	if i := strings.LastIndex(comp, "::"); i >= 0 {
		return comp[:i], comp[i+2:]
	}
	if i := strings.LastIndex(comp, ".rpm-"); i >= 0 && strings.Contains(comp[i+5:], ":") {
		return comp[:i], comp[i+5:]
	}
	return comp, ""
}

type nevra struct {
	name, version, release, arch, module string
	epoch                                int
}

var knownArches = map[string]bool{
	"noarch": true, "src": true, "nosrc": true, "x86_64": true, "i686": true, "i386": true,
	"aarch64": true, "ppc64le": true, "ppc64": true, "ppc": true, "s390x": true, "s390": true,
}

// parseNEVRA reads "name-[epoch:]version-release.arch" (the arch may be
// missing, as in VEX's unfixed "curl" or "curl.src"). A string without an
// epoch whose would-be version does not start with a digit is a bare name
// ("libcurl-devel").
func parseNEVRA(s string) (nevra, bool) {
	var n nevra
	if s == "" || strings.ContainsAny(s, " \t/") {
		return n, false
	}
	if i := strings.LastIndexByte(s, '.'); i > 0 && knownArches[s[i+1:]] {
		n.arch, s = s[i+1:], s[:i]
	}
	bare := func() (nevra, bool) {
		if strings.ContainsRune(s, ':') {
			return nevra{}, false
		}
		n.name = s
		return n, true
	}
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return bare()
	}
	j := strings.LastIndexByte(s[:i], '-')
	if j <= 0 {
		return bare()
	}
	name, release, ev := s[:j], s[i+1:], s[j+1:i]
	epoch := 0
	if e, v, ok := strings.Cut(ev, ":"); ok {
		ep, err := strconv.Atoi(e)
		if err != nil || ep < 0 {
			return nevra{}, false
		}
		epoch, ev = ep, v
	} else if ev == "" || !isDigit(ev[0]) {
		return bare()
	}
	if ev == "" || release == "" || strings.ContainsRune(ev, ':') {
		return nevra{}, false
	}
	n.name, n.epoch, n.version, n.release = name, epoch, ev, release
	return n, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parsePURL reads an RPM package URL,
// "pkg:rpm/redhat/name@version-release?arch=x86_64&epoch=1&rpmmod=n:s:v:c".
func parsePURL(s string) (nevra, bool) {
	var n nevra
	rest, ok := strings.CutPrefix(s, "pkg:rpm/")
	if !ok {
		return n, false
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	nameVer := rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		nameVer = rest[i+1:]
	}
	name, ver, hasVer := strings.Cut(nameVer, "@")
	var err error
	if n.name, err = url.PathUnescape(name); err != nil || n.name == "" {
		return n, false
	}
	if hasVer {
		if ver, err = url.PathUnescape(ver); err != nil {
			return n, false
		}
		i := strings.LastIndexByte(ver, '-')
		if i <= 0 || i == len(ver)-1 {
			return n, false
		}
		n.version, n.release = ver[:i], ver[i+1:]
		if e, v, ok := strings.Cut(n.version, ":"); ok { // tolerate an inline epoch
			ep, err := strconv.Atoi(e)
			if err != nil || ep < 0 {
				return n, false
			}
			n.epoch, n.version = ep, v
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return n, false
	}
	n.arch = q.Get("arch")
	if e := q.Get("epoch"); e != "" {
		ep, err := strconv.Atoi(e)
		if err != nil || ep < 0 {
			return n, false
		}
		n.epoch = ep
	}
	if m := q.Get("rpmmod"); m != "" {
		parts := strings.SplitN(m, ":", 3)
		if len(parts) >= 2 {
			n.module = parts[0] + ":" + parts[1]
		} else {
			n.module = m
		}
	}
	return n, true
}
