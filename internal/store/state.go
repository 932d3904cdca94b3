package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/rpmscan"
)

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// placeholders returns "$from, $from+1, …" for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$")
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

// Cursor returns the stored sync cursor of an advisory source ("" when
// the source never synced).
func Cursor(ctx context.Context, q Querier, source string) (string, error) {
	var c string
	err := q.QueryRow(ctx, `SELECT cursor FROM abs_cursor WHERE source = $1`, source).Scan(&c)
	if err == ErrNotFound {
		return "", nil
	}
	return c, err
}

// SetCursor stores a source's sync cursor.
func SetCursor(ctx context.Context, q Querier, source, cursor string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_cursor (source, cursor, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at`,
		source, cursor, nanos(now))
	return err
}

// PutAdvisory stores or replaces an advisory and reports whether it was new
// or its content changed.
func PutAdvisory(ctx context.Context, q Querier, a advisory.Advisory, now time.Time) (bool, error) {
	doc, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	var old string
	err = q.QueryRow(ctx, `SELECT doc FROM abs_advisory WHERE id = $1`, a.ID).Scan(&old)
	switch {
	case err == ErrNotFound:
	case err != nil:
		return false, err
	case old == string(doc):
		return false, nil
	}
	if _, err := q.Exec(ctx, `INSERT INTO abs_advisory (id, source, severity, issued, modified, doc, synced_at)
		VALUES ($1, $7, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET source = excluded.source, severity = excluded.severity, issued = excluded.issued,
		modified = excluded.modified, doc = excluded.doc, synced_at = excluded.synced_at`,
		a.ID, int(a.Severity), nanos(a.Issued), nanos(a.Updated), string(doc), nanos(now), a.Source); err != nil {
		return false, err
	}
	if _, err := q.Exec(ctx, `DELETE FROM abs_advisory_package WHERE advisory = $1`, a.ID); err != nil {
		return false, err
	}
	seen := map[string]bool{}
	for _, f := range a.Fixes {
		if seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		if _, err := q.Exec(ctx, `INSERT INTO abs_advisory_package (advisory, name) VALUES ($1, $2)`, a.ID, f.Name); err != nil {
			return false, err
		}
	}
	return true, nil
}

// DeleteAdvisory removes an advisory.
func DeleteAdvisory(ctx context.Context, q Querier, id string) error {
	if _, err := q.Exec(ctx, `DELETE FROM abs_advisory_package WHERE advisory = $1`, id); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM abs_advisory WHERE id = $1`, id)
	return err
}

// AdvisoryIDsOfSource returns the ids of the stored advisories that came
// from a source.
func AdvisoryIDsOfSource(ctx context.Context, q Querier, source string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT id FROM abs_advisory WHERE source = $1 ORDER BY id`, source)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Advisories returns every stored advisory, ordered by id.
func Advisories(ctx context.Context, q Querier) ([]advisory.Advisory, error) {
	return queryAdvisories(ctx, q, `SELECT doc FROM abs_advisory ORDER BY id`)
}

// AdvisoriesByID returns the named advisories that are stored.
func AdvisoriesByID(ctx context.Context, q Querier, ids []string) ([]advisory.Advisory, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return queryAdvisories(ctx, q, `SELECT doc FROM abs_advisory WHERE id IN (`+placeholders(1, len(ids))+`) ORDER BY id`, args...)
}

func queryAdvisories(ctx context.Context, q Querier, query string, args ...any) ([]advisory.Advisory, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []advisory.Advisory
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var a advisory.Advisory
		if err := json.Unmarshal([]byte(doc), &a); err != nil {
			return nil, fmt.Errorf("store: advisory: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// LayerKey returns the key under which an inventory's packages are stored:
// the digest of the layer holding its rpmdb, or a per-image key when the
// scanner did not say where the packages came from.
//
// scanner names the scanner release ("rpmscan/2"); packages read by one
// release are never reused by another.
func LayerKey(inv *rpmscan.Inventory, scanner string) string {
	key := "image:" + inv.Image.Digest
	if inv.RPMDB != nil && inv.RPMDB.LayerDigest != "" {
		key = inv.RPMDB.LayerDigest
	}
	if scanner != "" {
		key = scanner + "|" + key
	}
	return key
}

// HasImage reports whether an inventory for the image digest made by the
// scanner release is stored.
func HasImage(ctx context.Context, q Querier, digest, scanner string) (bool, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_image WHERE digest = $1 AND scanner = $2`, digest, scanner).Scan(&n)
	return n > 0, err
}

