package abs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
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
	// TrustOnFirstUse records the SSH host key seen first for a host
	// KnownHosts has no line for (in the database, for every replica) and
	// enforces it afterwards. Only when asked for: a source without it is
	// verified against KnownHosts alone or, when that is empty too, the
	// system's known_hosts files. Turned off, the recorded keys are no
	// longer used (they stay recorded, and count again when it is turned
	// back on); a host whose key legitimately changed is given a
	// KnownHosts line.
	TrustOnFirstUse bool `json:"trust_on_first_use,omitempty"`
	// CABundle holds extra PEM certificates trusted for an https source.
	CABundle string `json:"ca_bundle,omitempty"`
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

// maxCASRetries bounds how often an update without IfVersion re-reads
// and re-applies itself after losing a race to another writer.
const maxCASRetries = 50

// storeErr maps the store's sentinels to the package's.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %s", ErrExists, what)
	}
	return err
}

// Projects returns the stored projects with their images, in creation
// order. Images carry their own owners (not the project's), their
// SourceSpec and a Credential description, never a secret.
func (o *Orchestrator) Projects(ctx context.Context) ([]Project, error) {
	ps, err := o.loadProjects(ctx, o.db)
	if err != nil {
		return nil, fmt.Errorf("abs: projects: %w", err)
	}
	return ps, nil
}

// Project returns one project with its images, or ErrNotFound.
func (o *Orchestrator) Project(ctx context.Context, id string) (Project, error) {
	return o.project(ctx, o.db, id)
}

func (o *Orchestrator) project(ctx context.Context, q store.Querier, id string) (Project, error) {
	row, err := store.GetProject(ctx, q, id)
	if err != nil {
		return Project{}, storeErr(err, "project "+strconv.Quote(id))
	}
	imgs, err := store.ProjectImages(ctx, q, id)
	if err != nil {
		return Project{}, err
	}
	secrets, err := store.Secrets(ctx, q)
	if err != nil {
		return Project{}, err
	}
	return projectFromRow(row, imgs, secrets)
}

