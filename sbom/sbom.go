package sbom

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/package-url/packageurl-go"

	"github.com/openabs/abs/rpmscan"
)

// Predicate types under which SBOMs are attested in in-toto statements;
// they are what `cosign verify-attestation --type spdxjson` and
// `--type cyclonedx` look for.
const (
	PredicateSPDX      = "https://spdx.dev/Document"
	PredicateCycloneDX = "https://cyclonedx.org/bom"
)

// Media types of the two JSON formats.
const (
	MediaTypeSPDX      = "application/spdx+json"
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
)

// Base-image labels read from the inventory when no base is given with
// [WithBase] (the OCI annotation keys, which builders also set as labels).
const (
	LabelBaseName   = "org.opencontainers.image.base.name"
	LabelBaseDigest = "org.opencontainers.image.base.digest"
)

// ErrInvalid is matched (errors.Is) by every [*InputError].
var ErrInvalid = errors.New("sbom: invalid input")

// InputError reports an input that cannot describe an image: a missing
// inventory, a malformed digest or repository.
type InputError struct {
	Field string // "inventory", "image.digest", "base.repository"…
	Value string // the offending value ("" when missing)
	Err   error  // the cause, if any
}

// Error names the field and the value.
func (e *InputError) Error() string {
	msg := "sbom: invalid " + e.Field
	if e.Value != "" {
		msg += " " + strconv.Quote(e.Value)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is [ErrInvalid].
func (e *InputError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// Image identifies a container image in an SBOM.
type Image struct {
	// Repository is the registry host and path, e.g.
	// "registry.access.redhat.com/ubi9/ubi". Required.
	Repository string
	// Digest is the manifest (or index) digest, "sha256:…". Required.
	Digest string
	// Tag is the tag the image is known by, if any ("9.4-1123").
	Tag string
	// Arch is the OCI architecture ("amd64", "arm64"), if known.
	Arch string
}

func (i Image) validate(field string) error {
	if i.Repository == "" {
		return &InputError{Field: field + ".repository"}
	}
	if strings.ContainsAny(i.Repository, " \t\r\n@") || strings.HasSuffix(i.Repository, "/") {
		return &InputError{Field: field + ".repository", Value: i.Repository}
	}
	if _, err := v1.NewHash(i.Digest); err != nil {
		return &InputError{Field: field + ".digest", Value: i.Digest, Err: err}
	}
	return nil
}

// Name is the last element of the repository path ("ubi" for
// "registry.access.redhat.com/ubi9/ubi").
func (i Image) Name() string {
	return i.Repository[strings.LastIndex(i.Repository, "/")+1:]
}

// PackageURL returns the image's OCI package URL, as Red Hat writes them:
//
//	pkg:oci/ubi@sha256:…?arch=amd64&repository_url=registry.access.redhat.com/ubi9/ubi&tag=9.4
func (i Image) PackageURL() string {
	q := packageurl.Qualifiers{}
	if i.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: i.Arch})
	}
	q = append(q, packageurl.Qualifier{Key: "repository_url", Value: i.Repository})
	if i.Tag != "" {
		q = append(q, packageurl.Qualifier{Key: "tag", Value: i.Tag})
	}
	return packageurl.NewPackageURL(packageurl.TypeOCI, "", strings.ToLower(i.Name()), i.Digest, q, "").ToString()
}

// PackageURL returns the package URL of an installed RPM in Red Hat's
// form: namespace (see [Namespace]), NAME@VERSION-RELEASE, and the arch
// and (when not zero) epoch qualifiers:
//
//	pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1
func PackageURL(p rpmscan.Package, namespace string) string {
	q := packageurl.Qualifiers{}
	if p.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: p.Arch})
	}
	if p.Epoch != 0 {
		q = append(q, packageurl.Qualifier{Key: "epoch", Value: strconv.Itoa(p.Epoch)})
	}
	version := p.Version
	if p.Release != "" {
		version += "-" + p.Release
	}
	return packageurl.NewPackageURL(packageurl.TypeRPM, namespace, p.Name, version, q, "").ToString()
}

// Namespace returns the package-URL namespace of an RPM: "redhat" for
// packages Red Hat ships (vendor "Red Hat, Inc.", or no vendor on a RHEL
// image), "fedora" and "centos" for those distributions' packages, and
// otherwise the image's os-release ID (lower case), falling back to
// "redhat".
func Namespace(p rpmscan.Package, os rpmscan.OS) string {
	v := strings.ToLower(p.Vendor)
	switch {
	case strings.Contains(v, "red hat"):
		return "redhat"
	case strings.Contains(v, "fedora"):
		return "fedora"
	case strings.Contains(v, "centos"):
		return "centos"
	}
	id := strings.ToLower(strings.TrimSpace(os.ID))
	if id == "" || id == "rhel" || !validNamespace(id) {
		return "redhat"
	}
	return id
}