// HasLayer reports whether the packages of an rpmdb layer are stored.
func HasLayer(ctx context.Context, q Querier, layer string) (bool, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_layer WHERE digest = $1`, layer).Scan(&n)
	return n > 0, err
}

// PutInventory stores an image's inventory: the packages once per rpmdb
// layer (shared by every image built on it), the rest per image digest.
func PutInventory(ctx context.Context, q Querier, inv *rpmscan.Inventory, scanner string, now time.Time) error {
	layer := LayerKey(inv, scanner)
	has, err := HasLayer(ctx, q, layer)
	if err != nil {
		return err
	}
	if !has {
		if err := putLayer(ctx, q, layer, inv.Packages, now); err != nil {
			return err
		}
	}
	rest := *inv
	rest.Packages = nil
	doc, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	if _, err = q.Exec(ctx, `INSERT INTO abs_image (digest, rpmdb_layer, inventory, scanned_at, scanner, rev) VALUES ($1, $2, $3, $4, $5, 0)
		ON CONFLICT (digest) DO UPDATE SET rpmdb_layer = excluded.rpmdb_layer, inventory = excluded.inventory,
		scanned_at = excluded.scanned_at, scanner = excluded.scanner, rev = abs_image.rev + 1`, inv.Image.Digest, layer, string(doc), nanos(now), scanner); err != nil {
		return err
	}
	return bumpFleet(ctx, q)
}

// FleetGeneration changes whenever a stored inventory or a managed
// image's digest changes; callers cache the fleet until it does.
func FleetGeneration(ctx context.Context, q Querier) (int64, error) {
	var g int64
	err := q.QueryRow(ctx, `SELECT value FROM abs_meta WHERE name = 'fleet'`).Scan(&g)
	return g, err
}

func bumpFleet(ctx context.Context, q Querier) error {
	_, err := q.Exec(ctx, `UPDATE abs_meta SET value = value + 1 WHERE name = 'fleet'`)
	return err
}

// Inventory returns the stored inventory of an image digest, or
// ErrNotFound.
func Inventory(ctx context.Context, q Querier, digest string) (*rpmscan.Inventory, error) {
	var layer, doc string
	if err := q.QueryRow(ctx, `SELECT rpmdb_layer, inventory FROM abs_image WHERE digest = $1`, digest).Scan(&layer, &doc); err != nil {
		return nil, err
	}
	var inv rpmscan.Inventory
	if err := json.Unmarshal([]byte(doc), &inv); err != nil {
		return nil, fmt.Errorf("store: image %s: %w", digest, err)
	}
	pk, err := LayerPackages(ctx, q, layer)
	if err != nil && err != ErrNotFound {
		return nil, err
	}
	inv.Packages = pk
	return &inv, nil
}

// ImageRecord is an image's stored inventory without its packages, and
// the key of the layer that holds them.
type ImageRecord struct {
	Layer     string
	Inventory rpmscan.Inventory
	// Rev is the record's revision: PutInventory moves it each time it
	// writes the digest again, so a reader holding a record knows it is
	// still the stored one while the revision is the same.
	Rev int64
}

// Images returns the records of the given digests (all stored ones when
// digests is nil).
func Images(ctx context.Context, q Querier, digests []string) (map[string]ImageRecord, error) {
	query := `SELECT digest, rpmdb_layer, inventory, rev FROM abs_image`
	var args []any
	if digests != nil {
		if len(digests) == 0 {
			return map[string]ImageRecord{}, nil
		}
		query += ` WHERE digest IN (` + placeholders(1, len(digests)) + `)`
		for _, d := range digests {
			args = append(args, d)
		}
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]ImageRecord{}
	for rows.Next() {
		var d, layer, doc string
		var rev int64
		if err := rows.Scan(&d, &layer, &doc, &rev); err != nil {
			return nil, err
		}
		rec := ImageRecord{Layer: layer, Rev: rev}
		if err := json.Unmarshal([]byte(doc), &rec.Inventory); err != nil {
			return nil, fmt.Errorf("store: image %s: %w", d, err)
		}
		out[d] = rec
	}
	return out, rows.Err()
}

// SetManaged records the digest a managed image name currently resolves to.
func SetManaged(ctx context.Context, q Querier, name, digest string, now time.Time) error {
	n, err := q.Exec(ctx, `UPDATE abs_managed SET resolved_at = $3 WHERE name = $1 AND digest = $2`, name, digest, nanos(now))
	if err != nil || n > 0 {
		return err // unchanged
	}
	if _, err := q.Exec(ctx, `INSERT INTO abs_managed (name, digest, resolved_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, resolved_at = excluded.resolved_at`,
		name, digest, nanos(now)); err != nil {
		return err
	}
	return bumpFleet(ctx, q)
}

// Managed returns every managed image name and its current digest.
func Managed(ctx context.Context, q Querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT name, digest FROM abs_managed`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		out[n] = d
	}
	return out, rows.Err()
}