// CreateProject stores a new project with its images and starts managing
// them; every replica plans them from its next cycle. p.ID is required
// (a catalog certification project id, or a slug); Name defaults to it.
// An existing id is ErrExists, as is an image name used by any project.
func (o *Orchestrator) CreateProject(ctx context.Context, p Project) (Project, Change, error) {
	if err := validID("id", p.ID); err != nil {
		return Project{}, Change{}, err
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if err := validText("name", p.Name, 255); err != nil {
		return Project{}, Change{}, err
	}
	if err := validOwners("owners", p.Owners); err != nil {
		return Project{}, Change{}, err
	}
	var notes []string
	var imgs []Image
	seen := map[string]bool{}
	for i, img := range p.Images {
		img, n, err := o.prepareRuntimeImage(img)
		if err != nil {
			return Project{}, Change{}, fmt.Errorf("images[%d]: %w", i, err)
		}
		if seen[img.Name] {
			return Project{}, Change{}, invalid(fmt.Sprintf("images[%d].name", i), "%q given twice", img.Name)
		}
		seen[img.Name] = true
		notes = append(notes, n...)
		imgs = append(imgs, img)
	}
	var out Project
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		now := o.wall()
		spec := mustJSON(storedProjectSpec{Owners: p.Owners})
		if _, err := store.InsertProject(ctx, tx, store.ProjectRow{ID: p.ID, Name: p.Name, Spec: spec}, now); err != nil {
			return storeErr(err, "project "+strconv.Quote(p.ID))
		}
		if err := o.audit(ctx, tx, "create-project", p.ID, fmt.Sprintf("name %q, owners %v", p.Name, p.Owners)); err != nil {
			return err
		}
		for _, img := range imgs {
			if err := o.insertImage(ctx, tx, p.ID, img, now); err != nil {
				return err
			}
		}
		var err error
		out, err = o.project(ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return Project{}, Change{}, fmt.Errorf("abs: create project %s: %w", p.ID, err)
	}
	o.changed(ctx, "project created", "project", p.ID)
	return out, Change{Notes: notes, Version: out.Version}, nil
}

// prepareRuntimeImage is prepareImage for an image given at runtime: its
// credentials go through SetSSHKey and SetToken, never with the image.
func (o *Orchestrator) prepareRuntimeImage(img Image) (Image, []string, error) {
	if s := img.Source; s != nil && (!s.Auth.Token.IsZero() || !s.Auth.SSHKey.IsZero() || !s.Auth.SSHKeyPassphrase.IsZero()) {
		return img, nil, invalid("source", "credentials are set with SetSSHKey or SetToken, not with the image")
	}
	img.Source, img.Credential, img.Version = nil, nil, 0
	img, notes, err := o.prepareImage(img)
	if err == nil {
		err = o.runtimeSource(img.SourceSpec)
	}
	return img, notes, err
}

func (o *Orchestrator) insertImage(ctx context.Context, tx store.Tx, projectID string, img Image, now time.Time) error {
	row := store.ImageRow{Name: img.Name, Project: projectID, Spec: mustJSON(toStoredImage(&img))}
	if _, err := store.InsertImage(ctx, tx, row, now); err != nil {
		return storeErr(err, "image "+strconv.Quote(img.Name))
	}
	return o.audit(ctx, tx, "create-image", img.Name, "project "+projectID+"; "+describeImage(&img))
}

// changed reloads this process's image snapshot after a change it made
// (other processes reload at the start of their next cycle or job). The
// change is committed: a failed reload is logged, and retried by the
// next refresh.
func (o *Orchestrator) changed(ctx context.Context, msg string, attrs ...any) {
	o.log.Info(msg, append(attrs, "actor", actor(ctx))...)
	if err := o.reloadImages(context.WithoutCancel(ctx)); err != nil {
		o.imgLoaded.Store(false)
		o.log.Warn("reload images", "error", o.scrubErr(err).Error())
	}
}

// UpdateProject changes a project's name or owners. With u.IfVersion set,
// a project changed since that version is ErrConflict.
func (o *Orchestrator) UpdateProject(ctx context.Context, id string, u ProjectUpdate) (Project, Change, error) {
	if u.Name != nil {
		if *u.Name == "" {
			return Project{}, Change{}, invalid("name", "must not be empty")
		}
		if err := validText("name", *u.Name, 255); err != nil {
			return Project{}, Change{}, err
		}
	}
	if u.Owners != nil {
		if err := validOwners("owners", *u.Owners); err != nil {
			return Project{}, Change{}, err
		}
	}
	var out Project
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		for range maxCASRetries {
			row, err := store.GetProject(ctx, tx, id)
			if err != nil {
				return storeErr(err, "project "+strconv.Quote(id))
			}
			if u.IfVersion != 0 && row.Version != u.IfVersion {
				return fmt.Errorf("%w: project %s is at version %d, not %d", ErrConflict, id, row.Version, u.IfVersion)
			}
			var sp storedProjectSpec
			if err := json.Unmarshal([]byte(row.Spec), &sp); err != nil {
				return err
			}
			var diff []string
			if u.Name != nil && *u.Name != row.Name {
				diff = append(diff, fmt.Sprintf("name: %q → %q", row.Name, *u.Name))
				row.Name = *u.Name
			}
			if u.Owners != nil && !slices.Equal(*u.Owners, sp.Owners) {
				diff = append(diff, fmt.Sprintf("owners: %v → %v", sp.Owners, *u.Owners))
				sp.Owners = *u.Owners
			}
			row.Spec = mustJSON(sp)
			ok, err := store.UpdateProject(ctx, tx, row, o.wall())
			if err != nil {
				return err
			}
			if !ok {
				if u.IfVersion != 0 {
					return fmt.Errorf("%w: project %s", ErrConflict, id)
				}
				continue
			}
			if err := o.audit(ctx, tx, "update-project", id, strings.Join(diff, "; ")); err != nil {
				return err
			}
			out, err = o.project(ctx, tx, id)
			return err
		}
		return fmt.Errorf("%w: project %s keeps changing", ErrConflict, id)
	})
	if err != nil {
		return Project{}, Change{}, fmt.Errorf("abs: update project %s: %w", id, err)
	}
	o.changed(ctx, "project updated", "project", id)
	return out, Change{Version: out.Version}, nil
}

