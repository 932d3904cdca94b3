package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openabs/abs/internal/retry"

	rel "github.com/openabs/abs/internal/release"
)

// Registry publishes to an OCI registry with go-containerregistry.
//
// Its tag policy: the content is pushed by digest first, read back and
// checked; then the immutable version tag is set (never moved once it
// points at a digest: ErrImmutableTag), then the floating tags. An index
// is pushed with all its children before any tag points at it, so a tag
// never names a partial multi-arch image. Publishing what is already
// published changes nothing and succeeds.
//
// A tag keeps the shape of what it names: one that points at a
// multi-platform index is never moved to a single image, nor one that
// points at a single image to an index, nor to content lacking a
// platform the tag serves now (a new index must have an image for every
// platform of the old one, a new single image the old one's platform).
// Such a publish is refused before anything is pushed with a
// *ShapeError (ErrShapeChange), unless WithPlatformChanges allows it.
//
// A Registry is safe for concurrent use.
type Registry struct {
	settings
}

// settings are what the options set, for a Registry or a Catalog.
type settings struct {
	keychain  authn.Keychain
	auth      authn.Authenticator
	plainHTTP bool
	transport http.RoundTripper
	userAgent string
	logger    *slog.Logger
	policy    retry.Policy
	check     func(v1.Image) error
	// anyShape lets tags change between image and index and lose
	// platforms.
	anyShape bool
}

var _ Publisher = (*Registry)(nil)

// Option configures a Registry or a Catalog (a Catalog reads WithLogger
// only).
type Option func(*settings)

// Doer sends HTTP requests; *http.Client satisfies it. It is the HTTP seam
// of every openabs client (advisory, notify, partnerapi take the same).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// doerTransport lets a Doer carry go-containerregistry's requests.
type doerTransport struct{ d Doer }

func (t doerTransport) RoundTrip(req *http.Request) (*http.Response, error) { return t.d.Do(req) }

// WithKeychain resolves credentials per registry from kc, e.g.
// authn.DefaultKeychain (the docker config file, the default) or a cloud
// helper keychain.
func WithKeychain(kc authn.Keychain) Option {
	return func(r *settings) { r.keychain, r.auth = kc, nil }
}

// WithBasicAuth authenticates with an explicit username and password. The
// password stays in a Secret and never appears in logs or errors.
func WithBasicAuth(username string, password Secret) Option {
	return func(r *settings) { r.auth = basicAuth{user: username, pass: password} }
}

// WithAnonymous sends no credentials.
func WithAnonymous() Option {
	return func(r *settings) { r.auth = authn.Anonymous }
}

// WithPlainHTTP allows plain HTTP to registries on loopback addresses
// (localhost, 127.0.0.0/8, ::1), for test and sidecar registries. Without
// it every request must use HTTPS; other hosts always must. A request that
// breaks the rule fails with ErrPlainHTTP before anything is sent.
func WithPlainHTTP() Option {
	return func(r *settings) { r.plainHTTP = true }
}

// WithHTTPClient sends the registry requests with d (default: an
// http.Client on remote.DefaultTransport). The plain-HTTP guard still
// applies in front of it.
func WithHTTPClient(d Doer) Option {
	return func(r *settings) {
		if rt, ok := d.(http.RoundTripper); ok {
			r.transport = rt
			return
		}
		r.transport = doerTransport{d}
	}
}

// WithUserAgent sets the User-Agent sent to the registry.
func WithUserAgent(ua string) Option {
	return func(r *settings) { r.userAgent = ua }
}

// WithLogger logs retries and tag moves (a Catalog: the requests'
// progress) to l. By default both are quiet.
func WithLogger(l *slog.Logger) Option {
	return func(r *settings) {
		if l != nil {
			r.logger = l
		}
	}
}

// WithRetry sets how many times a step is tried in all (attempts, at
// least 1) after transient failures (connection errors, timeouts, 408,
// 429 and 5xx answers), and the first and longest wait between tries: the
// wait doubles from first up to longest. The default is 5 attempts,
// 0.5 s doubling up to 8 s.
func WithRetry(attempts int, first, longest time.Duration) Option {
	return func(r *settings) {
		r.policy.Attempts, r.policy.Initial, r.policy.Max = max(attempts, 1), first, longest
	}
}

