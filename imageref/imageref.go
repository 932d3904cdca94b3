package imageref

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Sentinel errors; Open wraps them with the reference it was given.
var (
	// ErrInvalidRef reports a reference that cannot be parsed.
	ErrInvalidRef = errors.New("imageref: invalid reference")
	// ErrNotFound reports a tag or digest absent from an OCI layout.
	ErrNotFound = errors.New("imageref: image not found")
	// ErrAmbiguous reports a layout or archive holding several images when
	// the reference does not say which one.
	ErrAmbiguous = errors.New("imageref: reference matches several images")
	// ErrNoPlatform reports an index without an image for the platform.
	ErrNoPlatform = errors.New("imageref: no image for platform")
)

// DefaultPlatform is the platform chosen from multi-platform indexes.
var DefaultPlatform = v1.Platform{OS: "linux", Architecture: "amd64"}

const (
	prefixOCI           = "oci:"
	prefixDockerArchive = "docker-archive:"
	prefixDocker        = "docker://"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

type options struct {
	platform    v1.Platform
	platformSet bool
	insecure    bool
	keychain    authn.Keychain
	transport   http.RoundTripper
}

// Option configures Open.
type Option func(*options)

// WithPlatform chooses the image for p from multi-platform indexes. When set
// explicitly, a single-platform image of another platform is an error too.
func WithPlatform(p v1.Platform) Option {
	return func(o *options) { o.platform, o.platformSet = p, true }
}

// WithInsecure lets registry references use plain HTTP and skip TLS
// verification, for test registries. (Loopback registries use plain HTTP
// even without it.)
func WithInsecure(insecure bool) Option {
	return func(o *options) { o.insecure = insecure }
}

// WithKeychain sets where registry credentials come from; the default is
// authn.DefaultKeychain (docker and podman config files, credential helpers).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) { o.keychain = k }
}

// WithTransport sets the HTTP transport for registry requests.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) { o.transport = t }
}

// ParsePlatform parses "os/arch[/variant]", e.g. "linux/arm64/v8".
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("%w: platform %q, want os/arch[/variant]", ErrInvalidRef, s)
	}
	return *p, nil
}

// Open returns the image ref names (see the package documentation for the
// accepted forms). Registry images are fetched lazily: layers are read when
// the caller reads them, under ctx.
func Open(ctx context.Context, ref string, opts ...Option) (v1.Image, error) {
	o := options{platform: DefaultPlatform, keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(&o)
	}
	var img v1.Image
	var err error
	switch {
	case strings.HasPrefix(ref, prefixOCI):
		img, err = openLayout(strings.TrimPrefix(ref, prefixOCI), &o)
	case strings.HasPrefix(ref, prefixDockerArchive):
		img, err = openArchive(strings.TrimPrefix(ref, prefixDockerArchive))
	default:
		img, err = openRemote(ctx, strings.TrimPrefix(ref, prefixDocker), &o)
	}
	if err == nil && o.platformSet {
		err = checkPlatform(img, o.platform)
	}
	if err != nil {
		return nil, fmt.Errorf("imageref: %s: %w", ref, err)
	}
	return img, nil
}

func openRemote(ctx context.Context, s string, o *options) (v1.Image, error) {
	desc, err := getRemote(ctx, s, o)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		return choosePlatform(idx, o.platform)
	}
	return desc.Image()
}

// getRemote fetches the manifest (or index) s names.
func getRemote(ctx context.Context, s string, o *options) (*remote.Descriptor, error) {
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(s, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRef, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain)}
	if t := o.transport; t != nil {
		ropts = append(ropts, remote.WithTransport(t))
	} else if o.insecure {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by WithInsecure
		ropts = append(ropts, remote.WithTransport(tr))
	}
	return remote.Get(r, ropts...)
}

// openLayout opens "DIR", "DIR:TAG" or "DIR@DIGEST".
func openLayout(s string, o *options) (v1.Image, error) {
	img, err := findInLayout(s, o)
	if err != nil {
		return nil, err
	}
	dir, _, _ := splitLayoutRef(s)
	return linearLayout(dir, img)
}

// findInLayout returns the image of the layout that s names.
func findInLayout(s string, o *options) (v1.Image, error) {
	idx, im, found, digest, tag, err := layoutCandidates(s)
	if err != nil {
		return nil, err
	}
	switch {
	case len(found) == 0 && digest != "":
		// Not listed at the top: it may be a child of a listed index.
		if img, err := findChild(idx, im.Manifests, digest); err != nil || img != nil {
			return img, err
		}
		return nil, fmt.Errorf("%w: digest %s", ErrNotFound, digest)
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("%w: tag %q", ErrNotFound, tag)
	case len(found) == 0:
		return nil, fmt.Errorf("%w: empty layout", ErrNotFound)
	case len(found) > 1:
		// Several images side by side: a platform choice settles it when
		// each carries its platform, as in a multi-platform layout.
		return choosePlatformFrom(idx, found, o.platform)
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return choosePlatform(child, o.platform)
	}
	return idx.Image(d.Digest)
}