// DeleteProject removes a project and its images (with their stored
// credentials and host keys). Their state (grades, rebuild history)
// stays; a rebuild of a removed image that is still queued ends as
// skipped ("image is no longer managed").
func (o *Orchestrator) DeleteProject(ctx context.Context, id string) (Change, error) {
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		names, err := store.DeleteProject(ctx, tx, id)
		if err != nil {
			return storeErr(err, "project "+strconv.Quote(id))
		}
		return o.audit(ctx, tx, "delete-project", id, "images: "+strings.Join(names, ", "))
	})
	if err != nil {
		return Change{}, fmt.Errorf("abs: delete project %s: %w", id, err)
	}
	o.changed(ctx, "project deleted", "project", id)
	return Change{}, nil
}

// CreateImage adds an image to a project. Its name (default: its
// repository) must be unused in every project (ErrExists). Credentials
// are set afterwards with SetSSHKey or SetToken.
func (o *Orchestrator) CreateImage(ctx context.Context, projectID string, img Image) (Image, Change, error) {
	img, notes, err := o.prepareRuntimeImage(img)
	if err != nil {
		return Image{}, Change{}, err
	}
	var out Image
	err = o.db.InTx(ctx, func(tx store.Tx) error {
		if _, err := store.GetProject(ctx, tx, projectID); err != nil {
			return storeErr(err, "project "+strconv.Quote(projectID))
		}
		if err := o.insertImage(ctx, tx, projectID, img, o.wall()); err != nil {
			return err
		}
		var err error
		out, err = o.getImage(ctx, tx, img.Name)
		return err
	})
	if err != nil {
		return Image{}, Change{}, fmt.Errorf("abs: create image %s: %w", img.Name, err)
	}
	o.changed(ctx, "image created", "image", img.Name, "project", projectID)
	return out, Change{Notes: notes, Version: out.Version}, nil
}

// GetImage returns one stored image (its own owners, its SourceSpec, a
// Credential description), or ErrNotFound.
func (o *Orchestrator) GetImage(ctx context.Context, name string) (Image, error) {
	return o.getImage(ctx, o.db, name)
}

func (o *Orchestrator) getImage(ctx context.Context, q store.Querier, name string) (Image, error) {
	row, err := store.GetProjectImage(ctx, q, name)
	if err != nil {
		return Image{}, storeErr(err, "image "+strconv.Quote(name))
	}
	p, err := o.project(ctx, q, row.Project)
	if err != nil {
		return Image{}, err
	}
	for _, img := range p.Images {
		if img.Name == name {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("%w: image %q", ErrNotFound, name)
}

// UpdateImage changes an image's switches and settings; nil fields are
// kept. The switches stay consistent, and Change.Notes says what followed
// from the change: auto-rebuild turns on the build service and
// auto-publish; turning the build service or auto-publish off turns
// auto-rebuild off. Concurrent updates of one image never lose a field:
// each applies to the latest stored version (with u.IfVersion set, a
// version other than it is ErrConflict instead).
func (o *Orchestrator) UpdateImage(ctx context.Context, name string, u ImageUpdate) (Image, Change, error) {
	var out Image
	var notes []string
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		for range maxCASRetries {
			row, err := store.GetProjectImage(ctx, tx, name)
			if err != nil {
				return storeErr(err, "image "+strconv.Quote(name))
			}
			if u.IfVersion != 0 && row.Version != u.IfVersion {
				return fmt.Errorf("%w: image %s is at version %d, not %d", ErrConflict, name, row.Version, u.IfVersion)
			}
			cur, err := imageFromRow(row, nil)
			if err != nil {
				return err
			}
			next, n, err := o.applyImageUpdate(cur, u)
			if err != nil {
				return err
			}
			row.Spec = mustJSON(toStoredImage(&next))
			ok, err := store.UpdateImage(ctx, tx, row, o.wall())
			if err != nil {
				return err
			}
			if !ok {
				if u.IfVersion != 0 {
					return fmt.Errorf("%w: image %s", ErrConflict, name)
				}
				continue
			}
			if note, moved := movedHost(name, cur.SourceSpec, next.SourceSpec); moved {
				dropped, err := store.DeleteSecret(ctx, tx, name)
				if err != nil {
					return err
				}
				if dropped {
					n = append(n, note)
				}
			}
			detail := diffImages(&cur, &next)
			if len(n) > 0 {
				detail += " (" + strings.Join(n, "; ") + ")"
			}
			if err := o.audit(ctx, tx, "update-image", name, detail); err != nil {
				return err
			}
			notes = n
			out, err = o.getImage(ctx, tx, name)
			return err
		}
		return fmt.Errorf("%w: image %s keeps changing", ErrConflict, name)
	})
	if err != nil {
		return Image{}, Change{}, fmt.Errorf("abs: update image %s: %w", name, err)
	}
	o.changed(ctx, "image updated", "image", name)
	return out, Change{Notes: notes, Version: out.Version}, nil
}

