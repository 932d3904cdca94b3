package partnerapi

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

func need(what, v string) error {
	if v == "" {
		return fmt.Errorf("partnerapi: %s is empty", what)
	}
	return nil
}

// Project returns the certification project id.
func (c *Client) Project(ctx context.Context, id string) (*Project, error) {
	if err := need("project id", id); err != nil {
		return nil, err
	}
	var p Project
	if err := c.do(ctx, http.MethodGet, c.endpoint("projects", "certification", "id", id), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// UpdateProject changes the fields of project id that patch sets and
// returns the project as the API stored it. Before sending anything it
// checks that the resulting container settings are consistent (see
// ProjectContainer.Validate); when the patch changes auto_rebuild or
// auto_publish but not both, it reads the project first to know the other.
func (c *Client) UpdateProject(ctx context.Context, id string, patch ProjectPatch) (*Project, error) {
	if err := need("project id", id); err != nil {
		return nil, err
	}
	if cp := patch.Container; cp != nil && (cp.AutoRebuild != nil || cp.AutoPublish != nil) {
		var current ProjectContainer
		if cp.AutoRebuild == nil || cp.AutoPublish == nil {
			p, err := c.Project(ctx, id)
			if err != nil {
				return nil, err
			}
			current = p.Container
		}
		if err := cp.Apply(current).Validate(); err != nil {
			return nil, err
		}
	}
	var p Project
	if err := c.do(ctx, http.MethodPatch, c.endpoint("projects", "certification", "id", id), patch, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ProjectImages iterates over the images of project id, fetching pages as
// needed. opts may be nil.
func (c *Client) ProjectImages(ctx context.Context, id string, opts *ListOptions) iter.Seq2[Image, error] {
	if err := need("project id", id); err != nil {
		return failed[Image](err)
	}
	return list[Image](ctx, c, c.endpoint("projects", "certification", "id", id, "images"), opts)
}

// Image returns the image with catalog id id (the _id field, not the
// digest).
func (c *Client) Image(ctx context.Context, id string) (*Image, error) {
	if err := need("image id", id); err != nil {
		return nil, err
	}
	var img Image
	if err := c.do(ctx, http.MethodGet, c.endpoint("images", "id", id), nil, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// ImagesByDigest returns every image whose manifest digest
// (docker_image_digest) is digest; an image pushed for several
// architectures or to several projects has several entries. No match is an
// empty list, not an error.
func (c *Client) ImagesByDigest(ctx context.Context, digest string) ([]Image, error) {
	if err := need("digest", digest); err != nil {
		return nil, err
	}
	return Collect(list[Image](ctx, c, c.endpoint("images"), &ListOptions{Filter: Eq("docker_image_digest", digest)}))
}

// RPMManifest returns the RPM packages of image id.
func (c *Client) RPMManifest(ctx context.Context, imageID string) (*RPMManifest, error) {
	if err := need("image id", imageID); err != nil {
		return nil, err
	}
	var m RPMManifest
	if err := c.do(ctx, http.MethodGet, c.endpoint("images", "id", imageID, "rpm-manifest"), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Vulnerabilities iterates over the vulnerabilities of image id. opts may
// be nil.
func (c *Client) Vulnerabilities(ctx context.Context, imageID string, opts *ListOptions) iter.Seq2[Vulnerability, error] {
	if err := need("image id", imageID); err != nil {
		return failed[Vulnerability](err)
	}
	return list[Vulnerability](ctx, c, c.endpoint("images", "id", imageID, "vulnerabilities"), opts)
}

// Repository returns a repository by registry host and repository path,
// such as ("registry.connect.redhat.com", "acme/widget").
func (c *Client) Repository(ctx context.Context, registry, repository string) (*Repository, error) {
	if err := errors.Join(need("registry", registry), need("repository", repository)); err != nil {
		return nil, err
	}
	var r Repository
	if err := c.do(ctx, http.MethodGet, c.repoEndpoint(registry, repository), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RepositoryImages iterates over the images of a repository. opts may be
// nil.
func (c *Client) RepositoryImages(ctx context.Context, registry, repository string, opts *ListOptions) iter.Seq2[Image, error] {
	if err := errors.Join(need("registry", registry), need("repository", repository)); err != nil {
		return failed[Image](err)
	}
	return list[Image](ctx, c, c.endpoint(append(repoSegments(registry, repository), "images")...), opts)
}

// repoSegments keeps the slashes of a repository path such as
// "ubi9/ubi": each of its parts is a path segment of its own.
func repoSegments(registry, repository string) []string {
	return append([]string{"repositories", "registry", registry, "repository"}, strings.Split(repository, "/")...)
}

func (c *Client) repoEndpoint(registry, repository string) *url.URL {
	return c.endpoint(repoSegments(registry, repository)...)
}

func failed[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}