// WithImageCheck makes Publish run check on the image, or on every image
// of an index, before it reads a tag or pushes anything (also in a dry
// run). When check fails, nothing is pushed or tagged and Publish returns
// its error wrapped, so errors.Is and errors.As still see it. Use it with
// rebuild.CheckPullable, so that only images every container runtime can
// pull are published:
//
//	publish.NewRegistry(publish.WithImageCheck(rebuild.CheckPullable))
//
// A Catalog ignores it.
func WithImageCheck(check func(v1.Image) error) Option {
	return func(r *settings) { r.check = check }
}

// WithPlatformChanges lets Publish move a tag from an index to a single
// image or back, and to content without some platform the tag serves now,
// which Publish otherwise refuses (ErrShapeChange). Use it for a
// deliberate change of what an image is built for, never for rebuilds.
// A Catalog ignores it.
func WithPlatformChanges() Option {
	return func(r *settings) { r.anyShape = true }
}

// ErrShapeChange is matched by *ShapeError: a tag would move between a
// multi-platform index and a single image, or lose a platform.
var ErrShapeChange = errors.New("publish: tag would change between index and single image or lose a platform")

// ShapeError reports a publish refused because a tag would change shape.
// Nothing was pushed or tagged. It matches ErrShapeChange.
type ShapeError struct {
	Ref      string // repository:tag
	Existing string // digest the tag points at
	Want     string // digest that was to be published
	// ExistingIndex and WantIndex tell whether each is an index.
	ExistingIndex, WantIndex bool
	// Missing are the platforms ("linux/s390x") the tag serves now that
	// the new content lacks.
	Missing []string
}

// Error says what the tag points at and what it would lose.
func (e *ShapeError) Error() string {
	kind := func(index bool) string {
		if index {
			return "a multi-platform index"
		}
		return "a single image"
	}
	if e.ExistingIndex != e.WantIndex {
		return fmt.Sprintf("publish: %s points at %s %s, refusing to move it to %s %s", e.Ref, kind(e.ExistingIndex), e.Existing, kind(e.WantIndex), e.Want)
	}
	return fmt.Sprintf("publish: %s points at %s serving %s, refusing to move it to %s which lacks them", e.Ref, e.Existing, strings.Join(e.Missing, ", "), e.Want)
}

// Is reports whether target is ErrShapeChange.
func (e *ShapeError) Is(target error) bool { return target == ErrShapeChange }

// NewRegistry returns a registry publisher. By default it reads
// credentials from the docker config (authn.DefaultKeychain), requires
// HTTPS, and retries transient failures 5 times, waiting 0.5 s, 1 s, 2 s and 4 s in between (see WithRetry).
func NewRegistry(opts ...Option) *Registry {
	return &Registry{settings: newSettings(opts)}
}

func newSettings(opts []Option) settings {
	s := settings{
		keychain:  authn.DefaultKeychain,
		transport: remote.DefaultTransport,
		userAgent: "openabs-publish",
		logger:    slog.New(slog.DiscardHandler),
		policy:    retry.Policy{Attempts: 5, Initial: 500 * time.Millisecond, Max: 8 * time.Second},
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

type basicAuth struct {
	user string
	pass Secret
}

func (b basicAuth) Authorization() (*authn.AuthConfig, error) {
	return &authn.AuthConfig{Username: b.user, Password: b.pass.Reveal()}, nil
}

// schemeGuard refuses plain HTTP except to loopback hosts when allowed.
type schemeGuard struct {
	inner     http.RoundTripper
	plainHTTP bool
}

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && (!g.plainHTTP || !isLoopback(req.URL.Hostname())) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s://%s", ErrPlainHTTP, req.URL.Scheme, req.URL.Host)
	}
	return g.inner.RoundTrip(req)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *Registry) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(schemeGuard{inner: r.transport, plainHTTP: r.plainHTTP}),
		remote.WithUserAgent(r.userAgent),
		// Retries are ours (r.retry), so that they are logged, bounded
		// and cover whole steps.
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
	if r.auth != nil {
		opts = append(opts, remote.WithAuth(r.auth))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(r.keychain))
	}
	return opts
}

// Publish pushes req to req.Repository and sets its tags. See Registry for
// the policy.
func (r *Registry) Publish(ctx context.Context, req Request) (*Result, error) {
	res, err := r.publish(ctx, req)
	return res, credentialError(err)
}

