package publish

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Publisher makes a rebuilt image available. It is the extension point of
// this package: the registry publisher pushes to an OCI registry, the
// catalog publisher asks a certification catalog to publish the image, and
// Chain runs several in order. Implement it to publish anywhere else.
//
// Publish must be idempotent: the orchestrator calls it again after a
// crash, with the same Request, and publishing what is already published
// must succeed without changing anything. Publish returns a non-nil Result
// whenever it got far enough to learn something, also together with an
// error, so that callers can record which tags moved.
type Publisher interface {
	Publish(ctx context.Context, req Request) (*Result, error)
}

// Request is one image (or multi-arch index) to publish.
type Request struct {
	// Repository is the target repository, e.g.
	// "registry.example.com/team/app". Required.
	Repository string

	// Image is a single-platform image. Exactly one of Image and Index
	// must be set.
	Image v1.Image
	// Index is a multi-platform image index, published as a whole or not
	// at all.
	Index v1.ImageIndex

	// VersionTag is the immutable tag of this rebuild, e.g. "1.2.3-5"
	// (see VersionTag). Once it points at a digest it is never moved.
	// Required.
	VersionTag string
	// FloatingTags are the tags the owner wants to follow the newest
	// rebuild ("latest", "1", "1.2"). They move to the new digest.
	FloatingTags []string

	// Catalog identifies the image in a certification catalog; only the
	// catalog publisher reads it.
	Catalog CatalogTarget

	// DryRun reports what would be pushed and tagged without changing
	// anything. Publishers may still read (tags, catalog records) to
	// make the report exact.
	DryRun bool
}

// CatalogTarget identifies the catalog records an image is published
// under.
type CatalogTarget struct {
	// ProjectID is the certification project, e.g. a Pyxis project id.
	ProjectID string `json:"project_id,omitempty"`
	// ImageID is the catalog's id of the image. When empty, the catalog
	// publisher looks it up by digest if its client can (CatalogFinder).
	ImageID string `json:"image_id,omitempty"`
}

// Action is what happened, or in a dry run what would happen, to one tag.
type Action string

// Tag actions.
const (
	// ActionCreated: the tag did not exist and now points at the digest.
	ActionCreated Action = "created"
	// ActionMoved: the tag pointed at another digest and now points at
	// this one.
	ActionMoved Action = "moved"
	// ActionUnchanged: the tag already pointed at the digest.
	ActionUnchanged Action = "unchanged"
	// ActionRefused: an immutable tag points at another digest and was
	// left alone.
	ActionRefused Action = "refused"
	// ActionFailed: setting the tag failed; see TagChange.Error. The tag
	// may or may not have moved.
	ActionFailed Action = "failed"
	// ActionSkipped: the tag was not attempted because an earlier step
	// failed.
	ActionSkipped Action = "skipped"
)

// TagChange records one tag of a publish.
type TagChange struct {
	Tag       string `json:"tag"`
	Immutable bool   `json:"immutable,omitempty"`
	Action    Action `json:"action"`
	// From is the digest the tag pointed at before ("" if it did not
	// exist).
	From string `json:"from,omitempty"`
	// To is the digest being published.
	To    string `json:"to"`
	Error string `json:"error,omitempty"`
}

// Result records what a publish did, or in a dry run what it would do.
type Result struct {
	Repository string `json:"repository"`
	// Digest is the manifest (or index) digest being published.
	Digest    string `json:"digest"`
	MediaType string `json:"media_type,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`

	// Manifests are the manifests the publish needs in the registry: the
	// index first, then its children, or just the image manifest.
	Manifests []string `json:"manifests,omitempty"`
	// Blobs are the config and layer digests the manifests reference.
	Blobs []string `json:"blobs,omitempty"`
	// Pushed reports whether content was uploaded; false when the
	// registry already held the digest (or in a dry run).
	Pushed bool `json:"pushed,omitempty"`

	// Tags records every tag of the request, in order: the version tag
	// first, then the floating tags.
	Tags []TagChange `json:"tags,omitempty"`

	// Catalog is filled by the catalog publisher.
	Catalog *CatalogResult `json:"catalog,omitempty"`
}

