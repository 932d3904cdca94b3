package abs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	gossh "golang.org/x/crypto/ssh"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// The stored forms are private: renaming a public JSON field needs no
// data migration.

type storedProjectSpec struct {
	Owners []string `json:"owners,omitempty"`
	// DerivedID: seeded from a configuration without an id, so the id is
	// a slug of the name, not a catalog project id.
	DerivedID bool `json:"derived_id,omitempty"`
}

type storedSourceSpec struct {
	URL           string `json:"url"`
	Branch        string `json:"branch,omitempty"`
	Tag           string `json:"tag,omitempty"`
	Commit        string `json:"commit,omitempty"`
	ContextDir    string `json:"context_dir,omitempty"`
	Containerfile string `json:"containerfile,omitempty"`
	Username      string `json:"username,omitempty"`
	KnownHosts    string `json:"known_hosts,omitempty"`
	TOFU          bool   `json:"tofu,omitempty"`
	CA            string `json:"ca,omitempty"`
}

type storedImageSpec struct {
	Repository     string            `json:"repository"`
	Tag            string            `json:"tag"`
	BuildService   bool              `json:"build_service,omitempty"`
	AutoRebuild    bool              `json:"auto_rebuild,omitempty"`
	AutoPublish    bool              `json:"auto_publish,omitempty"`
	Tags           []string          `json:"tags,omitempty"`
	Owners         []string          `json:"owners,omitempty"`
	Base           string            `json:"base,omitempty"`
	BuildArgs      map[string]string `json:"build_args,omitempty"`
	CatalogImageID string            `json:"catalog_image_id,omitempty"`
	Source         *storedSourceSpec `json:"source,omitempty"`
}

func toStoredImage(img *Image) storedImageSpec {
	s := storedImageSpec{
		Repository: img.Repository, Tag: img.Tag, BuildService: img.BuildService,
		AutoRebuild: img.AutoRebuild, AutoPublish: img.AutoPublish,
		Tags: img.Tags, Owners: img.Owners, Base: img.Base, BuildArgs: img.BuildArgs,
		CatalogImageID: img.CatalogImageID,
	}
	if sp := img.SourceSpec; sp != nil {
		s.Source = &storedSourceSpec{URL: sp.URL, Branch: sp.Branch, Tag: sp.Tag, Commit: sp.Commit,
			ContextDir: sp.ContextDir, Containerfile: sp.Containerfile, Username: sp.Username,
			KnownHosts: sp.KnownHosts, TOFU: sp.TrustOnFirstUse, CA: sp.CABundle}
	}
	return s
}

func (s storedImageSpec) image(name string) Image {
	img := Image{
		Name: name, Repository: s.Repository, Tag: s.Tag, BuildService: s.BuildService,
		AutoRebuild: s.AutoRebuild, AutoPublish: s.AutoPublish,
		Tags: s.Tags, Owners: s.Owners, Base: s.Base, BuildArgs: s.BuildArgs,
		CatalogImageID: s.CatalogImageID,
	}
	if src := s.Source; src != nil {
		img.SourceSpec = &SourceSpec{URL: src.URL, Branch: src.Branch, Tag: src.Tag, Commit: src.Commit,
			ContextDir: src.ContextDir, Containerfile: src.Containerfile, Username: src.Username,
			KnownHosts: src.KnownHosts, TrustOnFirstUse: src.TOFU, CABundle: src.CA}
	}
	return img
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings, bools and maps
	}
	return string(b)
}

