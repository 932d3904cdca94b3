package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/openabs/abs/partnerapi"
)

// CatalogClient is what the catalog publisher needs from a certification
// catalog: create an image publish request, then wait until the catalog
// completes, fails or aborts it. *partnerapi.Client implements it; tests
// can serve partnerapitest's fake.
type CatalogClient interface {
	CreateImageRequest(ctx context.Context, projectID string, req partnerapi.ImageRequest) (*partnerapi.ImageRequest, error)
	WaitImageRequest(ctx context.Context, id string) (*partnerapi.ImageRequest, error)
}

// CatalogFinder is implemented by catalog clients that can find catalog
// images by manifest digest (*partnerapi.Client does). With it the
// catalog publisher needs no image id in the Request, finds the
// per-architecture images of an index, and skips images already published.
type CatalogFinder interface {
	ImagesByDigest(ctx context.Context, digest string) ([]partnerapi.Image, error)
}

var (
	_ CatalogClient = (*partnerapi.Client)(nil)
	_ CatalogFinder = (*partnerapi.Client)(nil)
)

// CatalogUnchanged is the CatalogImage.Status of an image that was
// already published, so no request was made.
const CatalogUnchanged = "unchanged"

// CatalogResult records the catalog step of a publish.
type CatalogResult struct {
	ProjectID string         `json:"project_id"`
	Images    []CatalogImage `json:"images"`
}

// CatalogImage records one catalog image and its publish request.
type CatalogImage struct {
	ImageID string `json:"image_id"`
	// Digest is the manifest digest the image was found by ("" when the
	// Request named the image id).
	Digest    string `json:"digest,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Status is the request's last state ("completed", "failed",
	// "aborted", ...), CatalogUnchanged, or "" in a dry run or before the
	// request was made.
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// CatalogError reports a catalog publish request that ended failed or
// aborted. It matches ErrCatalog and unwraps to the client's error.
type CatalogError struct {
	ImageID   string
	RequestID string
	Status    string
	Message   string
	Err       error
}

func (e *CatalogError) Error() string {
	return fmt.Sprintf("publish: catalog request %s for image %s %s: %s", e.RequestID, e.ImageID, e.Status, e.Message)
}

// Is reports whether target is ErrCatalog.
func (e *CatalogError) Is(target error) bool { return target == ErrCatalog }

// Unwrap returns the client's error.
func (e *CatalogError) Unwrap() error { return e.Err }

// Catalog publishes images in a certification catalog. Chain it after a
// Registry so that the catalog is asked to publish only what the registry
// already serves: Chain(registry, catalog).
//
// While a request for the same image is still open the catalog answers
// a conflict (partnerapi.ErrConflict); Publish returns it, and a later
// retry finds the image published and changes nothing.
type Catalog struct {
	client CatalogClient
	logger *slog.Logger
}

var _ Publisher = (*Catalog)(nil)

// NewCatalog returns a catalog publisher that uses client, e.g. a
// *partnerapi.Client. Bound the wait for requests with the context passed
// to Publish; the client's options set the poll interval.
func NewCatalog(client CatalogClient, opts ...Option) *Catalog {
	return &Catalog{client: client, logger: newSettings(opts).logger}
}

// Publish requests the publication of the request's image in project
// req.Catalog.ProjectID and waits for each request to end. For an index
// without an explicit image id, every per-architecture image found by its
// manifest digest is published. A dry run looks the images up and
// creates nothing.
func (c *Catalog) Publish(ctx context.Context, req Request) (*Result, error) {
	art, err := req.artifact()
	if err != nil {
		return nil, err
	}
	if req.Catalog.ProjectID == "" {
		return nil, fmt.Errorf("%w: catalog project id is required", ErrInvalidRequest)
	}
	res := &Result{
		Repository: req.Repository,
		Digest:     art.digest.String(),
		MediaType:  string(art.mediaType),
		DryRun:     req.DryRun,
		Catalog:    &CatalogResult{ProjectID: req.Catalog.ProjectID},
	}
	cr := res.Catalog
	published := map[string]bool{}
	finder, canFind := c.client.(CatalogFinder)
	switch {
	case canFind:
		digests := []string{art.digest.String()}
		if art.index {
			digests = append(digests, art.manifests[1:]...)
		}
		for _, d := range digests {
			imgs, err := finder.ImagesByDigest(ctx, d)
			if err != nil {
				return res, fmt.Errorf("publish: find catalog images of %s: %w", d, err)
			}
			for _, img := range imgs {
				if img.Deleted || img.CertProject != cr.ProjectID || (req.Catalog.ImageID != "" && img.ID != req.Catalog.ImageID) {
					continue
				}
				if slices.ContainsFunc(cr.Images, func(ci CatalogImage) bool { return ci.ImageID == img.ID }) {
					continue
				}
				cr.Images = append(cr.Images, CatalogImage{ImageID: img.ID, Digest: d})
				published[img.ID] = isPublished(img)
			}
		}
	case req.Catalog.ImageID != "":
		cr.Images = []CatalogImage{{ImageID: req.Catalog.ImageID}}
	}
	if len(cr.Images) == 0 {
		return res, fmt.Errorf("%w: no image with digest %s in project %s", ErrNoCatalogImage, res.Digest, cr.ProjectID)
	}
	if req.DryRun {
		for i := range cr.Images {
			if published[cr.Images[i].ImageID] {
				cr.Images[i].Status = CatalogUnchanged
			}
		}
		return res, nil
	}
	for i := range cr.Images {
		ci := &cr.Images[i]
		if published[ci.ImageID] {
			ci.Status, ci.Message = CatalogUnchanged, "already published"
			continue
		}
		if err := c.request(ctx, cr.ProjectID, ci); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (c *Catalog) request(ctx context.Context, projectID string, ci *CatalogImage) error {
	r, err := c.client.CreateImageRequest(ctx, projectID, partnerapi.ImageRequest{ImageID: ci.ImageID, Operation: partnerapi.OperationPublish})
	if err != nil {
		return fmt.Errorf("publish: create catalog publish request for image %s: %w", ci.ImageID, err)
	}
	ci.RequestID, ci.Status, ci.Message = r.ID, string(r.Status), r.StatusMessage
	log := c.logger.With(slog.String("project", projectID), slog.String("image", ci.ImageID), slog.String("request", r.ID))
	log.LogAttrs(ctx, slog.LevelInfo, "publish: catalog request created")
	r, err = c.client.WaitImageRequest(ctx, r.ID)
	if r != nil {
		ci.Status, ci.Message = string(r.Status), r.StatusMessage
	}
	if r != nil && (r.Status == partnerapi.StatusFailed || r.Status == partnerapi.StatusAborted) {
		return &CatalogError{ImageID: ci.ImageID, RequestID: ci.RequestID, Status: ci.Status, Message: ci.Message, Err: err}
	}
	if err != nil {
		return fmt.Errorf("publish: wait for catalog request %s: %w", ci.RequestID, err)
	}
	if r.Status != partnerapi.StatusCompleted {
		return &CatalogError{ImageID: ci.ImageID, RequestID: ci.RequestID, Status: ci.Status, Message: ci.Message,
			Err: errors.New("request ended in an unknown state")}
	}
	log.LogAttrs(ctx, slog.LevelInfo, "publish: catalog request completed")
	return nil
}

// isPublished reports whether every repository entry of img is published.
func isPublished(img partnerapi.Image) bool {
	if len(img.Repositories) == 0 {
		return false
	}
	for _, r := range img.Repositories {
		if !r.Published {
			return false
		}
	}
	return true
}