func (r *Registry) publish(ctx context.Context, req Request) (*Result, error) {
	tags, err := req.tags()
	if err != nil {
		return nil, err
	}
	art, err := req.artifact()
	if err != nil {
		return nil, err
	}
	repo, err := name.NewRepository(req.Repository)
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: %v", ErrInvalidRequest, req.Repository, err)
	}
	if err := r.checkImages(req); err != nil {
		return nil, err
	}
	want := art.digest.String()
	res := &Result{
		Repository: repo.Name(),
		Digest:     want,
		MediaType:  string(art.mediaType),
		DryRun:     req.DryRun,
		Manifests:  art.manifests,
		Blobs:      art.blobs,
	}
	opts := r.remoteOptions(ctx)
	// One puller and one pusher per publish: their transports (and
	// tokens) are reused across the many small requests below.
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	opts = append(opts, remote.Reuse(puller), remote.Reuse(pusher))
	log := r.logger.With(slog.String("repository", repo.Name()), slog.String("digest", want))

	// Where every tag points now.
	fromTypes := make([]types.MediaType, len(tags))
	for i, tag := range tags {
		from, mt, err := r.resolveType(ctx, repo.Tag(tag), opts)
		if err != nil {
			return res, fmt.Errorf("publish: read tag %s: %w", repo.Tag(tag), err)
		}
		fromTypes[i] = mt
		tc := TagChange{Tag: tag, Immutable: i == 0, From: from, To: want}
		switch {
		case from == want:
			tc.Action = ActionUnchanged
		case from == "":
			tc.Action = ActionCreated
		case i == 0:
			tc.Action = ActionRefused
		default:
			tc.Action = ActionMoved
		}
		res.Tags = append(res.Tags, tc)
	}
	if v := res.Tags[0]; v.Action == ActionRefused {
		skipRest(res, 1)
		return res, &ImmutableTagError{Ref: repo.Tag(v.Tag).String(), Existing: v.From, Want: want}
	}
	if !r.anyShape {
		if err := r.checkShapes(ctx, repo, req, art, res, fromTypes, opts); err != nil {
			return res, err
		}
	}
	if req.DryRun {
		return res, nil
	}

	// Content by digest, before any tag can point at it.
	ref := repo.Digest(want)
	have, err := r.resolve(ctx, ref, opts)
	if err != nil {
		skipRest(res, 0)
		return res, fmt.Errorf("publish: read %s: %w", ref, err)
	}
	if have == "" {
		err := r.retry(ctx, "push", func() error {
			if art.index {
				return remote.WriteIndex(ref, req.Index, opts...)
			}
			return remote.Write(ref, req.Image, opts...)
		})
		if err != nil {
			skipRest(res, 0)
			return res, fmt.Errorf("publish: push %s: %w", ref, err)
		}
		res.Pushed = true
		log.LogAttrs(ctx, slog.LevelInfo, "publish: pushed", slog.Int("manifests", len(art.manifests)), slog.Int("blobs", len(art.blobs)))
	}

	// Read back what the registry stored.
	desc, err := r.readBack(ctx, repo, art, opts)
	if err != nil {
		skipRest(res, 0)
		return res, err
	}

	// Tags: the immutable one first; floating ones only after it.
	var errs []error
	for i := range res.Tags {
		tc := &res.Tags[i]
		if tc.Action == ActionUnchanged {
			continue
		}
		tagRef := repo.Tag(tc.Tag)
		if err := r.setTag(ctx, tagRef, tc, desc, opts); err != nil {
			tc.Action, tc.Error = ActionFailed, err.Error()
			errs = append(errs, err)
			if tc.Immutable {
				skipRest(res, i+1)
				break
			}
			continue
		}
		log.LogAttrs(ctx, slog.LevelInfo, "publish: tag "+string(tc.Action), slog.String("tag", tc.Tag), slog.String("from", tc.From))
	}
	return res, errors.Join(errs...)
}

// checkImages runs the image check on every image of req.
func (r *Registry) checkImages(req Request) error {
	if r.check == nil {
		return nil
	}
	if req.Image != nil {
		return r.checkImage(req.Image)
	}
	return r.checkIndex(req.Index)
}

func (r *Registry) checkImage(img v1.Image) error {
	if err := r.check(img); err != nil {
		d, _ := img.Digest()
		return fmt.Errorf("publish: image %s refused by the image check: %w", d, err)
	}
	return nil
}

