package store

import (
	"context"
	"time"
)

// SourceCommit returns the commit last resolved for a source reference
// key (a hash of URL and revision, never the URL itself), "" when none.
func SourceCommit(ctx context.Context, q Querier, key string) (string, error) {
	var c string
	err := q.QueryRow(ctx, `SELECT commit_hash FROM abs_source_commit WHERE ref_key = $1`, key).Scan(&c)
	if err == ErrNotFound {
		return "", nil
	}
	return c, err
}

// SetSourceCommit records the commit a source reference key resolved to.
func SetSourceCommit(ctx context.Context, q Querier, key, commit string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_source_commit (ref_key, commit_hash, resolved_at) VALUES ($1, $2, $3)
		ON CONFLICT (ref_key) DO UPDATE SET commit_hash = excluded.commit_hash, resolved_at = excluded.resolved_at`,
		key, commit, nanos(now))
	return err
}

// Mailed is the last failure of one kind an owner was told about for an
// image.
type Mailed struct {
	Fingerprint string
	Sent        time.Time
}

// GetMailed returns what an owner was last told about an image's failure
// of a kind, and false when nothing was.
func GetMailed(ctx context.Context, q Querier, image, owner, kind string) (Mailed, bool, error) {
	var m Mailed
	var at int64
	err := q.QueryRow(ctx, `SELECT fingerprint, sent_at FROM abs_mailed WHERE image = $1 AND owner = $2 AND kind = $3`,
		image, owner, kind).Scan(&m.Fingerprint, &at)
	if err == ErrNotFound {
		return Mailed{}, false, nil
	}
	m.Sent = fromNanos(at)
	return m, err == nil, err
}

// SetMailed records that an owner was told about an image's failure.
func SetMailed(ctx context.Context, q Querier, image, owner, kind, fingerprint string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_mailed (image, owner, kind, fingerprint, sent_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (image, owner, kind) DO UPDATE SET fingerprint = excluded.fingerprint, sent_at = excluded.sent_at`,
		image, owner, kind, fingerprint, nanos(now))
	return err
}

// ClearMailed forgets the failures of a kind told about an image (to
// every owner): the image recovered, so the same failure coming back is
// news again. It reports how many records it removed.
func ClearMailed(ctx context.Context, q Querier, image, kind string) (int64, error) {
	return q.Exec(ctx, `DELETE FROM abs_mailed WHERE image = $1 AND kind = $2`, image, kind)
}

// RebuildRun is one finished run of a rebuild that a later cycle ran
// again (ReviveRebuild): the report of the cycle it ran in keeps it.
type RebuildRun struct {
	Rebuild   string
	Attempt   int
	Cycle     string
	State     string
	Detail    string
	RetriedBy string // the cycle that runs the rebuild again
	At        time.Time
}

// RecordRun keeps a rebuild's finished run before it runs again.
func RecordRun(ctx context.Context, q Querier, r RebuildRun) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_rebuild_run (rebuild, attempt, cycle, state, detail, retried_by, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rebuild, attempt) DO NOTHING`,
		r.Rebuild, r.Attempt, r.Cycle, r.State, r.Detail, r.RetriedBy, nanos(r.At))
	return err
}

// Runs returns the earlier runs of rebuilds that ran in cycle and were run
// again by a later cycle, by rebuild and attempt.
func Runs(ctx context.Context, q Querier, cycle string) ([]RebuildRun, error) {
	rows, err := q.Query(ctx, `SELECT rebuild, attempt, cycle, state, detail, retried_by, at FROM abs_rebuild_run
		WHERE cycle = $1 ORDER BY rebuild, attempt`, cycle)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RebuildRun
	for rows.Next() {
		var r RebuildRun
		var attempt, at int64
		if err := rows.Scan(&r.Rebuild, &attempt, &r.Cycle, &r.State, &r.Detail, &r.RetriedBy, &at); err != nil {
			return nil, err
		}
		r.Attempt, r.At = int(attempt), fromNanos(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