// GradeRecord is one entry of an image's grade history.
type GradeRecord struct {
	Image    string
	Digest   string
	Grade    string
	At       time.Time
	NextDrop time.Time
}

// LatestGrade returns an image's most recent grade record, or ErrNotFound.
func LatestGrade(ctx context.Context, q Querier, image string) (GradeRecord, error) {
	r := GradeRecord{Image: image}
	var at, drop int64
	err := q.QueryRow(ctx, `SELECT digest, grade, at, next_drop FROM abs_grade WHERE image = $1
		ORDER BY at DESC LIMIT 1`, image).Scan(&r.Digest, &r.Grade, &at, &drop)
	r.At, r.NextDrop = fromNanos(at), fromNanos(drop)
	return r, err
}

// RecordGrade appends to the grade history when the grade, digest or next
// drop changed since the last record, and reports whether it did.
func RecordGrade(ctx context.Context, q Querier, r GradeRecord) (bool, error) {
	last, err := LatestGrade(ctx, q, r.Image)
	if err != nil && err != ErrNotFound {
		return false, err
	}
	if err == nil && last.Digest == r.Digest && last.Grade == r.Grade && last.NextDrop.Equal(r.NextDrop) {
		return false, nil
	}
	_, err = q.Exec(ctx, `INSERT INTO abs_grade (image, at, digest, grade, next_drop) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (image, at) DO NOTHING`, r.Image, nanos(r.At), r.Digest, r.Grade, nanos(r.NextDrop))
	return err == nil, err
}