func (r *Registry) checkIndex(idx v1.ImageIndex) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("publish: index manifest: %w", err)
	}
	for _, desc := range im.Manifests {
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return fmt.Errorf("publish: index child %s: %w", desc.Digest, err)
			}
			if err := r.checkIndex(child); err != nil {
				return err
			}
		case desc.MediaType.IsImage():
			child, err := idx.Image(desc.Digest)
			if err != nil {
				return fmt.Errorf("publish: index child %s: %w", desc.Digest, err)
			}
			if err := r.checkImage(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// setTag points tagRef at desc and checks the result.
func (r *Registry) setTag(ctx context.Context, tagRef name.Tag, tc *TagChange, desc *remote.Descriptor, opts []remote.Option) error {
	if tc.Immutable {
		// Look again right before writing: another publisher may have
		// taken the tag since the first look.
		now, err := r.resolve(ctx, tagRef, opts)
		if err != nil {
			return fmt.Errorf("publish: read tag %s: %w", tagRef, err)
		}
		switch now {
		case tc.To:
			tc.Action = ActionUnchanged
			return nil
		case "":
		default:
			tc.Action, tc.From = ActionRefused, now
			return &ImmutableTagError{Ref: tagRef.String(), Existing: now, Want: tc.To}
		}
	}
	if err := r.retry(ctx, "tag", func() error { return remote.Put(tagRef, desc, opts...) }); err != nil {
		return fmt.Errorf("publish: tag %s: %w", tagRef, err)
	}
	got, err := r.resolve(ctx, tagRef, opts)
	if err != nil {
		return fmt.Errorf("publish: read back tag %s: %w", tagRef, err)
	}
	if got != tc.To {
		return &DigestMismatchError{Ref: tagRef.String(), Want: tc.To, Got: got}
	}
	return nil
}

// readBack fetches the pushed manifest by digest, checks that its bytes
// hash to the expected digest, and that every child of an index is
// present. It returns the descriptor used to set tags, so tags point at
// exactly the bytes that were checked.
func (r *Registry) readBack(ctx context.Context, repo name.Repository, art *artifact, opts []remote.Option) (*remote.Descriptor, error) {
	ref := repo.Digest(art.digest.String())
	var desc *remote.Descriptor
	err := r.retry(ctx, "read back", func() error {
		var err error
		desc, err = remote.Get(ref, opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("publish: read back %s: %w", ref, err)
	}
	got, _, err := v1.SHA256(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("publish: read back %s: %w", ref, err)
	}
	if got != art.digest {
		return nil, &DigestMismatchError{Ref: ref.String(), Want: art.digest.String(), Got: got.String()}
	}
	for _, m := range art.manifests[1:] {
		child := repo.Digest(m)
		have, err := r.resolve(ctx, child, opts)
		if err != nil {
			return nil, fmt.Errorf("publish: read back %s: %w", child, err)
		}
		if have != m {
			return nil, &DigestMismatchError{Ref: child.String(), Want: m, Got: have}
		}
	}
	return desc, nil
}

// resolve returns the digest ref points at, or "" when it does not exist.
func (r *Registry) resolve(ctx context.Context, ref name.Reference, opts []remote.Option) (string, error) {
	d, _, err := r.resolveType(ctx, ref, opts)
	return d, err
}

// resolveType is resolve that also returns the manifest's media type.
func (r *Registry) resolveType(ctx context.Context, ref name.Reference, opts []remote.Option) (string, types.MediaType, error) {
	var (
		d  string
		mt types.MediaType
	)
	err := r.retry(ctx, "resolve", func() error {
		desc, err := remote.Head(ref, opts...)
		if err != nil {
			if notFound(err) {
				d, mt = "", ""
				return nil
			}
			return err
		}
		d, mt = desc.Digest.String(), desc.MediaType
		return nil
	})
	return d, mt, err
}

// checkShapes refuses, with a *ShapeError, a publish that would move a
// tag between index and single image or to content lacking one of the
// platforms the tag serves now. The refused tag is marked refused, the
// others skipped.
func (r *Registry) checkShapes(ctx context.Context, repo name.Repository, req Request, art *artifact, res *Result, fromTypes []types.MediaType, opts []remote.Option) error {
	var want []string // platforms of the new content, computed once
	for i := range res.Tags {
		tc := &res.Tags[i]
		if tc.From == "" || tc.From == tc.To || tc.Action == ActionRefused {
			continue
		}
		ref := repo.Tag(tc.Tag).String()
		se := &ShapeError{Ref: ref, Existing: tc.From, Want: tc.To, ExistingIndex: fromTypes[i].IsIndex(), WantIndex: art.index}
		if se.ExistingIndex == se.WantIndex {
			have, err := r.remotePlatforms(ctx, repo.Digest(tc.From), se.ExistingIndex, opts)
			if err != nil {
				return fmt.Errorf("publish: platforms of %s (%s): %w", ref, tc.From, err)
			}
			if want == nil {
				if want, err = requestPlatforms(req); err != nil {
					return err
				}
			}
			for _, p := range have {
				if !slices.ContainsFunc(want, func(w string) bool { return samePlatform(p, w) }) {
					se.Missing = append(se.Missing, p)
				}
			}
			if len(se.Missing) == 0 {
				continue
			}
		}
		for j := range res.Tags {
			if j != i && res.Tags[j].Action != ActionUnchanged {
				res.Tags[j].Action = ActionSkipped
			}
		}
		tc.Action = ActionRefused
		return se
	}
	return nil
}

// remotePlatforms returns the platforms ("os/arch[/variant]") of the
// images of the index or image ref names. Images without a platform, and
// attestations ("unknown/unknown"), are left out.
func (r *Registry) remotePlatforms(ctx context.Context, ref name.Digest, index bool, opts []remote.Option) ([]string, error) {
	var out []string
	err := r.retry(ctx, "read platforms", func() error {
		out = nil
		if !index {
			img, err := remote.Image(ref, opts...)
			if err != nil {
				return err
			}
			p, err := imagePlatform(img)
			out = appendPlatform(out, p)
			return err
		}
		idx, err := remote.Index(ref, opts...)
		if err != nil {
			return err
		}
		out, err = indexPlatforms(idx)
		return err
	})
	return out, err
}

// requestPlatforms returns the platforms of the content of req.
func requestPlatforms(req Request) ([]string, error) {
	if req.Index != nil {
		return indexPlatforms(req.Index)
	}
	p, err := imagePlatform(req.Image)
	return appendPlatform([]string{}, p), err
}

func indexPlatforms(idx v1.ImageIndex) ([]string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			ps, err := indexPlatforms(child)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		case !d.MediaType.IsImage():
		case d.Platform != nil:
			out = appendPlatform(out, d.Platform)
		default:
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			p, err := imagePlatform(img)
			if err != nil {
				return nil, err
			}
			out = appendPlatform(out, p)
		}
	}
	return out, nil
}

func imagePlatform(img v1.Image) (*v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("publish: image config: %w", err)
	}
	return cf.Platform(), nil
}