// Moved returns the tags this publish changed in the registry (created or
// moved). It is empty for a dry run.
func (r *Result) Moved() []string {
	if r == nil || r.DryRun {
		return nil
	}
	var out []string
	for _, t := range r.Tags {
		if t.Action == ActionCreated || t.Action == ActionMoved {
			out = append(out, t.Tag)
		}
	}
	return out
}

// Sentinel errors. Errors returned by this package wrap them; test with
// errors.Is.
var (
	// ErrInvalidRequest: the Request is incomplete or malformed.
	ErrInvalidRequest = errors.New("publish: invalid request")
	// ErrImmutableTag: the version tag already points at a different
	// digest. Nothing was pushed or tagged. See *ImmutableTagError.
	ErrImmutableTag = errors.New("publish: immutable tag points at another digest")
	// ErrDigestMismatch: what the registry returned differs from what
	// was pushed. See *DigestMismatchError.
	ErrDigestMismatch = errors.New("publish: registry digest differs from pushed digest")
	// ErrPlainHTTP: a request would have gone over plain HTTP to a host
	// for which that is not allowed.
	ErrPlainHTTP = errors.New("publish: plain HTTP refused")
	// ErrCatalog: the catalog did not complete the publish request. See
	// *CatalogError.
	ErrCatalog = errors.New("publish: catalog publish request did not complete")
	// ErrNoCatalogImage: the catalog image id is unknown and cannot be
	// looked up.
	ErrNoCatalogImage = errors.New("publish: catalog image id unknown")
)

// ImmutableTagError reports an immutable tag that already points at
// another digest. It matches ErrImmutableTag.
type ImmutableTagError struct {
	Ref      string // repository:tag
	Existing string // digest the tag points at
	Want     string // digest that was to be published
}

func (e *ImmutableTagError) Error() string {
	return fmt.Sprintf("publish: immutable tag %s points at %s, refusing to move it to %s", e.Ref, e.Existing, e.Want)
}

// Is reports whether target is ErrImmutableTag.
func (e *ImmutableTagError) Is(target error) bool { return target == ErrImmutableTag }

// DigestMismatchError reports that a reference read back from the registry
// resolves to another digest than the one pushed. It matches
// ErrDigestMismatch.
type DigestMismatchError struct {
	Ref  string
	Want string
	Got  string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("publish: %s resolves to %s after push, want %s", e.Ref, e.Got, e.Want)
}

// Is reports whether target is ErrDigestMismatch.
func (e *DigestMismatchError) Is(target error) bool { return target == ErrDigestMismatch }

// Chain returns a Publisher that runs ps in order with the same Request
// and stops at the first error, e.g. Chain(registry, catalog) so that the
// catalog is asked to publish only what the registry holds. The merged
// Result carries the first publisher's registry record and the tags and
// catalog record of every step that ran.
func Chain(ps ...Publisher) Publisher { return chain(ps) }

type chain []Publisher

func (c chain) Publish(ctx context.Context, req Request) (*Result, error) {
	var merged *Result
	for i, p := range c {
		res, err := p.Publish(ctx, req)
		merged = merge(merged, res)
		if err != nil {
			return merged, fmt.Errorf("publish: chain step %d: %w", i+1, err)
		}
	}
	return merged, nil
}

func merge(into, from *Result) *Result {
	if from == nil {
		return into
	}
	if into == nil {
		cp := *from
		return &cp
	}
	into.Tags = append(into.Tags, from.Tags...)
	if from.Catalog != nil {
		into.Catalog = from.Catalog
	}
	into.Pushed = into.Pushed || from.Pushed
	return into
}
