package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrExists is returned when a row to insert exists already.
var ErrExists = errors.New("store: already exists")

// ProjectRow is a stored project. Spec is the caller's own JSON document
// (owners and the like); the columns are what the store orders and checks
// by.
type ProjectRow struct {
	ID      string
	Name    string
	Spec    string
	Pos     int64
	Version int64
	// SeedHash is the hash of the configuration the row was last seeded
	// from ("" for a project created at runtime).
	SeedHash string
	Created  time.Time
	Updated  time.Time
}

// ImageRow is a stored managed image, in the project Project.
type ImageRow struct {
	Name     string
	Project  string
	Spec     string
	Pos      int64
	Version  int64
	SeedHash string
	Created  time.Time
	Updated  time.Time
}

// SecretRow is a stored, encrypted credential of an image's source.
// Cipher and PassCipher are ciphertexts; the store never sees a secret.
type SecretRow struct {
	Image       string
	Kind        string
	Fingerprint string
	Cipher      string
	PassCipher  string
	Updated     time.Time
}

// AuditRow is one recorded change.
type AuditRow struct {
	At     time.Time
	Actor  string
	Action string
	Target string
	Detail string
}

// ProjectsGeneration changes whenever a project, an image, a credential
// or a recorded host key changes; callers cache the images until it does.
func ProjectsGeneration(ctx context.Context, q Querier) (int64, error) {
	var g int64
	err := q.QueryRow(ctx, `SELECT value FROM abs_meta WHERE name = 'projects'`).Scan(&g)
	return g, err
}

// BumpProjects changes ProjectsGeneration.
func BumpProjects(ctx context.Context, q Querier) error {
	_, err := q.Exec(ctx, `UPDATE abs_meta SET value = value + 1 WHERE name = 'projects'`)
	return err
}

const projectCols = `id, name, spec, pos, version, seed_hash, created_at, updated_at`

func scanProject(r Row) (ProjectRow, error) {
	var p ProjectRow
	var c, u int64
	if err := r.Scan(&p.ID, &p.Name, &p.Spec, &p.Pos, &p.Version, &p.SeedHash, &c, &u); err != nil {
		return ProjectRow{}, err
	}
	p.Created, p.Updated = fromNanos(c), fromNanos(u)
	return p, nil
}

