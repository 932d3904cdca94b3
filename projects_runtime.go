package abs

import (
	"context"
	"errors"
	"time"

	"github.com/openabs/abs/secret"
)

// Errors of the project and image methods; test with errors.Is. Invalid
// input wraps ErrConfig, and its message names the field and why.
var (
	// ErrNotFound: no project or image has that id or name (any more).
	// ErrUnknownImage matches it too.
	ErrNotFound = errors.New("abs: not found")
	// ErrExists: a project with that id, or an image with that name,
	// exists already.
	ErrExists = errors.New("abs: already exists")
	// ErrConflict: the project or image changed since the version given
	// as IfVersion was read.
	ErrConflict = errors.New("abs: changed since it was read")
	// ErrNoSecretKey: a secret was given but the orchestrator has no
	// key to encrypt it with (WithSecretKey).
	ErrNoSecretKey = errors.New("abs: no secret key configured (WithSecretKey)")
)

// kindError is a sentinel that also matches a broader one.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// SecretKey encrypts the secrets the orchestrator stores (SSH keys,
// tokens): an age X25519 identity, with older identities accepted for
// decryption during a rotation. See secret.Key.
type SecretKey = secret.Key

// WithSecretKey sets the key stored secrets are encrypted with. Without
// it SetSSHKey and SetToken return ErrNoSecretKey.
func WithSecretKey(k SecretKey) Option { return func(o *Orchestrator) { o.secretKey = k } }

// actorKey carries the actor of a change in a context.
type actorKey struct{}

// WithActor returns a context that names who makes the changes done with
// it, for the audit log (for example the API token's name).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// actor returns the actor WithActor set, or "system".
func actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// SourceSpec is the storable part of an image's git source: everything
// but the credentials, which SetSSHKey and SetToken store encrypted.
type SourceSpec struct {
	// URL is the repository (https://, ssh:// or scp-like git@host:path).
	URL string `json:"url"`
	// Branch, Tag and Commit select the revision (see rebuild.GitSource).
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Commit string `json:"commit,omitempty"`
	// ContextDir is the build context relative to the repository root.
	ContextDir string `json:"context_dir,omitempty"`
	// Containerfile is the build file relative to ContextDir.
	Containerfile string `json:"containerfile,omitempty"`
	// Username is the SSH user, or the HTTPS user sent with a token.
	Username string `json:"username,omitempty"`
	// KnownHosts holds known_hosts lines for this source's SSH host.
	KnownHosts string `json:"known_hosts,omitempty"`
	// TrustOnFirstUse records the SSH host key seen first (into
	// KnownHosts) and enforces it afterwards. Only when asked for: a
	// source without known hosts and without it is verified against the
	// system's known_hosts files.
	TrustOnFirstUse bool `json:"trust_on_first_use,omitempty"`
}

// Credential describes a stored secret without revealing it.
type Credential struct {
	// Kind is CredentialSSHKey or CredentialToken.
	Kind string `json:"kind"`
	// Fingerprint identifies the secret: for an SSH key the OpenSSH
	// SHA256 fingerprint of its public key, for a token a short hash.
	Fingerprint string `json:"fingerprint"`
	// Updated is when it was set.
	Updated time.Time `json:"updated"`
}

// Credential kinds.
const (
	CredentialSSHKey = "ssh-key"
	CredentialToken  = "token"
)

// Change says what a change did beyond what was asked, and the version
// it produced.
type Change struct {
	// Notes are consequences, such as "auto-rebuild turns on
	// auto-publish".
	Notes []string `json:"notes,omitempty"`
	// Version is the changed project's or image's new version.
	Version int64 `json:"version"`
}

// ProjectUpdate changes a project; nil fields are kept.
type ProjectUpdate struct {
	Name   *string
	Owners *[]string
	// IfVersion, when not 0, must equal the stored version, or the
	// update fails with ErrConflict.
	IfVersion int64
}

// ImageUpdate changes an image; nil fields are kept.
type ImageUpdate struct {
	BuildService, AutoRebuild, AutoPublish *bool
	// Source replaces the git source; a pointer to the zero SourceSpec
	// removes it.
	Source    *SourceSpec
	Tags      *[]string
	Owners    *[]string
	Base      *string
	BuildArgs *map[string]string
	// IfVersion, when not 0, must equal the stored version, or the
	// update fails with ErrConflict.
	IfVersion int64
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	// Detail says what changed; it never holds a secret.
	Detail string `json:"detail,omitempty"`
}

var errNotImplemented = errors.New("abs: not implemented yet")

// Projects returns the projects with their images, ordered by id.
func (o *Orchestrator) Projects(ctx context.Context) ([]Project, error) {
	return nil, errNotImplemented
}

// Project returns one project with its images.
func (o *Orchestrator) Project(ctx context.Context, id string) (Project, error) {
	return Project{}, errNotImplemented
}

// CreateProject stores a new project (p.ID required: a catalog id or a
// slug) with its images.
func (o *Orchestrator) CreateProject(ctx context.Context, p Project) (Project, Change, error) {
	return Project{}, Change{}, errNotImplemented
}

// UpdateProject changes a project's name or owners.
func (o *Orchestrator) UpdateProject(ctx context.Context, id string, u ProjectUpdate) (Project, Change, error) {
	return Project{}, Change{}, errNotImplemented
}

// DeleteProject removes a project and its images.
func (o *Orchestrator) DeleteProject(ctx context.Context, id string) (Change, error) {
	return Change{}, errNotImplemented
}

// CreateImage adds an image to a project.
func (o *Orchestrator) CreateImage(ctx context.Context, projectID string, img Image) (Image, Change, error) {
	return Image{}, Change{}, errNotImplemented
}

// GetImage returns one image.
func (o *Orchestrator) GetImage(ctx context.Context, name string) (Image, error) {
	return Image{}, errNotImplemented
}

// UpdateImage changes an image's switches and settings.
func (o *Orchestrator) UpdateImage(ctx context.Context, name string, u ImageUpdate) (Image, Change, error) {
	return Image{}, Change{}, errNotImplemented
}

// DeleteImage removes an image.
func (o *Orchestrator) DeleteImage(ctx context.Context, name string) (Change, error) {
	return Change{}, errNotImplemented
}

// SetSSHKey stores an image source's SSH private key, encrypted.
func (o *Orchestrator) SetSSHKey(ctx context.Context, image string, key, passphrase secret.Value) (Credential, error) {
	return Credential{}, errNotImplemented
}

// SetToken stores an image source's HTTPS token, encrypted.
func (o *Orchestrator) SetToken(ctx context.Context, image string, token secret.Value) (Credential, error) {
	return Credential{}, errNotImplemented
}

// TestAccess lists the remote references of an image's source with the
// stored credentials and host keys.
func (o *Orchestrator) TestAccess(ctx context.Context, image string) error {
	return errNotImplemented
}

// Audit returns a page (from 1) of the audit log, newest first, and the
// number of entries.
func (o *Orchestrator) Audit(ctx context.Context, page, pageSize int) ([]AuditEntry, int, error) {
	return nil, 0, errNotImplemented
}
