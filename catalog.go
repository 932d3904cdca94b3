package abs

import (
	"context"
	"fmt"
	"strings"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/rebuild"
)

// CatalogProjects reads certification projects; *partnerapi.Client
// implements it.
type CatalogProjects interface {
	Project(ctx context.Context, id string) (*partnerapi.Project, error)
}

var _ CatalogProjects = (*partnerapi.Client)(nil)

// ProjectFromCatalog reads a certification project's container settings
// from the catalog and returns them as a Project with one managed image:
// its repository, its git source (URL, ref, Dockerfile path, context
// dir) and its auto-rebuild and auto-publish switches. Credentials for
// the source (an SSH key, a token) are not in the catalog; set them on the
// returned Image.Source.
func ProjectFromCatalog(ctx context.Context, c CatalogProjects, id string) (Project, error) {
	p, err := c.Project(ctx, id)
	if err != nil {
		return Project{}, fmt.Errorf("abs: catalog project %s: %w", id, err)
	}
	ct := p.Container
	repo := ct.Repository
	if ct.Registry != "" && !strings.HasPrefix(repo, ct.Registry+"/") {
		repo = ct.Registry + "/" + strings.TrimPrefix(repo, "/")
	}
	img := Image{
		Name:        repo,
		Repository:  repo,
		AutoRebuild: ct.AutoRebuild,
		AutoPublish: ct.AutoPublish,
	}
	if ct.SourceURI != "" {
		src := &rebuild.GitSource{URL: ct.SourceURI, ContextDir: ct.ContextDir}
		if ct.DockerfilePath != "" {
			src.Containerfile = ct.DockerfilePath
		}
		if ref := ct.SourceRef; ref != "" {
			switch {
			case len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "":
				src.Commit = ref
			case strings.HasPrefix(ref, "refs/tags/"):
				src.Tag = strings.TrimPrefix(ref, "refs/tags/")
			default:
				src.Branch = strings.TrimPrefix(ref, "refs/heads/")
			}
		}
		img.Source = src
	}
	name := p.Name
	if name == "" {
		name = id
	}
	return Project{ID: p.ID, Name: name, Images: []Image{img}}, nil
}