// layoutCandidates opens the layout of "DIR", "DIR:TAG" or "DIR@DIGEST"
// and returns the descriptors of its index.json the tag or digest selects
// (all of them when neither is given).
func layoutCandidates(s string) (idx v1.ImageIndex, im *v1.IndexManifest, found []v1.Descriptor, digest, tag string, err error) {
	var dir string
	dir, digest, tag = splitLayoutRef(s)
	if idx, err = layout.ImageIndexFromPath(dir); err != nil {
		return nil, nil, nil, "", "", err
	}
	if im, err = idx.IndexManifest(); err != nil {
		return nil, nil, nil, "", "", err
	}
	for _, d := range im.Manifests {
		switch {
		case digest != "":
			if d.Digest.String() == digest {
				found = append(found, d)
			}
		case tag != "":
			if n := d.Annotations[annotationRefName]; n == tag || strings.HasSuffix(n, ":"+tag) {
				found = append(found, d)
			}
		default:
			found = append(found, d)
		}
	}
	return idx, im, found, digest, tag, nil
}

// splitLayoutRef splits "DIR", "DIR:TAG" or "DIR@DIGEST".
func splitLayoutRef(s string) (dir, digest, tag string) {
	dir = s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		dir, digest = s[:i], s[i+1:]
	} else if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i+1:], "/") {
		if _, err := os.Stat(s); err != nil { // a directory named "a:b" wins
			dir, tag = s[:i], s[i+1:]
		}
	}
	return dir, digest, tag
}

// findChild looks for the image with the given digest inside the indexes
// listed in descs; it returns nil, nil when there is none.
func findChild(idx v1.ImageIndex, descs []v1.Descriptor, digest string) (v1.Image, error) {
	for _, d := range descs {
		if !d.MediaType.IsIndex() {
			continue
		}
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		im, err := child.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, cd := range im.Manifests {
			if cd.Digest.String() == digest && !cd.MediaType.IsIndex() {
				return child.Image(cd.Digest)
			}
		}
		if img, err := findChild(child, im.Manifests, digest); err != nil || img != nil {
			return img, err
		}
	}
	return nil, nil
}

// openArchive opens "FILE" or "FILE:REPO:TAG".
func openArchive(s string) (v1.Image, error) {
	if _, err := os.Stat(s); err == nil {
		return archiveImage(s, nil)
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		if _, err := os.Stat(s[:i]); err != nil {
			continue
		}
		t, err := name.NewTag(s[i+1:])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRef, err)
		}
		return archiveImage(s[:i], &t)
	}
	return archiveImage(s, nil) // reports the missing file
}

// archiveImage reads the archive's table of contents, manifest.json and
// config now, so a bad archive fails here rather than in the middle of a
// scan; layers are read when the caller reads them.
func archiveImage(p string, t *name.Tag) (v1.Image, error) {
	return linearArchive(p, t)
}

// choosePlatform returns the image for want from idx, descending into
// nested indexes.
func choosePlatform(idx v1.ImageIndex, want v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return choosePlatformFrom(idx, im.Manifests, want)
}

func choosePlatformFrom(idx v1.ImageIndex, descs []v1.Descriptor, want v1.Platform) (v1.Image, error) {
	var have []string
	for _, d := range descs {
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := choosePlatform(child, want); err == nil {
				return img, nil
			} else if !errors.Is(err, ErrNoPlatform) {
				return nil, err
			}
			continue
		}
		if d.Platform == nil {
			have = append(have, "unknown")
			continue
		}
		have = append(have, d.Platform.String())
		if d.Platform.Satisfies(want) {
			return idx.Image(d.Digest)
		}
	}
	if len(have) > 0 && !slicesContainsKnown(have) {
		return nil, fmt.Errorf("%w: %d images without platforms", ErrAmbiguous, len(have))
	}
	return nil, fmt.Errorf("%w %s (have %s)", ErrNoPlatform, want.String(), strings.Join(have, ", "))
}

func slicesContainsKnown(have []string) bool {
	for _, h := range have {
		if h != "unknown" {
			return true
		}
	}
	return false
}

// checkPlatform fails when img is of another platform than want.
func checkPlatform(img v1.Image, want v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	got := cf.Platform()
	if got == nil || got.OS == "" {
		return nil // images without a platform fit anything
	}
	if got.Variant == "" {
		// Configs often leave the variant to the index ("arm64" under
		// an "arm64/v8" descriptor).
		want.Variant = ""
	}
	if !got.Satisfies(want) {
		return fmt.Errorf("%w %s (image is %s)", ErrNoPlatform, want.String(), got.String())
	}
	return nil
}