func (o *Orchestrator) applyImageUpdate(img Image, u ImageUpdate) (Image, []string, error) {
	explicit := map[string]bool{}
	set := func(k string, dst *bool, v *bool) {
		if v != nil {
			*dst, explicit[k] = *v, true
		}
	}
	set("build_service", &img.BuildService, u.BuildService)
	set("auto_rebuild", &img.AutoRebuild, u.AutoRebuild)
	set("auto_publish", &img.AutoPublish, u.AutoPublish)
	if u.Source != nil {
		if *u.Source == (SourceSpec{}) {
			img.SourceSpec = nil
		} else {
			s := *u.Source
			if img.SourceSpec == nil || img.SourceSpec.URL != s.URL {
				if err := o.runtimeSource(&s); err != nil {
					return img, nil, err
				}
			}
			img.SourceSpec = &s
		}
	}
	if u.Tags != nil {
		img.Tags = slices.Clone(*u.Tags)
	}
	if u.Owners != nil {
		img.Owners = slices.Clone(*u.Owners)
	}
	if u.Base != nil {
		img.Base = *u.Base
	}
	if u.BuildArgs != nil {
		img.BuildArgs = maps.Clone(*u.BuildArgs)
	}
	notes := switchRules(&img, explicit)
	if err := o.validateImage(&img); err != nil {
		return img, nil, err
	}
	return img, notes, nil
}

// describeImage and diffImages say what an image is and what changed,
// for the audit log; neither holds a secret (the image holds none).
func describeImage(img *Image) string {
	s := fmt.Sprintf("repository %s, tag %s, build_service %t, auto_rebuild %t, auto_publish %t",
		img.Repository, img.Tag, img.BuildService, img.AutoRebuild, img.AutoPublish)
	if img.SourceSpec != nil {
		s += ", source " + rebuild.RedactURL(img.SourceSpec.URL)
	}
	return s
}

func diffImages(a, b *Image) string {
	var d []string
	add := func(field string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			d = append(d, fmt.Sprintf("%s: %v → %v", field, x, y))
		}
	}
	add("build_service", a.BuildService, b.BuildService)
	add("auto_rebuild", a.AutoRebuild, b.AutoRebuild)
	add("auto_publish", a.AutoPublish, b.AutoPublish)
	add("tags", a.Tags, b.Tags)
	add("owners", a.Owners, b.Owners)
	add("base", a.Base, b.Base)
	if !maps.Equal(a.BuildArgs, b.BuildArgs) {
		d = append(d, "build_args changed")
	}
	var sa, sb SourceSpec
	if a.SourceSpec != nil {
		sa = *a.SourceSpec
	}
	if b.SourceSpec != nil {
		sb = *b.SourceSpec
	}
	add("source.url", rebuild.RedactURL(sa.URL), rebuild.RedactURL(sb.URL))
	add("source.branch", sa.Branch, sb.Branch)
	add("source.tag", sa.Tag, sb.Tag)
	add("source.commit", sa.Commit, sb.Commit)
	add("source.context_dir", sa.ContextDir, sb.ContextDir)
	add("source.containerfile", sa.Containerfile, sb.Containerfile)
	add("source.username", sa.Username, sb.Username)
	add("source.trust_on_first_use", sa.TrustOnFirstUse, sb.TrustOnFirstUse)
	if sa.KnownHosts != sb.KnownHosts {
		d = append(d, "source.known_hosts changed")
	}
	if sa.CABundle != sb.CABundle {
		d = append(d, "source.ca_bundle changed")
	}
	if len(d) == 0 {
		return "no change"
	}
	return strings.Join(d, "; ")
}

