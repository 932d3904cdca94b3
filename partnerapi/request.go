package partnerapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// CreateImageRequest asks the catalog to publish, unpublish or sync the
// tags of an image of project projectID. Only ImageID and Operation of req
// are sent. The API answers 409 (ErrConflict) while an identical request
// is still open; after a retried server error, ErrConflict means that the
// first attempt went through.
func (c *Client) CreateImageRequest(ctx context.Context, projectID string, req ImageRequest) (*ImageRequest, error) {
	if err := errors.Join(need("project id", projectID), need("image id", req.ImageID), need("operation", string(req.Operation))); err != nil {
		return nil, err
	}
	body := struct {
		ImageID   string    `json:"image_id"`
		Operation Operation `json:"operation"`
	}{req.ImageID, req.Operation}
	var out ImageRequest
	if err := c.do(ctx, http.MethodPost, c.endpoint("projects", "certification", "id", projectID, "requests", "images"), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImageRequest returns the current state of image request id.
func (c *Client) ImageRequest(ctx context.Context, id string) (*ImageRequest, error) {
	if err := need("request id", id); err != nil {
		return nil, err
	}
	var out ImageRequest
	if err := c.do(ctx, http.MethodGet, c.endpoint("projects", "certification", "requests", "images", "id", id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitImageRequest polls image request id, with growing intervals (see
// WithPollInterval), until it reaches a final state or ctx ends. It
// returns the last state seen; the error wraps ErrRequestFailed when the
// request failed or was aborted, and ctx's error when ctx ended first.
func (c *Client) WaitImageRequest(ctx context.Context, id string) (*ImageRequest, error) {
	var last *ImageRequest
	for n := 0; ; n++ {
		r, err := c.ImageRequest(ctx, id)
		if err != nil {
			return last, err
		}
		last = r
		switch r.Status {
		case StatusCompleted:
			return r, nil
		case StatusFailed, StatusAborted:
			msg := r.StatusMessage
			if msg == "" {
				msg = "no message"
			}
			return r, fmt.Errorf("%w: image request %s %s: %s", ErrRequestFailed, id, r.Status, msg)
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "partnerapi: waiting for image request", slog.String("id", id), slog.String("status", string(r.Status)))
		if err := c.sleep(ctx, c.poll.delay(n)); err != nil {
			return last, fmt.Errorf("partnerapi: waiting for image request %s (last status %q): %w", id, r.Status, err)
		}
	}
}

// CreateScanRequest asks the catalog to scan the image at req.PullSpec for
// project projectID.
func (c *Client) CreateScanRequest(ctx context.Context, projectID string, req ScanRequest) (*ScanRequest, error) {
	if err := errors.Join(need("project id", projectID), need("pull spec", req.PullSpec)); err != nil {
		return nil, err
	}
	body := struct {
		PullSpec string `json:"pull_spec"`
		Tag      string `json:"tag,omitempty"`
	}{req.PullSpec, req.Tag}
	var out ScanRequest
	if err := c.do(ctx, http.MethodPost, c.endpoint("projects", "certification", "id", projectID, "requests", "scans"), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateBuildRequest asks the build service to build project projectID
// from its configured source and tag the image req.Tag.
func (c *Client) CreateBuildRequest(ctx context.Context, projectID string, req BuildRequest) (*BuildRequest, error) {
	if err := errors.Join(need("project id", projectID), need("tag", req.Tag)); err != nil {
		return nil, err
	}
	body := struct {
		Tag       string `json:"tag"`
		SourceRef string `json:"source_ref,omitempty"`
	}{req.Tag, req.SourceRef}
	var out BuildRequest
	if err := c.do(ctx, http.MethodPost, c.endpoint("projects", "certification", "id", projectID, "requests", "builds"), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
