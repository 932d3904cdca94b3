package partnerapi

import (
	"fmt"
	"time"
)

// Link is a hypermedia reference in an object's _links.
type Link struct {
	Href string `json:"href"`
}

// Project is a certification project (the catalog's certProject object):
// one partner image and its build and publishing settings.
type Project struct {
	ID                  string           `json:"_id,omitempty"`
	Name                string           `json:"name,omitempty"`
	Type                string           `json:"type,omitempty"`
	ProjectStatus       string           `json:"project_status,omitempty"`
	CertificationStatus string           `json:"certification_status,omitempty"`
	OrgID               int64            `json:"org_id,omitempty"`
	Container           ProjectContainer `json:"container"`
	CreationDate        Time             `json:"creation_date,omitzero"`
	LastUpdateDate      Time             `json:"last_update_date,omitzero"`
	Links               map[string]Link  `json:"_links,omitempty"`
}

// ProjectContainer holds the container settings of a project: where its
// images are published and how the build service keeps them current.
type ProjectContainer struct {
	Type               string `json:"type,omitempty"`
	Registry           string `json:"registry,omitempty"`
	Repository         string `json:"repository,omitempty"`
	RepositoryName     string `json:"repository_name,omitempty"`
	ISVPID             string `json:"isv_pid,omitempty"`
	OSContentType      string `json:"os_content_type,omitempty"`
	DistributionMethod string `json:"distribution_method,omitempty"`
	Privileged         bool   `json:"privileged,omitempty"`
	HostedRegistry     bool   `json:"hosted_registry,omitempty"`

	// BuildService turns the build service on: images are built from
	// SourceURI at SourceRef, using DockerfilePath inside ContextDir.
	BuildService   bool   `json:"build_service"`
	SourceURI      string `json:"source_uri,omitempty"`
	SourceRef      string `json:"source_ref,omitempty"`
	DockerfilePath string `json:"dockerfile_path,omitempty"`
	ContextDir     string `json:"context_dir,omitempty"`
	// AutoRebuild rebuilds the image when a newer base image or RPM update
	// is released. It requires AutoPublish.
	AutoRebuild bool `json:"auto_rebuild"`
	// AutoPublish publishes a rebuilt image that passes certification.
	AutoPublish bool `json:"auto_publish"`
}

// Validate reports ErrInvalidSettings when the settings contradict each
// other: auto-rebuild requires auto-publish.
func (c ProjectContainer) Validate() error {
	if c.AutoRebuild && !c.AutoPublish {
		return fmt.Errorf("%w: auto_rebuild requires auto_publish", ErrInvalidSettings)
	}
	return nil
}

// ProjectPatch is a partial update of a project: nil fields are left as
// they are on the server.
type ProjectPatch struct {
	Name      *string         `json:"name,omitempty"`
	Container *ContainerPatch `json:"container,omitempty"`
}

// ContainerPatch is a partial update of a project's container settings.
type ContainerPatch struct {
	BuildService   *bool   `json:"build_service,omitempty"`
	SourceURI      *string `json:"source_uri,omitempty"`
	SourceRef      *string `json:"source_ref,omitempty"`
	DockerfilePath *string `json:"dockerfile_path,omitempty"`
	ContextDir     *string `json:"context_dir,omitempty"`
	AutoRebuild    *bool   `json:"auto_rebuild,omitempty"`
	AutoPublish    *bool   `json:"auto_publish,omitempty"`
}

// Apply returns c with the non-nil fields of p set.
func (p ContainerPatch) Apply(c ProjectContainer) ProjectContainer {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setb := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setb(&c.BuildService, p.BuildService)
	set(&c.SourceURI, p.SourceURI)
	set(&c.SourceRef, p.SourceRef)
	set(&c.DockerfilePath, p.DockerfilePath)
	set(&c.ContextDir, p.ContextDir)
	setb(&c.AutoRebuild, p.AutoRebuild)
	setb(&c.AutoPublish, p.AutoPublish)
	return c
}

// Image is a container image as the catalog records it (the containerImage
// object): one architecture of one build, its grades and where it is
// published.
type Image struct {
	ID                string            `json:"_id,omitempty"`
	Architecture      string            `json:"architecture,omitempty"`
	Certified         bool              `json:"certified"`
	Deleted           bool              `json:"deleted,omitempty"`
	CertProject       string            `json:"cert_project,omitempty"`
	ISVPID            string            `json:"isv_pid,omitempty"`
	DockerImageDigest string            `json:"docker_image_digest,omitempty"`
	DockerImageID     string            `json:"docker_image_id,omitempty"`
	ImageID           string            `json:"image_id,omitempty"`
	TopLayerID        string            `json:"top_layer_id,omitempty"`
	SumLayerSizeBytes int64             `json:"sum_layer_size_bytes,omitempty"`
	ContentSets       []string          `json:"content_sets,omitempty"`
	CPEIDs            []string          `json:"cpe_ids,omitempty"`
	FreshnessGrades   []FreshnessGrade  `json:"freshness_grades,omitempty"`
	Repositories      []ImageRepository `json:"repositories,omitempty"`
	Brew              *Brew             `json:"brew,omitempty"`
	ParsedData        *ParsedData       `json:"parsed_data,omitempty"`
	ObjectType        string            `json:"object_type,omitempty"`
	CreationDate      Time              `json:"creation_date,omitzero"`
	LastUpdateDate    Time              `json:"last_update_date,omitzero"`
	Links             map[string]Link   `json:"_links,omitempty"`
}