// DeleteImage removes an image with its stored credential and host keys.
// Its state stays; a queued rebuild of it ends as skipped.
func (o *Orchestrator) DeleteImage(ctx context.Context, name string) (Change, error) {
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		if err := store.DeleteImage(ctx, tx, name); err != nil {
			return storeErr(err, "image "+strconv.Quote(name))
		}
		return o.audit(ctx, tx, "delete-image", name, "")
	})
	if err != nil {
		return Change{}, fmt.Errorf("abs: delete image %s: %w", name, err)
	}
	o.changed(ctx, "image deleted", "image", name)
	return Change{}, nil
}

// SetSSHKey stores the SSH private key (PEM or OpenSSH) of an image's
// source, encrypted with the secret key (WithSecretKey; without one,
// ErrNoSecretKey), replacing any stored key or token. The key must parse,
// and an encrypted key must open with passphrase (stored encrypted too):
// errors wrap ErrConfig and secret.ErrSSHKeyInvalid or
// secret.ErrSSHKeyPassphrase, and never quote the key. The returned
// Credential holds the OpenSSH SHA256 fingerprint of the public key. The
// next rebuild uses the key, in every process, without a restart.
func (o *Orchestrator) SetSSHKey(ctx context.Context, image string, key, passphrase secret.Value) (Credential, error) {
	if len(key.Reveal()) > maxSecret || len(passphrase.Reveal()) > maxText {
		return Credential{}, invalid("ssh_key", "too large")
	}
	fp, err := secret.SSHKeyFingerprint(key, passphrase)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: ssh_key: %w", ErrConfig, err)
	}
	pass := passphrase
	if _, err := secret.SSHKeyFingerprint(key, secret.Value{}); err == nil {
		pass = secret.Value{} // not encrypted: nothing to keep
	}
	return o.putSecret(ctx, image, CredentialSSHKey, fp, key, pass)
}

// SetToken stores the HTTPS access token of an image's source, encrypted
// as SetSSHKey does, replacing any stored key or token. The Credential's
// fingerprint is a short hash of the token.
func (o *Orchestrator) SetToken(ctx context.Context, image string, token secret.Value) (Credential, error) {
	t := token.Reveal()
	if t == "" {
		return Credential{}, invalid("token", "required")
	}
	if len(t) > 4096 {
		return Credential{}, invalid("token", "longer than 4096 bytes")
	}
	for _, r := range t {
		if r <= ' ' || r == 0x7f {
			return Credential{}, invalid("token", "contains white space or a control character")
		}
	}
	return o.putSecret(ctx, image, CredentialToken, secret.TokenFingerprint(token), token, secret.Value{})
}

func (o *Orchestrator) putSecret(ctx context.Context, image, kind, fp string, v, pass secret.Value) (Credential, error) {
	if o.secretKey.IsZero() {
		return Credential{}, ErrNoSecretKey
	}
	o.scrub.AddValue(v)
	o.scrub.AddValue(pass)
	c, err := o.secretKey.Encrypt(v)
	if err != nil {
		return Credential{}, fmt.Errorf("abs: %s for %s: %w", kind, image, err)
	}
	var pc string
	if !pass.IsZero() {
		if pc, err = o.secretKey.Encrypt(pass); err != nil {
			return Credential{}, fmt.Errorf("abs: %s for %s: %w", kind, image, err)
		}
	}
	now := o.wall().UTC()
	err = o.db.InTx(ctx, func(tx store.Tx) error {
		if _, err := store.TouchImage(ctx, tx, image, now); err != nil {
			return storeErr(err, "image "+strconv.Quote(image))
		}
		if err := store.PutSecret(ctx, tx, store.SecretRow{Image: image, Kind: kind, Fingerprint: fp, Cipher: c, PassCipher: pc, Updated: now}); err != nil {
			return err
		}
		return o.audit(ctx, tx, "set-"+kind, image, "fingerprint "+fp)
	})
	if err != nil {
		return Credential{}, fmt.Errorf("abs: set %s for %s: %w", kind, image, err)
	}
	o.changed(ctx, "credential set", "image", image, "kind", kind, "fingerprint", fp)
	return Credential{Kind: kind, Fingerprint: fp, Updated: time.Unix(0, now.UnixNano()).UTC()}, nil
}