// GradeHistory returns an image's grade history, oldest first.
func GradeHistory(ctx context.Context, q Querier, image string) ([]GradeRecord, error) {
	rows, err := q.Query(ctx, `SELECT digest, grade, at, next_drop FROM abs_grade WHERE image = $1 ORDER BY at`, image)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []GradeRecord
	for rows.Next() {
		r := GradeRecord{Image: image}
		var at, drop int64
		if err := rows.Scan(&r.Digest, &r.Grade, &at, &drop); err != nil {
			return nil, err
		}
		r.At, r.NextDrop = fromNanos(at), fromNanos(drop)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RecordWarning records that a grade-drop warning for (image, digest,
// drop time) is due, and reports false when it was recorded before.
func RecordWarning(ctx context.Context, q Querier, image, digest string, dropAt time.Time, grade string, now time.Time) (bool, error) {
	n, err := q.Exec(ctx, `INSERT INTO abs_warning (image, digest, drop_at, grade, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (image, digest, drop_at) DO NOTHING`, image, digest, nanos(dropAt), grade, nanos(now))
	return n > 0, err
}

// Cycle is one run of the pipeline.
type Cycle struct {
	ID       string
	Cause    string
	Advisory string
	DryRun   bool
	State    string
	Plan     string
	Started  time.Time
	Finished time.Time
}

// PutCycle creates a cycle, or does nothing when it exists, and reports
// whether it created it.
func PutCycle(ctx context.Context, q Querier, c Cycle) (bool, error) {
	dry := 0
	if c.DryRun {
		dry = 1
	}
	n, err := q.Exec(ctx, `INSERT INTO abs_cycle (id, cause, advisory, dry_run, state, plan, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Cause, c.Advisory, dry, c.State, c.Plan, nanos(c.Started), nanos(c.Finished))
	return n > 0, err
}

// FinishCycle stores a cycle's final state and plan.
func FinishCycle(ctx context.Context, q Querier, id, state, plan string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE abs_cycle SET state = $2, plan = $3, finished_at = $4 WHERE id = $1`, id, state, plan, nanos(now))
	return err
}

// GetCycle returns a cycle by id.
func GetCycle(ctx context.Context, q Querier, id string) (Cycle, error) {
	c := Cycle{ID: id}
	var dry, st, fin int64
	err := q.QueryRow(ctx, `SELECT cause, advisory, dry_run, state, plan, started_at, finished_at FROM abs_cycle WHERE id = $1`, id).
		Scan(&c.Cause, &c.Advisory, &dry, &c.State, &c.Plan, &st, &fin)
	c.DryRun, c.Started, c.Finished = dry != 0, fromNanos(st), fromNanos(fin)
	return c, err
}

// Rebuild states.
const (
	StatePlanned   = "planned"
	StateBuilding  = "building"
	StateBuilt     = "built"
	StatePublished = "published"
	StateFailed    = "failed"
	StateSkipped   = "skipped"
)

// Terminal reports whether a rebuild state is final.
func Terminal(state string) bool {
	return state == StatePublished || state == StateFailed || state == StateSkipped
}

// Rebuild is the durable record of one image's rebuild.
type Rebuild struct {
	ID         string
	Cycle      string
	Image      string
	OldDigest  string
	Advisories []string
	// Key is what makes the rebuild unique for its image digest: the
	// advisory ids by default, or what moved (a base digest, a parent
	// rebuild) for rebuilds not caused by advisories.
	Key         string
	Reason      string
	Method      string
	Parent      string
	State       string
	Detail      string
	NewDigest   string
	BeforeGrade string
	AfterGrade  string
	Created     time.Time
	Updated     time.Time
	// Attempt counts the runs of the rebuild: 1 when planned, one more
	// each time a later cycle (or a manual retry) runs it again.
	Attempt int
	// NextAttempt is when a failed rebuild may run again (zero: at once).
	NextAttempt time.Time
	// Wait says what a failed rebuild waits for: WaitBackoff,
	// WaitInputs or WaitManual.
	Wait string
}

// What a failed rebuild waits for.
const (
	// WaitBackoff: another attempt at NextAttempt, while attempts last.
	WaitBackoff = ""
	// WaitInputs: the same inputs give the same refusal; only a change
	// of what the rebuild's id covers (a new base, commit, configuration
	// or credentials, so a new rebuild) or a manual retry helps.
	WaitInputs = "inputs"
	// WaitManual: a manual retry was asked for; the next cycle runs it.
	WaitManual = "manual"
)

// AdvisoryKey is the canonical form of a set of advisory ids.
func AdvisoryKey(ids []string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

func splitKey(k string) []string {
	if k == "" {
		return nil
	}
	return strings.Split(k, ",")
}

// InsertRebuild records a planned rebuild. It reports false, and changes
// nothing, when the same image digest was already planned for the same
// key (by default its advisories; the orchestrator adds the fingerprint
// of the rebuild's inputs): that is the guard that the same cause and
// inputs never rebuild an image twice. A failed rebuild runs again
// through ReviveRebuild, not a second row.
func InsertRebuild(ctx context.Context, q Querier, r Rebuild) (bool, error) {
	key := r.Key
	if key == "" {
		key = AdvisoryKey(r.Advisories)
	}
	n, err := q.Exec(ctx, `INSERT INTO abs_rebuild (id, cycle, image, old_digest, advisories, trigger_key, reason, method, parent, state,
		detail, new_digest, before_grade, after_grade, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $14, $6, $15, $7, $8, $9, $10, $11, $12, $13, $13) ON CONFLICT DO NOTHING`,
		r.ID, r.Cycle, r.Image, r.OldDigest, AdvisoryKey(r.Advisories), r.Reason, r.Parent, r.State,
		r.Detail, r.NewDigest, r.BeforeGrade, r.AfterGrade, nanos(r.Created), key, r.Method)
	if err != nil || n == 0 {
		return false, err
	}
	return true, appendLog(ctx, q, r.ID, r.State, r.Detail, r.Created)
}

func appendLog(ctx context.Context, q Querier, id, state, detail string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_rebuild_log (rebuild, seq, at, state, detail)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM abs_rebuild_log WHERE rebuild = $1), $2, $3, $4)`,
		id, nanos(now), state, detail)
	return err
}

// RebuildUpdate changes a rebuild's state; empty fields are left alone.
type RebuildUpdate struct {
	State      string
	Detail     string
	NewDigest  string
	AfterGrade string
}

// UpdateRebuild applies u to the rebuild and appends to its log.
func UpdateRebuild(ctx context.Context, q Querier, id string, u RebuildUpdate, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE abs_rebuild SET state = $2, detail = $3,
		new_digest = CASE WHEN $4 = '' THEN new_digest ELSE $4 END,
		after_grade = CASE WHEN $5 = '' THEN after_grade ELSE $5 END,
		updated_at = $6 WHERE id = $1`, id, u.State, u.Detail, u.NewDigest, u.AfterGrade, nanos(now))
	if err != nil {
		return err
	}
	return appendLog(ctx, q, id, u.State, u.Detail, now)
}

const rebuildCols = `id, cycle, image, old_digest, advisories, trigger_key, reason, method, parent, state, detail, new_digest,
	before_grade, after_grade, created_at, updated_at, attempt, next_attempt, wait`

func scanRebuild(row Row) (Rebuild, error) {
	var r Rebuild
	var key string
	var c, u, next, attempt int64
	err := row.Scan(&r.ID, &r.Cycle, &r.Image, &r.OldDigest, &key, &r.Key, &r.Reason, &r.Method, &r.Parent, &r.State, &r.Detail,
		&r.NewDigest, &r.BeforeGrade, &r.AfterGrade, &c, &u, &attempt, &next, &r.Wait)
	r.Advisories, r.Created, r.Updated, r.NextAttempt, r.Attempt = splitKey(key), fromNanos(c), fromNanos(u), fromNanos(next), int(attempt)
	return r, err
}

// SetRetry records when a failed rebuild may run again and what it waits
// for.
func SetRetry(ctx context.Context, q Querier, id string, next time.Time, wait string) error {
	_, err := q.Exec(ctx, `UPDATE abs_rebuild SET next_attempt = $2, wait = $3 WHERE id = $1`, id, nanos(next), wait)
	return err
}

// ReviveRebuild plans a failed or skipped rebuild again as part of cycle:
// its attempt count grows by one and its log records why.
func ReviveRebuild(ctx context.Context, q Querier, id, cycle, detail string, now time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE abs_rebuild SET cycle = $2, state = $3, detail = $4, attempt = attempt + 1,
		next_attempt = 0, wait = '', new_digest = '', after_grade = '', updated_at = $5 WHERE id = $1`,
		id, cycle, StatePlanned, detail, nanos(now)); err != nil {
		return err
	}
	return appendLog(ctx, q, id, StatePlanned, detail, now)
}

// RequestRetry marks the failed rebuilds of an image to run again in the
// next cycle, whatever they wait for, and reports how many it marked.
func RequestRetry(ctx context.Context, q Querier, image string) (int64, error) {
	return q.Exec(ctx, `UPDATE abs_rebuild SET wait = $2, next_attempt = 0 WHERE image = $1 AND state = $3`,
		image, WaitManual, StateFailed)
}

// ActiveRebuild returns a rebuild of the image that is not final, and
// false when there is none.
func ActiveRebuild(ctx context.Context, q Querier, image string) (Rebuild, bool, error) {
	r, err := scanRebuild(q.QueryRow(ctx, `SELECT `+rebuildCols+` FROM abs_rebuild WHERE image = $1 AND state NOT IN ($2, $3, $4)
		ORDER BY created_at LIMIT 1`, image, StatePublished, StateFailed, StateSkipped))
	if err == ErrNotFound {
		return Rebuild{}, false, nil
	}
	return r, err == nil, err
}

// GetRebuild returns a rebuild by id, or ErrNotFound.
func GetRebuild(ctx context.Context, q Querier, id string) (Rebuild, error) {
	return scanRebuild(q.QueryRow(ctx, `SELECT `+rebuildCols+` FROM abs_rebuild WHERE id = $1`, id))
}

// Rebuilds returns the rebuilds of a cycle (every rebuild when cycle is
// ""), ordered by creation.
func Rebuilds(ctx context.Context, q Querier, cycle string) ([]Rebuild, error) {
	query := `SELECT ` + rebuildCols + ` FROM abs_rebuild`
	var args []any
	if cycle != "" {
		query += ` WHERE cycle = $1`
		args = append(args, cycle)
	}
	return queryRebuilds(ctx, q, query+` ORDER BY created_at, id`, args...)
}

// UnfinishedImages returns the images of a cycle's rebuilds that are not
// final yet (neither published, failed nor skipped).
func UnfinishedImages(ctx context.Context, q Querier, cycle string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT image FROM abs_rebuild
		WHERE cycle = $1 AND state NOT IN ('published', 'failed', 'skipped')`, cycle)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// queryRebuilds runs a query selecting rebuildCols and scans its rows.
func queryRebuilds(ctx context.Context, q Querier, query string, args ...any) ([]Rebuild, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rebuild
	for rows.Next() {
		r, err := scanRebuild(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RebuildLog returns the states a rebuild went through, oldest first.
func RebuildLog(ctx context.Context, q Querier, id string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT state FROM abs_rebuild_log WHERE rebuild = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RecordPush records that a rebuild's image was pushed, and reports false
// when a push was already recorded for it.
func RecordPush(ctx context.Context, q Querier, rebuild, image, digest string, tags []string, now time.Time) (bool, error) {
	n, err := q.Exec(ctx, `INSERT INTO abs_push (rebuild, image, digest, tags, at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (rebuild) DO NOTHING`, rebuild, image, digest, strings.Join(tags, ","), nanos(now))
	return n > 0, err
}

// Notification is one message to one owner.
type Notification struct {
	ID      string
	Cycle   string
	Owner   string
	Kind    string
	State   string
	Summary string
	SentAt  time.Time
}

// Notification states.
const (
	NotePending = "pending"
	NoteSending = "sending"
	NoteSent    = "sent"
	NoteFailed  = "failed"
)

// SetNotificationState moves a notification between pending, sending and
// failed.
func SetNotificationState(ctx context.Context, q Querier, id, state string) error {
	_, err := q.Exec(ctx, `UPDATE abs_notification SET state = $2 WHERE id = $1`, id, state)
	return err
}

// InsertNotification records a pending notification and reports false
// when one with the same id exists.
func InsertNotification(ctx context.Context, q Querier, n Notification) (bool, error) {
	c, err := q.Exec(ctx, `INSERT INTO abs_notification (id, cycle, owner, kind, state, summary, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		n.ID, n.Cycle, n.Owner, n.Kind, NotePending, n.Summary, nanos(n.SentAt))
	return c > 0, err
}

// GetNotification returns a notification by id, or ErrNotFound.
func GetNotification(ctx context.Context, q Querier, id string) (Notification, error) {
	n := Notification{ID: id}
	var at int64
	err := q.QueryRow(ctx, `SELECT cycle, owner, kind, state, summary, sent_at FROM abs_notification WHERE id = $1`, id).
		Scan(&n.Cycle, &n.Owner, &n.Kind, &n.State, &n.Summary, &at)
	n.SentAt = fromNanos(at)
	return n, err
}

// MarkSent records that a notification was delivered.
func MarkSent(ctx context.Context, q Querier, id, summary string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE abs_notification SET state = $2, summary = $3, sent_at = $4 WHERE id = $1`,
		id, NoteSent, summary, nanos(now))
	return err
}

// Notifications returns the notifications of a cycle ("" for all).
func Notifications(ctx context.Context, q Querier, cycle string) ([]Notification, error) {
	query := `SELECT id, cycle, owner, kind, state, summary, sent_at FROM abs_notification`
	var args []any
	if cycle != "" {
		query += ` WHERE cycle = $1`
		args = append(args, cycle)
	}
	rows, err := q.Query(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var at int64
		if err := rows.Scan(&n.ID, &n.Cycle, &n.Owner, &n.Kind, &n.State, &n.Summary, &at); err != nil {
			return nil, err
		}
		n.SentAt = fromNanos(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

// AdvisoryStamp changes whenever the stored advisories change; callers
// use it to know when a matcher built from them is stale.
func AdvisoryStamp(ctx context.Context, q Querier) (string, error) {
	var n, m, s int64
	err := q.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(modified), 0), COALESCE(MAX(synced_at), 0) FROM abs_advisory`).Scan(&n, &m, &s)
	if err != nil {
		return "", err
	}
	var vn, vs int64
	err = q.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(synced_at), 0) FROM abs_vex`).Scan(&vn, &vs)
	return fmt.Sprintf("%d/%d/%d/%d/%d", n, m, s, vn, vs), err
}

// Push is the record of one publish.
type Push struct {
	Rebuild string
	Image   string
	Digest  string
	Tags    []string
	At      time.Time
}

// GetPush returns the push recorded for a rebuild, or ErrNotFound.
func GetPush(ctx context.Context, q Querier, rebuild string) (Push, error) {
	p := Push{Rebuild: rebuild}
	var tags string
	var at int64
	err := q.QueryRow(ctx, `SELECT image, digest, tags, at FROM abs_push WHERE rebuild = $1`, rebuild).Scan(&p.Image, &p.Digest, &tags, &at)
	p.Tags, p.At = splitKey(tags), fromNanos(at)
	return p, err
}

// UpdateNotification sets a notification's state and summary, for
// example failed with why it could not be delivered, or pending again
// with the cycle that retries it.
func UpdateNotification(ctx context.Context, q Querier, id, state, summary string) error {
	_, err := q.Exec(ctx, `UPDATE abs_notification SET state = $2, summary = $3 WHERE id = $1`, id, state, summary)
	return err
}

// NotificationsIn returns the notifications of every cycle in one of
// the states (never sent ones, with NotePending, NoteSending and
// NoteFailed), oldest cycle first.
func NotificationsIn(ctx context.Context, q Querier, states ...string) ([]Notification, error) {
	if len(states) == 0 {
		return nil, nil
	}
	var args []any
	var marks []string
	for i, s := range states {
		args = append(args, s)
		marks = append(marks, fmt.Sprintf("$%d", i+1))
	}
	rows, err := q.Query(ctx, `SELECT id, cycle, owner, kind, state, summary, sent_at FROM abs_notification
		WHERE state IN (`+strings.Join(marks, ", ")+`) ORDER BY cycle, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var at int64
		if err := rows.Scan(&n.ID, &n.Cycle, &n.Owner, &n.Kind, &n.State, &n.Summary, &at); err != nil {
			return nil, err
		}
		n.SentAt = fromNanos(at)
		out = append(out, n)
	}
	return out, rows.Err()
}