// appendPlatform appends p as "os/arch[/variant]", unless it is unknown.
func appendPlatform(out []string, p *v1.Platform) []string {
	if p == nil || p.OS == "" || p.OS == "unknown" || p.Architecture == "" {
		return out
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return append(out, s)
}

// samePlatform compares "os/arch[/variant]" strings, an arm64 platform
// without a variant being v8 and an arm one v7.
func samePlatform(a, b string) bool {
	norm := func(s string) string {
		switch s {
		case "linux/arm64":
			return "linux/arm64/v8"
		case "linux/arm":
			return "linux/arm/v7"
		}
		return s
	}
	return norm(a) == norm(b)
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// skipRest marks tags from index i on that were not decided as skipped.
func skipRest(res *Result, i int) {
	for j := i; j < len(res.Tags); j++ {
		if res.Tags[j].Action != ActionUnchanged {
			res.Tags[j].Action = ActionSkipped
		}
	}
}

// NextRelease returns the release of the next rebuild of an image of
// version whose current release label is current, free among the tags of
// repository: rebuild.NextRelease(current), or the release after the
// highest "VERSION-RELEASE" tag of the same form when that tag already
// exists. Stamp the image with it and publish under VersionTag(version,
// release): the immutable tag is then not refused because the team's own
// CI (or an earlier rebuild) took the number. A repository that does not
// exist yet has no tags.
func (r *Registry) NextRelease(ctx context.Context, repository, version, current string) (string, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return "", fmt.Errorf("%w: repository %q: %v", ErrInvalidRequest, repository, err)
	}
	var tags []string
	err = r.retry(ctx, "list tags", func() error {
		var err error
		tags, err = remote.List(repo, r.remoteOptions(ctx)...)
		if notFound(err) {
			tags, err = nil, nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("publish: list tags of %s: %w", repo, err)
	}
	return rel.NextFree(version, current, tags), nil
}