// RotateSecrets re-encrypts every stored credential that the secret
// key's first identity did not encrypt, and returns how many it
// re-encrypted. Run it after putting a new identity first in the key
// (the old one after it, still accepted for decryption); once it returns,
// the old identity can be dropped. It is safe to run in several processes
// at once.
func (o *Orchestrator) RotateSecrets(ctx context.Context) (int, error) {
	if o.secretKey.IsZero() {
		return 0, ErrNoSecretKey
	}
	secrets, err := store.Secrets(ctx, o.db)
	if err != nil {
		return 0, fmt.Errorf("abs: rotate secrets: %w", err)
	}
	n := 0
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		s := secrets[name]
		c, pc, changed, err := o.reencrypt(s)
		if err != nil {
			return n, fmt.Errorf("abs: rotate secrets: image %s: %w", name, err)
		}
		if !changed {
			continue
		}
		err = o.db.InTx(ctx, func(tx store.Tx) error {
			ok, err := store.ReplaceCiphers(ctx, tx, name, s.Cipher, s.PassCipher, c, pc)
			if err != nil || !ok {
				return err // !ok: replaced meanwhile, by a rotation or a new key
			}
			n++
			return o.audit(ctx, tx, "rotate-secret", name, "re-encrypted for "+o.secretKey.Recipient())
		})
		if err != nil {
			return n, fmt.Errorf("abs: rotate secrets: image %s: %w", name, err)
		}
	}
	return n, nil
}

func (o *Orchestrator) reencrypt(s store.SecretRow) (c, pc string, changed bool, err error) {
	v, cur, err := o.secretKey.Decrypt(s.Cipher)
	if err != nil {
		return "", "", false, err
	}
	c, pc = s.Cipher, s.PassCipher
	if !cur {
		if c, err = o.secretKey.Encrypt(v); err != nil {
			return "", "", false, err
		}
		changed = true
	}
	if s.PassCipher != "" {
		p, cur, err := o.secretKey.Decrypt(s.PassCipher)
		if err != nil {
			return "", "", false, err
		}
		if !cur {
			if pc, err = o.secretKey.Encrypt(p); err != nil {
				return "", "", false, err
			}
			changed = true
		}
	}
	return c, pc, changed, nil
}

// TestAccess lists the remote references of an image's source (git
// ls-remote) with the stored credential and host keys, trusting the host
// key on first use when the source asks for it. Its errors are
// *rebuild.FetchError values wrapping rebuild.ErrAuth,
// rebuild.ErrHostKeyUnknown, rebuild.ErrHostKeyMismatch,
// rebuild.ErrInvalidSource and the like.
func (o *Orchestrator) TestAccess(ctx context.Context, image string) error {
	if err := o.refreshImages(ctx); err != nil {
		return err
	}
	img := o.image(image)
	if img == nil {
		return fmt.Errorf("%w: %q", ErrUnknownImage, image)
	}
	if img.credErr != nil {
		return img.credErr
	}
	if img.Source == nil {
		return invalid("source", "image %s has no git source", image)
	}
	if _, err := img.Source.LsRemote(ctx, rebuild.WithLogger(o.log)); err != nil {
		return o.scrubErr(err)
	}
	return nil
}

// Audit returns one page (from 1; pageSize default 50, at most 500) of
// the audit log, newest first, and the number of entries.
func (o *Orchestrator) Audit(ctx context.Context, page, pageSize int) ([]AuditEntry, int, error) {
	page = max(page, 1)
	if pageSize <= 0 {
		pageSize = 50
	}
	pageSize = min(pageSize, 500)
	rows, total, err := store.Audit(ctx, o.db, (page-1)*pageSize, pageSize)
	if err != nil {
		return nil, 0, fmt.Errorf("abs: audit: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{Time: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail}
	}
	return out, total, nil
}