// GradeAt returns the freshness grade in force at t, or "" when no interval
// covers t. Intervals are [start_date, end_date); the last one is open.
func (img *Image) GradeAt(t time.Time) string {
	for _, g := range img.FreshnessGrades {
		if t.Before(g.StartDate.Time) {
			continue
		}
		if g.EndDate == nil || t.Before(g.EndDate.Time) {
			return g.Grade
		}
	}
	return ""
}

// FreshnessGrade is one interval of an image's health grade (A to F).
// EndDate is nil for the interval that is still open.
type FreshnessGrade struct {
	Grade        string `json:"grade"`
	StartDate    Time   `json:"start_date"`
	EndDate      *Time  `json:"end_date,omitempty"`
	CreationDate Time   `json:"creation_date,omitzero"`
}

// ImageRepository is a repository an image is pushed to, with its tags and
// publish state.
type ImageRepository struct {
	Registry              string          `json:"registry"`
	Repository            string          `json:"repository"`
	Published             bool            `json:"published"`
	PublishedDate         Time            `json:"published_date,omitzero"`
	PushDate              Time            `json:"push_date,omitzero"`
	Tags                  []Tag           `json:"tags,omitempty"`
	ManifestListDigest    string          `json:"manifest_list_digest,omitempty"`
	ManifestSchema2Digest string          `json:"manifest_schema2_digest,omitempty"`
	ImageAdvisoryID       string          `json:"image_advisory_id,omitempty"`
	ContentAdvisoryIDs    []string        `json:"content_advisory_ids,omitempty"`
	Links                 map[string]Link `json:"_links,omitempty"`
}

// Tag is a tag of an image in a repository.
type Tag struct {
	Name                  string          `json:"name"`
	AddedDate             Time            `json:"added_date,omitzero"`
	RemovedDate           *Time           `json:"removed_date,omitempty"`
	ManifestSchema1Digest string          `json:"manifest_schema1_digest,omitempty"`
	Links                 map[string]Link `json:"_links,omitempty"`
}

// Brew is the build system record of a Red Hat image.
type Brew struct {
	Build          string `json:"build,omitempty"`
	Package        string `json:"package,omitempty"`
	NVRA           string `json:"nvra,omitempty"`
	CompletionDate Time   `json:"completion_date,omitzero"`
}

// ParsedData is what the catalog read from the image configuration.
type ParsedData struct {
	Architecture          string   `json:"architecture,omitempty"`
	OS                    string   `json:"os,omitempty"`
	Created               string   `json:"created,omitempty"`
	DockerVersion         string   `json:"docker_version,omitempty"`
	User                  string   `json:"user,omitempty"`
	Command               string   `json:"command,omitempty"`
	EnvVariables          []string `json:"env_variables,omitempty"`
	Labels                []Label  `json:"labels,omitempty"`
	Layers                []string `json:"layers,omitempty"`
	UncompressedSizeBytes int64    `json:"uncompressed_size_bytes,omitempty"`
}