func validNamespace(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// Document is an image's bill of materials, ready to be written in either
// format. Build it with [New]; it is not modified afterwards, so one
// Document may be written concurrently.
type Document struct {
	// Image is the described image.
	Image Image
	// Base is the image it was built on, or nil when unknown.
	Base *Image
	// OS is the operating system the image claims.
	OS rpmscan.OS
	// Packages are the installed RPMs, sorted by name, EVR and arch,
	// without exact duplicates.
	Packages []Package
	// Created is the creation instant written in the documents (UTC,
	// second precision).
	Created time.Time
	// Creator names the tool that wrote the SBOM ("openabs").
	Creator string
	// Namespace is the SPDX document namespace (a URI unique to this
	// document).
	Namespace string
}

// Package is one installed RPM of a Document with its package URL.
type Package struct {
	rpmscan.Package
	// PURL is the package URL (see [PackageURL]).
	PURL string
}

// VersionString returns "VERSION-RELEASE", prefixed by "EPOCH:" when the
// epoch is not zero: the version the SBOM formats show.
func (p Package) VersionString() string {
	v := p.Version + "-" + p.Release
	if p.Epoch != 0 {
		v = strconv.Itoa(p.Epoch) + ":" + v
	}
	return v
}

type config struct {
	now     func() time.Time
	base    *Image
	creator string
	nsBase  string
}

// Option configures New.
type Option func(*config)

// WithClock sets the clock that stamps the documents' creation time
// (time.Now by default). Pin it for reproducible output.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithBase names the base image. Without it, the base is the inventory's
// Base (when it has a name and a digest), else the one its
// org.opencontainers.image.base.name and .base.digest labels name, and it
// is left out when neither says.
func WithBase(base Image) Option { return func(c *config) { c.base = &base } }

// WithCreator sets the tool named as the documents' creator ("openabs"
// by default).
func WithCreator(tool string) Option { return func(c *config) { c.creator = tool } }

// WithNamespaceBase sets the URI prefix of SPDX document namespaces
// ("https://openabs.dev/spdxdocs/" by default); the document adds the
// image name and a hash of its content.
func WithNamespaceBase(uri string) Option { return func(c *config) { c.nsBase = uri } }

// DefaultNamespaceBase is the SPDX document namespace prefix used unless
// WithNamespaceBase says otherwise.
const DefaultNamespaceBase = "https://openabs.dev/spdxdocs/"

// New describes img from its inventory. It returns an [*InputError] when
// inv is nil or img (or the base) is not a valid repository and digest.
func New(inv *rpmscan.Inventory, img Image, opts ...Option) (*Document, error) {
	cfg := config{now: time.Now, creator: "openabs", nsBase: DefaultNamespaceBase}
	for _, o := range opts {
		o(&cfg)
	}
	if inv == nil {
		return nil, &InputError{Field: "inventory"}
	}
	if err := img.validate("image"); err != nil {
		return nil, err
	}
	base := cfg.base
	if base == nil && inv.Base != nil {
		base = baseFromRef(inv.Base.Name, inv.Base.Digest)
	}
	if base == nil {
		base = baseFromRef(inv.Image.Labels[LabelBaseName], inv.Image.Labels[LabelBaseDigest])
	}
	if base != nil {
		if err := base.validate("base"); err != nil {
			return nil, err
		}
	}
	d := &Document{
		Image:   img,
		Base:    base,
		OS:      inv.OS,
		Created: cfg.now().UTC().Truncate(time.Second),
		Creator: cmp.Or(cfg.creator, "openabs"),
	}
	pkgs := slices.Clone(inv.Packages)
	slices.SortFunc(pkgs, comparePackages)
	pkgs = slices.Compact(pkgs)
	d.Packages = make([]Package, len(pkgs))
	for i, p := range pkgs {
		d.Packages[i] = Package{Package: p, PURL: PackageURL(p, Namespace(p, inv.OS))}
	}
	d.Namespace = cfg.nsBase + d.Image.Name() + "-" + d.hash()
	return d, nil
}

// hash identifies the content of the document: the image, its base, the
// package URLs and the creation instant.
func (d *Document) hash() string {
	h := sha256.New()
	fmt.Fprintln(h, d.Image.PackageURL())
	if d.Base != nil {
		fmt.Fprintln(h, d.Base.PackageURL())
	}
	for _, p := range d.Packages {
		fmt.Fprintln(h, p.PURL)
	}
	fmt.Fprintln(h, d.Created.Format(time.RFC3339))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func comparePackages(a, b rpmscan.Package) int {
	return cmp.Or(
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Epoch, b.Epoch),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Release, b.Release),
		cmp.Compare(a.Arch, b.Arch),
		cmp.Compare(a.SourceRPM, b.SourceRPM),
		cmp.Compare(a.Vendor, b.Vendor),
		cmp.Compare(a.Module, b.Module),
	)
}

// baseFromRef makes the base image from a reference and a digest; nil
// when either is missing.
func baseFromRef(ref, dig string) *Image {
	if ref == "" || dig == "" {
		return nil
	}
	ref, _, _ = strings.Cut(ref, "@")
	img := Image{Repository: ref, Digest: dig}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		img.Repository, img.Tag = ref[:i], ref[i+1:]
	}
	return &img
}

// elementID returns an SPDX element id made of the characters SPDX
// allows, unique for a package URL.
func elementID(prefix, name, purl string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('-')
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	sum := sha256.Sum256([]byte(purl))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}
