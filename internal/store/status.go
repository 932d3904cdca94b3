package store

import (
	"context"
	"time"
)

// ManagedDigest returns the digest a managed image resolved to last, or
// ErrNotFound.
func ManagedDigest(ctx context.Context, q Querier, name string) (string, error) {
	var d string
	err := q.QueryRow(ctx, `SELECT digest FROM abs_managed WHERE name = $1`, name).Scan(&d)
	return d, err
}

// FirstGraded returns when an image was first graded at digest (zero when
// it never was).
func FirstGraded(ctx context.Context, q Querier, image, digest string) (time.Time, error) {
	var at int64
	err := q.QueryRow(ctx, `SELECT COALESCE(MIN(at), 0) FROM abs_grade WHERE image = $1 AND digest = $2`, image, digest).Scan(&at)
	return fromNanos(at), err
}

// ImageRebuilds returns one page of an image's rebuilds, newest first, and
// how many it has in all.
func ImageRebuilds(ctx context.Context, q Querier, image string, limit, offset int) ([]Rebuild, int, error) {
	var total int64
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_rebuild WHERE image = $1`, image).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= int(total) {
		return nil, int(total), nil
	}
	rs, err := queryRebuilds(ctx, q, `SELECT `+rebuildCols+` FROM abs_rebuild WHERE image = $1
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`, image, limit, offset)
	return rs, int(total), err
}

// CycleRow is one cycle with the count of its rebuilds and of those that
// failed.
type CycleRow struct {
	Cycle
	Rebuilds, Failed int
}

// Cycles returns one page of the cycles, newest first, with their rebuild
// counts, and how many there are in all.
func Cycles(ctx context.Context, q Querier, limit, offset int) ([]CycleRow, int, error) {
	var total int64
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_cycle`).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= int(total) {
		return nil, int(total), nil
	}
	rows, err := q.Query(ctx, `SELECT id, cause, advisory, dry_run, state, started_at, finished_at FROM abs_cycle
		ORDER BY started_at DESC, id DESC LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	var out []CycleRow
	for rows.Next() {
		var c CycleRow
		var dry, st, fin int64
		if err := rows.Scan(&c.ID, &c.Cause, &c.Advisory, &dry, &c.State, &st, &fin); err != nil {
			rows.Close()
			return nil, 0, err
		}
		c.DryRun, c.Started, c.Finished = dry != 0, fromNanos(st), fromNanos(fin)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, int(total), err
	}
	// The counts of this page's cycles only, through the cycle index.
	args := []any{StateFailed}
	for _, c := range out {
		args = append(args, c.ID)
	}
	crows, err := q.Query(ctx, `SELECT cycle, COUNT(*), CAST(SUM(CASE WHEN state = $1 THEN 1 ELSE 0 END) AS BIGINT)
		FROM abs_rebuild WHERE cycle IN (`+placeholders(2, len(out))+`) GROUP BY cycle`, args...)
	if err != nil {
		return nil, 0, err
	}
	defer crows.Close()
	idx := map[string]int{}
	for i, c := range out {
		idx[c.ID] = i
	}
	for crows.Next() {
		var id string
		var n, failed int64
		if err := crows.Scan(&id, &n, &failed); err != nil {
			return nil, 0, err
		}
		if i, ok := idx[id]; ok {
			out[i].Rebuilds, out[i].Failed = int(n), int(failed)
		}
	}
	return out, int(total), crows.Err()
}

// CycleCounts returns the rebuild counts of one cycle.
func CycleCounts(ctx context.Context, q Querier, cycle string) (rebuilds, failed int, err error) {
	var n, f int64
	err = q.QueryRow(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN state = $2 THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM abs_rebuild WHERE cycle = $1`, cycle, StateFailed).Scan(&n, &f)
	return int(n), int(f), err
}

// LatestGrades returns every image's most recent grade record.
func LatestGrades(ctx context.Context, q Querier) (map[string]GradeRecord, error) {
	rows, err := q.Query(ctx, `SELECT g.image, g.digest, g.grade, g.at, g.next_drop FROM abs_grade g
		JOIN (SELECT image, MAX(at) AS at FROM abs_grade GROUP BY image) m ON m.image = g.image AND m.at = g.at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]GradeRecord{}
	for rows.Next() {
		var r GradeRecord
		var at, drop int64
		if err := rows.Scan(&r.Image, &r.Digest, &r.Grade, &at, &drop); err != nil {
			return nil, err
		}
		r.At, r.NextDrop = fromNanos(at), fromNanos(drop)
		out[r.Image] = r
	}
	return out, rows.Err()
}

// Count is one group of a GROUP BY count.
type Count struct {
	Keys  []string
	N     int
	Total float64 // a summed quantity, when the query has one
}

func counts(ctx context.Context, q Querier, keys int, sum bool, query string, args ...any) ([]Count, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		c := Count{Keys: make([]string, keys)}
		dest := make([]any, 0, keys+2)
		for i := range c.Keys {
			dest = append(dest, &c.Keys[i])
		}
		var n, total int64
		dest = append(dest, &n)
		if sum {
			dest = append(dest, &total)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		c.N, c.Total = int(n), float64(total)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RebuildCounts counts the rebuilds by state and method.
func RebuildCounts(ctx context.Context, q Querier) ([]Count, error) {
	return counts(ctx, q, 2, false, `SELECT state, method, COUNT(*) FROM abs_rebuild GROUP BY state, method ORDER BY state, method`)
}

// CycleDurations counts the finished cycles (dry runs left out) by state,
// with the sum of their durations in nanoseconds as Total.
func CycleDurations(ctx context.Context, q Querier) ([]Count, error) {
	return counts(ctx, q, 1, true, `SELECT state, COUNT(*), CAST(COALESCE(SUM(finished_at - started_at), 0) AS BIGINT) FROM abs_cycle
		WHERE finished_at > 0 AND dry_run = 0 GROUP BY state ORDER BY state`)
}

// CycleStates counts every cycle (dry runs left out) by state.
func CycleStates(ctx context.Context, q Querier) ([]Count, error) {
	return counts(ctx, q, 1, false, `SELECT state, COUNT(*) FROM abs_cycle WHERE dry_run = 0 GROUP BY state ORDER BY state`)
}

// NotificationCounts counts the notifications by state.
func NotificationCounts(ctx context.Context, q Querier) ([]Count, error) {
	return counts(ctx, q, 1, false, `SELECT state, COUNT(*) FROM abs_notification GROUP BY state ORDER BY state`)
}

// JobCounts counts the River jobs not yet finished by kind and state.
func JobCounts(ctx context.Context, q Querier) ([]Count, error) {
	return counts(ctx, q, 2, false, `SELECT kind, state, COUNT(*) FROM river_job
		WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled') GROUP BY kind, state ORDER BY kind, state`)
}

// NewestAdvisory returns when the newest stored advisory was issued or
// last updated (zero when none is stored).
func NewestAdvisory(ctx context.Context, q Querier) (time.Time, error) {
	var issued, modified int64
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(issued), 0), COALESCE(MAX(modified), 0) FROM abs_advisory`).Scan(&issued, &modified)
	return fromNanos(max(issued, modified)), err
}