// Label returns the value of the image label name and whether it is set.
func (p *ParsedData) Label(name string) (string, bool) {
	if p == nil {
		return "", false
	}
	for _, l := range p.Labels {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}

// Label is an image configuration label.
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// RPMManifest lists the RPM packages installed in an image.
type RPMManifest struct {
	ID             string          `json:"_id,omitempty"`
	ImageID        string          `json:"image_id,omitempty"`
	RPMs           []RPM           `json:"rpms"`
	ObjectType     string          `json:"object_type,omitempty"`
	CreationDate   Time            `json:"creation_date,omitzero"`
	LastUpdateDate Time            `json:"last_update_date,omitzero"`
	Links          map[string]Link `json:"_links,omitempty"`
}

// RPM is one package of an RPMManifest.
type RPM struct {
	Name         string `json:"name"`
	Version      string `json:"version,omitempty"`
	Release      string `json:"release,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	NVRA         string `json:"nvra,omitempty"`
	SrpmName     string `json:"srpm_name,omitempty"`
	SrpmNEVRA    string `json:"srpm_nevra,omitempty"`
	GPG          string `json:"gpg,omitempty"`
	Summary      string `json:"summary,omitempty"`
}

// Vulnerability is a CVE that affects an image, with the advisory that
// fixes it.
type Vulnerability struct {
	ID           string              `json:"_id,omitempty"`
	CVEID        string              `json:"cve_id"`
	Severity     string              `json:"severity,omitempty"`
	AdvisoryID   string              `json:"advisory_id,omitempty"`
	AdvisoryType string              `json:"advisory_type,omitempty"`
	PublicDate   Time                `json:"public_date,omitzero"`
	Packages     []VulnerablePackage `json:"packages,omitempty"`
	ObjectType   string              `json:"object_type,omitempty"`
}

// VulnerablePackage names the binary RPMs of one source RPM that carry a
// vulnerability.
type VulnerablePackage struct {
	SrpmNEVRA string   `json:"srpm_nevra,omitempty"`
	RPMNEVRA  []string `json:"rpm_nevra,omitempty"`
}

// Repository is a repository in the catalog (the containerRepository
// object), with the grade of each content stream and the tags that are
// rebuilt automatically.
type Repository struct {
	ID                       string               `json:"_id,omitempty"`
	Registry                 string               `json:"registry"`
	Repository               string               `json:"repository"`
	Published                bool                 `json:"published"`
	ISVPID                   string               `json:"isv_pid,omitempty"`
	VendorLabel              string               `json:"vendor_label,omitempty"`
	ReleaseCategories        []string             `json:"release_categories,omitempty"`
	AutoRebuildTags          []string             `json:"auto_rebuild_tags,omitempty"`
	CanAutoReleaseCVERebuild bool                 `json:"can_auto_release_cve_rebuild,omitempty"`
	ContentStreamTags        []string             `json:"content_stream_tags,omitempty"`
	ContentStreamGrades      []ContentStreamGrade `json:"content_stream_grades,omitempty"`
	ObjectType               string               `json:"object_type,omitempty"`
	CreationDate             Time                 `json:"creation_date,omitzero"`
	LastUpdateDate           Time                 `json:"last_update_date,omitzero"`
	Links                    map[string]Link      `json:"_links,omitempty"`
}

// ContentStreamGrade is the current grade of one content stream (a tag such
// as "9.4") of a repository and the images, one per architecture, behind it.
type ContentStreamGrade struct {
	Tag      string        `json:"tag"`
	Grade    string        `json:"grade"`
	ImageIDs []ArchImageID `json:"image_ids,omitempty"`
}

// ArchImageID is the catalog id of a content stream's image for one
// architecture.
type ArchImageID struct {
	Arch string `json:"arch"`
	ID   string `json:"id"`
}

// Operation is what an image request asks for.
type Operation string

// Image request operations.
const (
	OperationPublish   Operation = "publish"
	OperationUnpublish Operation = "unpublish"
	OperationSyncTags  Operation = "sync-tags"
)

// Status is the state of an image, scan or build request.
type Status string

// Request states. A request starts pending, moves to in progress and ends
// completed, failed or aborted.
const (
	StatusPending    Status = "pending"
	StatusInProgress Status = "in progress"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusAborted    Status = "aborted"
)

// Done reports whether s is a final state.
func (s Status) Done() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusAborted
}

// ImageRequest asks the catalog to publish, unpublish or sync the tags of
// one image of a project.
type ImageRequest struct {
	ID             string    `json:"_id,omitempty"`
	CertProject    string    `json:"cert_project,omitempty"`
	ImageID        string    `json:"image_id"`
	Operation      Operation `json:"operation"`
	Status         Status    `json:"status,omitempty"`
	StatusMessage  string    `json:"status_message,omitempty"`
	CreationDate   Time      `json:"creation_date,omitzero"`
	LastUpdateDate Time      `json:"last_update_date,omitzero"`
}

// ScanRequest asks the catalog to scan (certify) an image pushed to the
// project's registry.
type ScanRequest struct {
	ID             string `json:"_id,omitempty"`
	CertProject    string `json:"cert_project,omitempty"`
	PullSpec       string `json:"pull_spec"`
	Tag            string `json:"tag,omitempty"`
	Status         Status `json:"status,omitempty"`
	StatusMessage  string `json:"status_message,omitempty"`
	ImageID        string `json:"image_id,omitempty"`
	CreationDate   Time   `json:"creation_date,omitzero"`
	LastUpdateDate Time   `json:"last_update_date,omitzero"`
}

// BuildRequest asks the build service to build a project's image from its
// source and tag the result.
type BuildRequest struct {
	ID             string `json:"_id,omitempty"`
	CertProject    string `json:"cert_project,omitempty"`
	Tag            string `json:"tag"`
	SourceRef      string `json:"source_ref,omitempty"`
	Status         Status `json:"status,omitempty"`
	StatusMessage  string `json:"status_message,omitempty"`
	CreationDate   Time   `json:"creation_date,omitzero"`
	LastUpdateDate Time   `json:"last_update_date,omitzero"`
}
