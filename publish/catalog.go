package publish

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// CatalogClient is what the catalog publisher needs from a certification
// catalog such as Red Hat's Pyxis: create a request to publish one image,
// then read that request until it is done. PartnerAPI adapts a
// *partnerapi.Client.
type CatalogClient interface {
	// CreatePublishRequest asks the catalog to publish image imageID of
	// project projectID and returns the new request.
	CreatePublishRequest(ctx context.Context, projectID, imageID string) (CatalogRequest, error)
	// GetRequest returns the current state of a request.
	GetRequest(ctx context.Context, requestID string) (CatalogRequest, error)
}

// CatalogFinder is implemented by catalog clients that can find the
// catalog id of an image from its manifest digest. The catalog publisher
// uses it when a Request names no image id.
type CatalogFinder interface {
	FindImageID(ctx context.Context, projectID, digest string) (string, error)
}

// CatalogRequest is a catalog's publish request.
type CatalogRequest struct {
	ID string
	// Status is "pending", "in progress", "completed", "failed" or
	// "aborted".
	Status  string
	Message string
}

// Catalog request states.
const (
	CatalogPending    = "pending"
	CatalogInProgress = "in progress"
	CatalogCompleted  = "completed"
	CatalogFailed     = "failed"
	CatalogAborted    = "aborted"
)

func catalogDone(status string) bool {
	return status == CatalogCompleted || status == CatalogFailed || status == CatalogAborted
}

// CatalogResult records the catalog step of a publish.
type CatalogResult struct {
	ProjectID string `json:"project_id"`
	ImageID   string `json:"image_id"`
	RequestID string `json:"request_id,omitempty"`
	Status    string `json:"status,omitempty"`
	Message   string `json:"message,omitempty"`
}

// CatalogError reports a catalog request that ended failed or aborted. It
// matches ErrCatalog.
type CatalogError struct {
	RequestID string
	Status    string
	Message   string
}

func (e *CatalogError) Error() string {
	return fmt.Sprintf("publish: catalog request %s %s: %s", e.RequestID, e.Status, e.Message)
}

// Is reports whether target is ErrCatalog.
func (e *CatalogError) Is(target error) bool { return target == ErrCatalog }

// Catalog publishes images in a certification catalog. Chain it after a
// Registry so that the catalog is asked to publish only what the registry
// already serves: Chain(registry, catalog).
type Catalog struct {
	client        CatalogClient
	poll, maxPoll time.Duration
	logger        *slog.Logger
	sleep         func(context.Context, time.Duration) error
}

var _ Publisher = (*Catalog)(nil)

// CatalogOption configures a Catalog.
type CatalogOption func(*Catalog)

// WithPollInterval sets the first wait between reads of a pending request
// and the longest (the wait doubles up to it). Defaults: 2 s and 30 s.
func WithPollInterval(first, longest time.Duration) CatalogOption {
	return func(c *Catalog) { c.poll, c.maxPoll = first, max(first, longest) }
}

// WithCatalogLogger logs the request's progress to l.
func WithCatalogLogger(l *slog.Logger) CatalogOption {
	return func(c *Catalog) {
		if l != nil {
			c.logger = l
		}
	}
}

// NewCatalog returns a catalog publisher that uses client. Bound the wait
// for a request with the context passed to Publish.
func NewCatalog(client CatalogClient, opts ...CatalogOption) *Catalog {
	c := &Catalog{
		client:  client,
		poll:    2 * time.Second,
		maxPoll: 30 * time.Second,
		logger:  slog.New(slog.DiscardHandler),
		sleep:   sleepCtx,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Publish creates a publish request for the image of req in the catalog
// and waits until the catalog completes, fails or aborts it. A dry run
// resolves the image id (a read) and creates nothing.
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
		Catalog:    &CatalogResult{ProjectID: req.Catalog.ProjectID, ImageID: req.Catalog.ImageID},
	}
	cr := res.Catalog
	if cr.ImageID == "" {
		f, ok := c.client.(CatalogFinder)
		if !ok {
			return res, fmt.Errorf("%w: request names none and the client cannot look it up", ErrNoCatalogImage)
		}
		id, err := f.FindImageID(ctx, cr.ProjectID, res.Digest)
		if err != nil {
			return res, fmt.Errorf("publish: find catalog image %s: %w", res.Digest, err)
		}
		if id == "" {
			return res, fmt.Errorf("%w: no image with digest %s in project %s", ErrNoCatalogImage, res.Digest, cr.ProjectID)
		}
		cr.ImageID = id
	}
	if req.DryRun {
		return res, nil
	}
	r, err := c.client.CreatePublishRequest(ctx, cr.ProjectID, cr.ImageID)
	if err != nil {
		return res, fmt.Errorf("publish: create catalog request for image %s: %w", cr.ImageID, err)
	}
	log := c.logger.With(slog.String("project", cr.ProjectID), slog.String("image", cr.ImageID), slog.String("request", r.ID))
	wait := c.poll
	for {
		cr.RequestID, cr.Status, cr.Message = r.ID, r.Status, r.Message
		log.LogAttrs(ctx, slog.LevelDebug, "publish: catalog request", slog.String("status", r.Status))
		if catalogDone(r.Status) {
			break
		}
		if err := c.sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("publish: wait for catalog request %s: %w", r.ID, err)
		}
		wait = min(wait*2, c.maxPoll)
		if r, err = c.client.GetRequest(ctx, cr.RequestID); err != nil {
			return res, fmt.Errorf("publish: read catalog request %s: %w", cr.RequestID, err)
		}
		if r.ID == "" {
			r.ID = cr.RequestID
		}
	}
	if cr.Status != CatalogCompleted {
		return res, &CatalogError{RequestID: cr.RequestID, Status: cr.Status, Message: cr.Message}
	}
	log.LogAttrs(ctx, slog.LevelInfo, "publish: catalog request completed")
	return res, nil
}