func seedHash(v ...any) string {
	h := sha256.New()
	for _, x := range v {
		h.Write([]byte(mustJSON(x)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// projectFromRow returns the configuration view of a stored project and
// its images: each image's own owners, no credentials (only their
// description).
func projectFromRow(p store.ProjectRow, imgs []store.ImageRow, secrets map[string]store.SecretRow) (Project, error) {
	var sp storedProjectSpec
	if err := json.Unmarshal([]byte(p.Spec), &sp); err != nil {
		return Project{}, fmt.Errorf("abs: stored project %s: %w", p.ID, err)
	}
	out := Project{ID: p.ID, Name: p.Name, Owners: sp.Owners, Version: p.Version, Images: []Image{}}
	for _, r := range imgs {
		img, err := imageFromRow(r, secrets)
		if err != nil {
			return Project{}, err
		}
		img.project, img.projectID = p.Name, p.ID
		if !sp.DerivedID {
			img.catalogProject = p.ID
		}
		out.Images = append(out.Images, img)
	}
	return out, nil
}

func imageFromRow(r store.ImageRow, secrets map[string]store.SecretRow) (Image, error) {
	var si storedImageSpec
	if err := json.Unmarshal([]byte(r.Spec), &si); err != nil {
		return Image{}, fmt.Errorf("abs: stored image %s: %w", r.Name, err)
	}
	img := si.image(r.Name)
	img.Version = r.Version
	img.projectID = r.Project
	if s, ok := secrets[r.Name]; ok {
		img.Credential = &Credential{Kind: s.Kind, Fingerprint: s.Fingerprint, Updated: s.Updated}
	}
	return img, nil
}

// seedCred is what the configuration given to New holds for a source
// beyond its SourceSpec: credentials and transport settings that stay in
// this process's memory.
type seedCred struct {
	url  string
	auth rebuild.GitAuth
}

var slugRE = regexp.MustCompile(`[^a-z0-9._-]+`)

func slug(s string) string {
	s = strings.Trim(slugRE.ReplaceAllString(strings.ToLower(s), "-"), "-._")
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// seed applies the projects given to New to the database. The rule:
//   - a project is keyed by its ID (a slug of its name when it has none);
//     one not stored yet is inserted, with its images;
//   - a stored project or image is overwritten from the configuration only
//     when its configuration changed since it was last seeded, so changes
//     made at runtime to a seeded image survive restarts until the
//     configuration of that image changes;
//   - projects and images created at runtime, or no longer in the
//     configuration, are kept (DeleteProject and DeleteImage remove them).
//
// Credentials in a seeded image's Source stay in this process's memory;
// one stored with SetSSHKey or SetToken wins over them.
func (o *Orchestrator) seed(ctx context.Context, projects []Project) error {
	o.seedAuth = map[string]seedCred{}
	ctx = WithActor(ctx, "configuration")
	for _, p := range projects {
		id, derived := p.ID, false
		if id == "" {
			id, derived = slug(p.Name), true
		}
		if err := validID("id", id); err != nil {
			return fmt.Errorf("%w (project %q)", err, p.Name)
		}
		name := p.Name
		if name == "" {
			name = id
		}
		spec := mustJSON(storedProjectSpec{Owners: p.Owners, DerivedID: derived})
		hash := seedHash(name, spec)
		var imgs []Image
		for _, img := range p.Images {
			img, _, err := o.prepareImage(img)
			if err != nil {
				return fmt.Errorf("%w (project %q)", err, name)
			}
			if img.Source != nil {
				o.seedAuth[img.Name] = seedCred{url: img.Source.URL, auth: img.Source.Auth}
			}
			imgs = append(imgs, img)
		}
		now := o.wall()
		err := o.db.InTx(ctx, func(tx store.Tx) error {
			row, err := store.GetProject(ctx, tx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				if _, err := store.InsertProject(ctx, tx, store.ProjectRow{ID: id, Name: name, Spec: spec, SeedHash: hash}, now); err != nil && !errors.Is(err, store.ErrExists) {
					return err
				}
				if err := o.audit(ctx, tx, "seed-project", id, "from the configuration"); err != nil {
					return err
				}
			case err != nil:
				return err
			case row.SeedHash != hash:
				row.Name, row.Spec, row.SeedHash = name, spec, hash
				if ok, err := store.UpdateProject(ctx, tx, row, now); err != nil || !ok {
					return err
				}
				if err := o.audit(ctx, tx, "sync-project", id, "the configuration changed"); err != nil {
					return err
				}
			}
			for _, img := range imgs {
				si := mustJSON(toStoredImage(&img))
				ih := seedHash(si)
				row, err := store.GetProjectImage(ctx, tx, img.Name)
				switch {
				case errors.Is(err, store.ErrNotFound):
					if _, err := store.InsertImage(ctx, tx, store.ImageRow{Name: img.Name, Project: id, Spec: si, SeedHash: ih}, now); err != nil && !errors.Is(err, store.ErrExists) {
						return err
					}
					if err := o.audit(ctx, tx, "seed-image", img.Name, "project "+id); err != nil {
						return err
					}
				case err != nil:
					return err
				case row.Project != id:
					return fmt.Errorf("%w: image %q: configured in project %q, stored in project %q", ErrConfig, img.Name, id, row.Project)
				case row.SeedHash != ih:
					row.Spec, row.SeedHash = si, ih
					if ok, err := store.UpdateImage(ctx, tx, row, now); err != nil || !ok {
						return err
					}
					if err := o.audit(ctx, tx, "sync-image", img.Name, "the configuration changed"); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("abs: seed project %s: %w", id, err)
		}
	}
	return nil
}

// refreshImages reloads the image snapshot when the stored projects
// changed since it was loaded (one small query otherwise).
func (o *Orchestrator) refreshImages(ctx context.Context) error {
	gen, err := store.ProjectsGeneration(ctx, o.db)
	if err != nil {
		return fmt.Errorf("abs: projects: %w", err)
	}
	if o.imgLoaded.Load() && gen == o.imgGen.Load() {
		return nil
	}
	return o.reloadImages(ctx)
}

// seedLocked applies projects given to New that are still pending
// (WithAutoMigrate(false)); reloadMu is held.
func (o *Orchestrator) seedLocked(ctx context.Context) error {
	if o.seedPending == nil {
		return nil
	}
	if err := o.seed(ctx, o.seedPending); err != nil {
		return err
	}
	o.seedPending = nil
	return nil
}

// reloadImages rebuilds the image snapshot from the database and swaps
// it in.
func (o *Orchestrator) reloadImages(ctx context.Context) error {
	o.reloadMu.Lock()
	defer o.reloadMu.Unlock()
	if err := o.seedLocked(ctx); err != nil {
		return err
	}
	// The generation is read before the rows: a change committed in
	// between moves it, and the next refresh loads again.
	gen, err := store.ProjectsGeneration(ctx, o.db)
	if err != nil {
		return fmt.Errorf("abs: projects: %w", err)
	}
	projects, err := o.loadProjects(ctx, o.db)
	if err != nil {
		return err
	}
	hostKeys, err := store.HostKeys(ctx, o.db)
	if err != nil {
		return err
	}
	secrets, err := store.Secrets(ctx, o.db)
	if err != nil {
		return err
	}
	plain := make(map[string]secret.Value, len(secrets))
	for i := range projects {
		for j := range projects[i].Images {
			img := &projects[i].Images[j]
			img.Source, img.credErr = o.gitSource(img, secrets, hostKeys[img.Name], plain)
		}
	}
	o.plain = plain
	vals := make([]string, 0, len(plain))
	for _, v := range plain {
		vals = append(vals, v.Reveal())
	}
	o.scrub.Add(vals...)
	images, _, err := Normalize(projects)
	if err != nil {
		return err
	}
	o.imgs.store(newImageSet(images))
	o.imgGen.Store(gen)
	o.imgLoaded.Store(true)
	return nil
}

// loadProjects reads every project with its images.
func (o *Orchestrator) loadProjects(ctx context.Context, q store.Querier) ([]Project, error) {
	rows, err := store.Projects(ctx, q)
	if err != nil {
		return nil, err
	}
	imgs, err := store.ProjectImages(ctx, q, "")
	if err != nil {
		return nil, err
	}
	secrets, err := store.Secrets(ctx, q)
	if err != nil {
		return nil, err
	}
	byProject := map[string][]store.ImageRow{}
	for _, r := range imgs {
		byProject[r.Project] = append(byProject[r.Project], r)
	}
	out := make([]Project, 0, len(rows))
	for _, r := range rows {
		p, err := projectFromRow(r, byProject[r.ID], secrets)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// gitSource makes the rebuild source of an image: its SourceSpec, the
// host keys recorded for it, and its credential (the stored one, else the
// one the configuration gave New). A credential that does not decrypt
// comes back as an error for the rebuild to report.
func (o *Orchestrator) gitSource(img *Image, secrets map[string]store.SecretRow, hostKeys []string, plain map[string]secret.Value) (*rebuild.GitSource, error) {
	spec := img.SourceSpec
	if spec == nil {
		return nil, nil
	}
	src := &rebuild.GitSource{URL: spec.URL, Branch: spec.Branch, Tag: spec.Tag, Commit: spec.Commit,
		ContextDir: spec.ContextDir, Containerfile: spec.Containerfile}
	if sc, ok := o.seedAuth[img.Name]; ok && sc.url == spec.URL {
		src.Auth = sc.auth
	}
	src.Auth.Username = spec.Username
	if spec.CABundle != "" {
		src.Auth.CABundle = []byte(spec.CABundle)
	}
	known := spec.KnownHosts
	if spec.TrustOnFirstUse {
		// Recorded keys count only while trust on first use is on: a
		// source given its known_hosts lines afterwards is checked
		// against those alone.
		for _, l := range hostKeys {
			known = strings.TrimRight(known, "\n") + "\n" + l
		}
	}
	src.Auth.KnownHosts = nil
	if known = strings.TrimLeft(known, "\n"); known != "" {
		src.Auth.KnownHosts = []byte(known + "\n")
	}
	if spec.TrustOnFirstUse {
		src.Auth.TrustOnFirstUse = o.trustOnFirstUse(img.Name)
	}
	s, ok := secrets[img.Name]
	if !ok {
		return src, nil
	}
	v, err := o.decrypt(s.Cipher, plain)
	if err != nil {
		return src, fmt.Errorf("abs: image %s: stored %s %s: %w", img.Name, s.Kind, s.Fingerprint, err)
	}
	src.Auth.Token, src.Auth.SSHKey, src.Auth.SSHKeyPassphrase = secret.Value{}, secret.Value{}, secret.Value{}
	switch s.Kind {
	case CredentialSSHKey:
		src.Auth.SSHKey = v
		if s.PassCipher != "" {
			p, err := o.decrypt(s.PassCipher, plain)
			if err != nil {
				return src, fmt.Errorf("abs: image %s: stored passphrase: %w", img.Name, err)
			}
			src.Auth.SSHKeyPassphrase = p
		}
	case CredentialToken:
		src.Auth.Token = v
	}
	return src, nil
}

// decrypt opens a stored ciphertext, reusing what the previous reload
// decrypted (a ciphertext never changes meaning), and records it in
// plain for the next one. reloadMu is held.
func (o *Orchestrator) decrypt(cipher string, plain map[string]secret.Value) (secret.Value, error) {
	if v, ok := o.plain[cipher]; ok {
		plain[cipher] = v
		return v, nil
	}
	v, _, err := o.secretKey.Decrypt(cipher)
	if err != nil {
		return secret.Value{}, err
	}
	plain[cipher] = v
	return v, nil
}

// trustOnFirstUse records the first SSH host key seen for an image's
// source, in the same table for every replica: the first process to
// record a key wins, and any other key is refused.
func (o *Orchestrator) trustOnFirstUse(image string) func(host, line string) error {
	return func(host, line string) error {
		ctx, cancel := context.WithTimeout(WithActor(context.Background(), "trust-on-first-use"), 30*time.Second)
		defer cancel()
		var got string
		err := o.db.InTx(ctx, func(tx store.Tx) error {
			var err error
			if got, err = store.AddHostKey(ctx, tx, image, host, line, o.wall()); err != nil {
				return err
			}
			if got != line {
				return nil
			}
			return o.audit(ctx, tx, "record-host-key", image, "host "+host+" "+keyFingerprint(line))
		})
		if err != nil {
			return err
		}
		if got != line {
			return fmt.Errorf("another key (%s) was recorded first for %s", keyFingerprint(got), host)
		}
		o.log.Info("recorded SSH host key on first use", "image", image, "host", host, "key", keyFingerprint(line))
		return nil
	}
}

func keyFingerprint(line string) string {
	_, _, key, _, _, err := gossh.ParseKnownHosts([]byte(line))
	if err != nil {
		return "?"
	}
	return gossh.FingerprintSHA256(key)
}

// audit records a change in tx.
func (o *Orchestrator) audit(ctx context.Context, tx store.Tx, action, target, detail string) error {
	return store.AddAudit(ctx, tx, store.AuditRow{At: o.wall(), Actor: actor(ctx), Action: action, Target: target,
		Detail: o.scrubText(detail)})
}

// Validation. Messages name the field (as its JSON name) and why.

var (
	idRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	imageRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$`)
	tagRE      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	argRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	commitRE   = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
	scpLikeRE  = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)
	maxList    = 100
	maxText    = 1024
	maxKnown   = 64 << 10
	maxSecret  = 64 << 10
	maxImgArgs = 100
)

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

func validID(field, id string) error {
	if !idRE.MatchString(id) {
		return invalid(field, "%q must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

func validText(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return invalid(field, "longer than %d bytes", maxLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "contains a control character")
		}
	}
	return nil
}

func validOwners(field string, owners []string) error {
	if len(owners) > maxList {
		return invalid(field, "more than %d entries", maxList)
	}
	for _, ow := range owners {
		if strings.TrimSpace(ow) == "" {
			return invalid(field, "empty entry")
		}
		if err := validText(field, ow, 320); err != nil {
			return err
		}
	}
	return nil
}

// prepareImage fills an image's defaults, validates it and applies the
// switch rules; it returns the notes those rules produced.
func (o *Orchestrator) prepareImage(img Image) (Image, []string, error) {
	if img.Repository == "" {
		return img, nil, invalid("repository", "required")
	}
	if strings.Contains(img.Repository, "@") {
		return img, nil, invalid("repository", "%q must not carry a digest", img.Repository)
	}
	if _, err := name.NewRepository(img.Repository, o.nameOpts...); err != nil {
		return img, nil, invalid("repository", "%q is not a repository reference", img.Repository)
	}
	if img.Name == "" {
		img.Name = img.Repository
	}
	if !imageRE.MatchString(img.Name) {
		return img, nil, invalid("name", "%q must be 1 to 255 letters, digits or ._/:@-", img.Name)
	}
	if img.Tag == "" {
		img.Tag = "latest"
	}
	if img.Source != nil && img.SourceSpec == nil {
		s := img.Source
		img.SourceSpec = &SourceSpec{URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit,
			ContextDir: s.ContextDir, Containerfile: s.Containerfile, Username: s.Auth.Username,
			KnownHosts: string(s.Auth.KnownHosts), CABundle: string(s.Auth.CABundle)}
	}
	notes := switchRules(&img, nil)
	if err := o.validateImage(&img); err != nil {
		return img, nil, err
	}
	return img, notes, nil
}

// switchRules keeps the switches consistent: auto-rebuild needs the build
// service and auto-publish, so turning it on turns them on; turning the
// build service or auto-publish off turns auto-rebuild off. explicit says
// which switches the caller set (nil: the image is new).
func switchRules(img *Image, explicit map[string]bool) []string {
	var notes []string
	turnedOff := func(k string) bool { return explicit[k] }
	if img.AutoRebuild && (turnedOff("build_service") && !img.BuildService || turnedOff("auto_publish") && !img.AutoPublish) {
		if explicit["auto_rebuild"] {
			return nil // contradiction, reported by validateSwitches
		}
		img.AutoRebuild = false
		if !img.BuildService {
			notes = append(notes, fmt.Sprintf("image %s: turning the build service off turns auto-rebuild off", img.Name))
		} else {
			notes = append(notes, fmt.Sprintf("image %s: turning auto-publish off turns auto-rebuild off", img.Name))
		}
	}
	if img.AutoRebuild && !img.BuildService {
		img.BuildService = true
		notes = append(notes, fmt.Sprintf("image %s: auto-rebuild turns on the build service", img.Name))
	}
	if img.AutoRebuild && !img.AutoPublish {
		img.AutoPublish = true
		notes = append(notes, fmt.Sprintf("image %s: auto-rebuild turns on auto-publish", img.Name))
	}
	return notes
}

func (o *Orchestrator) validateImage(img *Image) error {
	if img.AutoRebuild && (!img.BuildService || !img.AutoPublish) {
		return invalid("auto_rebuild", "cannot be on while build_service or auto_publish is turned off in the same change")
	}
	if _, err := name.NewTag(img.Repository+":"+img.Tag, o.nameOpts...); err != nil || !tagRE.MatchString(img.Tag) {
		return invalid("tag", "%q is not a valid tag", img.Tag)
	}
	if len(img.Tags) > maxList {
		return invalid("tags", "more than %d entries", maxList)
	}
	for _, t := range img.Tags {
		if !tagRE.MatchString(t) {
			return invalid("tags", "%q is not a valid tag", t)
		}
	}
	if err := validOwners("owners", img.Owners); err != nil {
		return err
	}
	if img.Base != "" {
		if _, err := name.ParseReference(img.Base, o.nameOpts...); err != nil {
			return invalid("base", "%q is not an image reference", img.Base)
		}
	}
	if len(img.BuildArgs) > maxImgArgs {
		return invalid("build_args", "more than %d entries", maxImgArgs)
	}
	for _, k := range slices.Sorted(maps.Keys(img.BuildArgs)) {
		if !argRE.MatchString(k) {
			return invalid("build_args", "%q is not a valid argument name", k)
		}
		if err := validText("build_args."+k, img.BuildArgs[k], maxText); err != nil {
			return err
		}
	}
	if err := validText("catalog_image_id", img.CatalogImageID, 128); err != nil {
		return err
	}
	if s := img.SourceSpec; s != nil {
		if err := validSource(s); err != nil {
			return err
		}
	}
	return nil
}

func validSource(s *SourceSpec) error {
	if s.URL == "" {
		return invalid("source.url", "required")
	}
	if err := validText("source.url", s.URL, 2048); err != nil {
		return err
	}
	if !scpLikeRE.MatchString(s.URL) {
		u, err := url.Parse(s.URL)
		if err != nil || u.Host == "" && u.Scheme != "file" {
			return invalid("source.url", "not an https://, ssh:// or user@host:path git URL")
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git+ssh", "file":
		default:
			return invalid("source.url", "scheme %q is not https, ssh or file", u.Scheme)
		}
		if _, ok := u.User.Password(); ok {
			return invalid("source.url", "must not carry a password; use SetToken")
		}
		if u.User != nil && (u.Scheme == "https" || u.Scheme == "http") {
			// A token in the user part would be stored in clear.
			return invalid("source.url", "must not carry a user or token; set source.username and use SetToken")
		}
	}
	if s.Branch != "" && s.Tag != "" {
		return invalid("source", "branch and tag are exclusive")
	}
	for _, f := range []struct{ field, v string }{{"source.branch", s.Branch}, {"source.tag", s.Tag}} {
		if err := validText(f.field, f.v, 255); err != nil {
			return err
		}
		if strings.HasPrefix(f.v, "-") || strings.Contains(f.v, "..") || strings.ContainsAny(f.v, " ~^:?*[\\") {
			return invalid(f.field, "%q is not a valid git reference name", f.v)
		}
	}
	if s.Commit != "" && !commitRE.MatchString(s.Commit) {
		return invalid("source.commit", "%q is not a hex commit id", s.Commit)
	}
	for _, f := range []struct{ field, v string }{{"source.context_dir", s.ContextDir}, {"source.containerfile", s.Containerfile}} {
		if err := validText(f.field, f.v, 1024); err != nil {
			return err
		}
		if path.IsAbs(f.v) {
			return invalid(f.field, "%q must be a relative path inside the repository", f.v)
		}
		if slices.Contains(strings.Split(f.v, "/"), "..") {
			return invalid(f.field, "%q must not leave the repository", f.v)
		}
	}
	if err := validText("source.username", s.Username, 255); err != nil {
		return err
	}
	if len(s.KnownHosts) > maxKnown {
		return invalid("source.known_hosts", "longer than %d bytes", maxKnown)
	}
	if s.CABundle != "" {
		if len(s.CABundle) > maxKnown {
			return invalid("source.ca_bundle", "longer than %d bytes", maxKnown)
		}
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(s.CABundle)) {
			return invalid("source.ca_bundle", "holds no PEM certificate")
		}
	}
	rest := []byte(s.KnownHosts)
	for n := 1; len(rest) > 0; n++ {
		line := rest
		if i := strings.IndexByte(string(rest), '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		t := strings.TrimSpace(string(line))
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if _, _, _, _, _, err := gossh.ParseKnownHosts([]byte(t)); err != nil {
			return invalid("source.known_hosts", "line %d is not a known_hosts entry", n)
		}
	}
	return nil
}

// unconfiguredNotes names the stored projects the configuration given to
// New does not list, when it lists any: they are kept.
func (o *Orchestrator) unconfiguredNotes(projects []Project, _ []Image) []string {
	if len(projects) == 0 {
		return nil
	}
	ids := map[string]bool{}
	for _, p := range projects {
		id := p.ID
		if id == "" {
			id = slug(p.Name)
		}
		ids[id] = true
	}
	var notes []string
	set := o.imgs.load()
	seen := map[string]bool{}
	for _, img := range set.list {
		if !ids[img.projectID] && !seen[img.projectID] {
			seen[img.projectID] = true
			notes = append(notes, fmt.Sprintf("project %s is stored but not in the configuration: kept (DeleteProject removes it)", img.projectID))
		}
	}
	return notes
}