// Projects returns every stored project, in position order.
func Projects(ctx context.Context, q Querier) ([]ProjectRow, error) {
	rows, err := q.Query(ctx, `SELECT `+projectCols+` FROM abs_project ORDER BY pos, id`)
	if err != nil {
		return nil, fmt.Errorf("store: projects: %w", err)
	}
	defer rows.Close()
	var out []ProjectRow
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("store: projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetProject returns one project, or ErrNotFound.
func GetProject(ctx context.Context, q Querier, id string) (ProjectRow, error) {
	return scanProject(q.QueryRow(ctx, `SELECT `+projectCols+` FROM abs_project WHERE id = $1`, id))
}

// InsertProject stores a new project at the next position with version
// 1, or returns ErrExists. It returns the stored row.
func InsertProject(ctx context.Context, q Querier, p ProjectRow, now time.Time) (ProjectRow, error) {
	n, err := q.Exec(ctx, `INSERT INTO abs_project (`+projectCols+`)
		VALUES ($1, $2, $3, (SELECT COALESCE(MAX(pos), 0) + 1 FROM abs_project), 1, $4, $5, $5)
		ON CONFLICT (id) DO NOTHING`, p.ID, p.Name, p.Spec, p.SeedHash, nanos(now))
	if err != nil {
		return ProjectRow{}, fmt.Errorf("store: insert project: %w", err)
	}
	if n == 0 {
		return ProjectRow{}, ErrExists
	}
	if err := BumpProjects(ctx, q); err != nil {
		return ProjectRow{}, err
	}
	return GetProject(ctx, q, p.ID)
}

// UpdateProject writes p's name, spec and seed hash when the stored
// version is still p.Version, and increments the version. It reports
// false (and changes nothing) when the version moved on or the project
// is gone.
func UpdateProject(ctx context.Context, q Querier, p ProjectRow, now time.Time) (bool, error) {
	n, err := q.Exec(ctx, `UPDATE abs_project SET name = $1, spec = $2, seed_hash = $3, version = version + 1, updated_at = $4
		WHERE id = $5 AND version = $6`, p.Name, p.Spec, p.SeedHash, nanos(now), p.ID, p.Version)
	if err != nil {
		return false, fmt.Errorf("store: update project: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	return true, BumpProjects(ctx, q)
}

// DeleteProject removes a project with its images, their credentials and
// recorded host keys. It returns the names of the removed images, or
// ErrNotFound.
func DeleteProject(ctx context.Context, q Querier, id string) ([]string, error) {
	imgs, err := projectImages(ctx, q, `WHERE project = $1`, id)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, img := range imgs {
		if err := DeleteImage(ctx, q, img.Name); err != nil {
			return nil, err
		}
		names = append(names, img.Name)
	}
	n, err := q.Exec(ctx, `DELETE FROM abs_project WHERE id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("store: delete project: %w", err)
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	return names, BumpProjects(ctx, q)
}

const imageCols = `name, project, spec, pos, version, seed_hash, created_at, updated_at`

func scanImage(r Row) (ImageRow, error) {
	var i ImageRow
	var c, u int64
	if err := r.Scan(&i.Name, &i.Project, &i.Spec, &i.Pos, &i.Version, &i.SeedHash, &c, &u); err != nil {
		return ImageRow{}, err
	}
	i.Created, i.Updated = fromNanos(c), fromNanos(u)
	return i, nil
}

func projectImages(ctx context.Context, q Querier, where string, args ...any) ([]ImageRow, error) {
	rows, err := q.Query(ctx, `SELECT `+imageCols+` FROM abs_project_image `+where+` ORDER BY pos, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: images: %w", err)
	}
	defer rows.Close()
	var out []ImageRow
	for rows.Next() {
		i, err := scanImage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: images: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// ProjectImages returns the stored images, of every project or of the
// one named, in position order.
func ProjectImages(ctx context.Context, q Querier, project string) ([]ImageRow, error) {
	if project == "" {
		return projectImages(ctx, q, ``)
	}
	return projectImages(ctx, q, `WHERE project = $1`, project)
}

// GetProjectImage returns one image, or ErrNotFound.
func GetProjectImage(ctx context.Context, q Querier, name string) (ImageRow, error) {
	return scanImage(q.QueryRow(ctx, `SELECT `+imageCols+` FROM abs_project_image WHERE name = $1`, name))
}

// InsertImage stores a new image at the next position with version 1, or
// returns ErrExists (the name is unique across projects).
func InsertImage(ctx context.Context, q Querier, i ImageRow, now time.Time) (ImageRow, error) {
	n, err := q.Exec(ctx, `INSERT INTO abs_project_image (`+imageCols+`)
		VALUES ($1, $2, $3, (SELECT COALESCE(MAX(pos), 0) + 1 FROM abs_project_image), 1, $4, $5, $5)
		ON CONFLICT (name) DO NOTHING`, i.Name, i.Project, i.Spec, i.SeedHash, nanos(now))
	if err != nil {
		return ImageRow{}, fmt.Errorf("store: insert image: %w", err)
	}
	if n == 0 {
		return ImageRow{}, ErrExists
	}
	if err := BumpProjects(ctx, q); err != nil {
		return ImageRow{}, err
	}
	return GetProjectImage(ctx, q, i.Name)
}

// UpdateImage writes i's spec and seed hash when the stored version is
// still i.Version, and increments the version. It reports false (and
// changes nothing) when the version moved on or the image is gone.
func UpdateImage(ctx context.Context, q Querier, i ImageRow, now time.Time) (bool, error) {
	n, err := q.Exec(ctx, `UPDATE abs_project_image SET spec = $1, seed_hash = $2, version = version + 1, updated_at = $3
		WHERE name = $4 AND version = $5`, i.Spec, i.SeedHash, nanos(now), i.Name, i.Version)
	if err != nil {
		return false, fmt.Errorf("store: update image: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	return true, BumpProjects(ctx, q)
}

// TouchImage increments an image's version (a credential changed).
func TouchImage(ctx context.Context, q Querier, name string, now time.Time) (int64, error) {
	var v int64
	n, err := q.Exec(ctx, `UPDATE abs_project_image SET version = version + 1, updated_at = $1 WHERE name = $2`, nanos(now), name)
	if err != nil {
		return 0, fmt.Errorf("store: touch image: %w", err)
	}
	if n == 0 {
		return 0, ErrNotFound
	}
	if err := q.QueryRow(ctx, `SELECT version FROM abs_project_image WHERE name = $1`, name).Scan(&v); err != nil {
		return 0, err
	}
	return v, BumpProjects(ctx, q)
}

// DeleteImage removes an image with its credential and recorded host
// keys, or returns ErrNotFound.
func DeleteImage(ctx context.Context, q Querier, name string) error {
	for _, s := range []string{`DELETE FROM abs_secret WHERE image = $1`, `DELETE FROM abs_host_key WHERE image = $1`} {
		if _, err := q.Exec(ctx, s, name); err != nil {
			return fmt.Errorf("store: delete image: %w", err)
		}
	}
	n, err := q.Exec(ctx, `DELETE FROM abs_project_image WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store: delete image: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return BumpProjects(ctx, q)
}

// DeleteSecret removes an image's credential and reports whether there
// was one.
func DeleteSecret(ctx context.Context, q Querier, image string) (bool, error) {
	n, err := q.Exec(ctx, `DELETE FROM abs_secret WHERE image = $1`, image)
	if err != nil {
		return false, fmt.Errorf("store: delete secret: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	return true, BumpProjects(ctx, q)
}

// PutSecret stores (or replaces) an image's credential.
func PutSecret(ctx context.Context, q Querier, s SecretRow) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_secret (image, kind, fingerprint, cipher, pass_cipher, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (image) DO UPDATE SET kind = excluded.kind, fingerprint = excluded.fingerprint,
			cipher = excluded.cipher, pass_cipher = excluded.pass_cipher, updated_at = excluded.updated_at`,
		s.Image, s.Kind, s.Fingerprint, s.Cipher, s.PassCipher, nanos(s.Updated))
	if err != nil {
		return fmt.Errorf("store: put secret: %w", err)
	}
	return BumpProjects(ctx, q)
}

// ReplaceCiphers rewrites the ciphertexts of an image's credential when
// they are still old and oldPass (a re-encryption that lost no race). It
// reports whether it did.
func ReplaceCiphers(ctx context.Context, q Querier, image, old, oldPass, cipher, passCipher string) (bool, error) {
	n, err := q.Exec(ctx, `UPDATE abs_secret SET cipher = $1, pass_cipher = $2 WHERE image = $3 AND cipher = $4 AND pass_cipher = $5`,
		cipher, passCipher, image, old, oldPass)
	if err != nil {
		return false, fmt.Errorf("store: replace ciphers: %w", err)
	}
	return n > 0, nil
}

// Secrets returns every stored credential by image name.
func Secrets(ctx context.Context, q Querier) (map[string]SecretRow, error) {
	rows, err := q.Query(ctx, `SELECT image, kind, fingerprint, cipher, pass_cipher, updated_at FROM abs_secret`)
	if err != nil {
		return nil, fmt.Errorf("store: secrets: %w", err)
	}
	defer rows.Close()
	out := map[string]SecretRow{}
	for rows.Next() {
		var s SecretRow
		var u int64
		if err := rows.Scan(&s.Image, &s.Kind, &s.Fingerprint, &s.Cipher, &s.PassCipher, &u); err != nil {
			return nil, fmt.Errorf("store: secrets: %w", err)
		}
		s.Updated = fromNanos(u)
		out[s.Image] = s
	}
	return out, rows.Err()
}

// AddHostKey records the first SSH host key seen for an image's source
// host (a known_hosts line) and returns the line recorded for it: line
// itself, or the one recorded before (by this or another process).
func AddHostKey(ctx context.Context, q Querier, image, host, line string, now time.Time) (string, error) {
	n, err := q.Exec(ctx, `INSERT INTO abs_host_key (image, host, line, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (image, host) DO NOTHING`, image, host, line, nanos(now))
	if err != nil {
		return "", fmt.Errorf("store: add host key: %w", err)
	}
	var got string
	if err := q.QueryRow(ctx, `SELECT line FROM abs_host_key WHERE image = $1 AND host = $2`, image, host).Scan(&got); err != nil {
		return "", fmt.Errorf("store: add host key: %w", err)
	}
	if n > 0 {
		if err := BumpProjects(ctx, q); err != nil {
			return "", err
		}
	}
	return got, nil
}

// HostKeys returns the recorded host key lines by image name.
func HostKeys(ctx context.Context, q Querier) (map[string][]string, error) {
	rows, err := q.Query(ctx, `SELECT image, line FROM abs_host_key ORDER BY image, host`)
	if err != nil {
		return nil, fmt.Errorf("store: host keys: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var image, line string
		if err := rows.Scan(&image, &line); err != nil {
			return nil, fmt.Errorf("store: host keys: %w", err)
		}
		out[image] = append(out[image], line)
	}
	return out, rows.Err()
}

// AddAudit records a change.
func AddAudit(ctx context.Context, q Querier, a AuditRow) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)`,
		nanos(a.At), a.Actor, a.Action, a.Target, a.Detail)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// Audit returns a page of the audit log, newest first, and the number of
// entries.
func Audit(ctx context.Context, q Querier, offset, limit int) ([]AuditRow, int, error) {
	var total int64
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_audit`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: audit: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT at, actor, action, target, detail FROM abs_audit ORDER BY seq DESC LIMIT $1 OFFSET $2`,
		limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var a AuditRow
		var at int64
		if err := rows.Scan(&at, &a.Actor, &a.Action, &a.Target, &a.Detail); err != nil {
			return nil, 0, fmt.Errorf("store: audit: %w", err)
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	return out, int(total), rows.Err()
}
