package abs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// Project groups managed images, as a catalog certification project does.
type Project struct {
	// ID is the catalog certification project id, when the project is
	// registered in a catalog.
	ID string `json:"id,omitempty"`
	// Name is a display name.
	Name string `json:"name"`
	// Owners are notified about every image of the project
	// (email addresses, or webhook identities).
	Owners []string `json:"owners,omitempty"`
	// Images are the project's managed images.
	Images []Image `json:"images"`
	// Version counts the project's changes; give it as
	// ProjectUpdate.IfVersion to change only what was read.
	Version int64 `json:"version"`
}

// Image is one managed image: where it is published, where its source
// lives, and what the orchestrator may do with it.
type Image struct {
	// Name identifies the image in state, plans and reports; defaults to
	// Repository. Must be unique across projects.
	Name string `json:"name,omitempty"`
	// Repository is where the image is published, e.g.
	// "registry.example.com/team/app".
	Repository string `json:"repository"`
	// Tag is the tag the orchestrator watches and rebuilds (default
	// "latest").
	Tag string `json:"tag,omitempty"`
	// Source is the image's git source; a rebuild from source needs it,
	// a rebase does not. For images managed at runtime it is made from
	// SourceSpec and the stored credential.
	Source *rebuild.GitSource `json:"-"`
	// SourceSpec is the storable part of Source (no credentials).
	SourceSpec *SourceSpec `json:"source,omitempty"`
	// Credential describes the stored SSH key or token of the source,
	// never the secret itself. Read-only.
	Credential *Credential `json:"credential,omitempty"`
	// BuildService says whether the orchestrator may rebuild the image at
	// all; off, it is scanned and graded only. Auto-rebuild turns it on.
	BuildService bool `json:"build_service"`
	// AutoRebuild lets the orchestrator rebuild the image on its own.
	// Turning it on turns AutoPublish on as well (Normalize says so).
	AutoRebuild bool `json:"auto_rebuild"`
	// AutoPublish lets the orchestrator publish a verified rebuild.
	AutoPublish bool `json:"auto_publish"`
	// Tags are the floating tags moved to each published rebuild (for
	// example "latest", "1", "1.2"); Tag is always among them.
	Tags []string `json:"tags,omitempty"`
	// Owners are notified in addition to the project's owners.
	Owners []string `json:"owners,omitempty"`
	// Base is the base image ("repository:tag") the image is built on,
	// when the image does not record it in its
	// org.opencontainers.image.base.name annotation or label.
	Base string `json:"base,omitempty"`
	// BuildArgs are passed to builds from source.
	BuildArgs map[string]string `json:"build_args,omitempty"`
	// BuildSecrets are passed to builds from source as build secrets, by
	// id (RUN --mount=type=secret,id=ID; rebuild.Request.Secrets). They
	// never reach a layer, a log, a report or the database.
	BuildSecrets map[string]secret.Value `json:"-"`
	// CatalogImageID is the image's id in the catalog, for the catalog
	// publisher.
	CatalogImageID string `json:"catalog_image_id,omitempty"`
	// Version counts the image's changes; give it as
	// ImageUpdate.IfVersion to change only what was read.
	Version int64 `json:"version"`

	project        string
	projectID      string
	catalogProject string // the project's catalog id ("" when the id is a slug)
	credErr        error  // the stored credential could not be decrypted
}

// Ref returns "repository:tag".
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// Project returns the name of the project the image belongs to (set by
// Normalize).
func (i Image) Project() string { return i.project }

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("abs: invalid configuration")

// Normalize validates projects and fills defaults: image names, the
// watched tag, owners inherited from the project. It returns the managed
// images in declaration order and notes for the user, such as
// "auto-rebuild turns on auto-publish".
func Normalize(projects []Project) ([]Image, []string, error) {
	var out []Image
	var notes []string
	seen := map[string]bool{}
	for _, p := range projects {
		for _, img := range p.Images {
			if img.Repository == "" {
				return nil, nil, fmt.Errorf("%w: project %q: image without repository", ErrConfig, p.Name)
			}
			if strings.Contains(img.Repository, "@") {
				return nil, nil, fmt.Errorf("%w: image %q: repository must not carry a digest", ErrConfig, img.Repository)
			}
			if img.Name == "" {
				img.Name = img.Repository
			}
			if img.Tag == "" {
				img.Tag = "latest"
			}
			if seen[img.Name] {
				return nil, nil, fmt.Errorf("%w: image name %q declared twice", ErrConfig, img.Name)
			}
			seen[img.Name] = true
			if img.AutoRebuild && !img.AutoPublish {
				img.AutoPublish = true
				notes = append(notes, fmt.Sprintf("image %s: auto-rebuild turns on auto-publish", img.Name))
			}
			owners := append(slices.Clone(p.Owners), img.Owners...)
			slices.Sort(owners)
			img.Owners = slices.Compact(owners)
			tags := append([]string{img.Tag}, img.Tags...)
			img.Tags = uniq(tags)
			img.project, img.projectID = p.Name, p.ID
			out = append(out, img)
		}
	}
	return out, notes, nil
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}
