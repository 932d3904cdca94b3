package store

import (
	"context"
	"math"
	"time"
)

// Queue steps and states (abs_queue).
const (
	StepBuild   = "build"
	StepPublish = "publish"

	// QueueHeld: the step waits for a pause, a freeze window or a soak
	// time; it holds no place in the budget order.
	QueueHeld = "held"
	// QueueWaiting: the step waits for a build slot, in priority order.
	QueueWaiting = "waiting"
	// QueueRunning: the step holds a build slot.
	QueueRunning = "running"
)

// QueueEntry is one rebuild step waiting for, or holding, its turn.
type QueueEntry struct {
	Rebuild  string
	Step     string
	Job      int64
	Image    string
	Project  string
	Registry string
	// Critical sorts first; then the soonest grade drop (DropAt, zero:
	// none), then the oldest entry.
	Critical bool
	DropAt   time.Time
	State    string
	Why      string
	Queued   time.Time
	Started  time.Time
}

// pgQueueLock is the PostgreSQL transaction lock that serialises build
// slot decisions across replicas.
const pgQueueLock = 0x6f70656e61627371 // "openabsq"

// LockQueue takes the lock under which build slots are granted, for the
// rest of tx. On PostgreSQL it is an advisory transaction lock shared by
// every replica; a SQLite database is written by one process whose
// transactions are already serialised.
func LockQueue(ctx context.Context, tx Tx, d Dialect) error {
	if d != Postgres {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgQueueLock))
	return err
}

func dropNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// PutQueueEntry records or updates an entry; an entry already running
// keeps its state and start time, an existing entry keeps its queue time.
func PutQueueEntry(ctx context.Context, q Querier, e QueueEntry) error {
	crit := 0
	if e.Critical {
		crit = 1
	}
	_, err := q.Exec(ctx, `INSERT INTO abs_queue (rebuild, step, job, image, project, registry, critical, drop_at, state, why, queued_at, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)
		ON CONFLICT (rebuild, step) DO UPDATE SET job = excluded.job, critical = excluded.critical, drop_at = excluded.drop_at,
			why = excluded.why,
			state = CASE WHEN abs_queue.state = 'running' THEN abs_queue.state ELSE excluded.state END`,
		e.Rebuild, e.Step, e.Job, e.Image, e.Project, e.Registry, crit, dropNanos(e.DropAt), e.State, e.Why, nanos(e.Queued))
	return err
}

// GetQueueEntry returns one entry, or ErrNotFound.
func GetQueueEntry(ctx context.Context, q Querier, rebuild, step string) (QueueEntry, error) {
	rows, err := queryQueue(ctx, q, `WHERE rebuild = $1 AND step = $2`, rebuild, step)
	if err != nil {
		return QueueEntry{}, err
	}
	if len(rows) == 0 {
		return QueueEntry{}, ErrNotFound
	}
	return rows[0], nil
}

// StartQueueEntry marks an entry as holding a build slot.
func StartQueueEntry(ctx context.Context, q Querier, rebuild, step string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE abs_queue SET state = 'running', why = '', started_at = $3 WHERE rebuild = $1 AND step = $2`,
		rebuild, step, nanos(now))
	return err
}

// DeleteQueueEntry removes an entry (the step ran, or ended).
func DeleteQueueEntry(ctx context.Context, q Querier, rebuild, step string) error {
	_, err := q.Exec(ctx, `DELETE FROM abs_queue WHERE rebuild = $1 AND step = $2`, rebuild, step)
	return err
}

// RunningBuilds returns the entries holding a build slot, first removing
// those whose rebuild is over (a process that died before releasing its
// slot).
func RunningBuilds(ctx context.Context, q Querier) ([]QueueEntry, error) {
	if _, err := q.Exec(ctx, `DELETE FROM abs_queue WHERE step = 'build' AND state = 'running' AND rebuild IN (
			SELECT r.id FROM abs_rebuild r JOIN abs_queue s ON s.rebuild = r.id
			WHERE s.step = 'build' AND s.state = 'running' AND r.state IN ('published', 'failed', 'skipped'))`); err != nil {
		return nil, err
	}
	return queryQueue(ctx, q, `WHERE step = 'build' AND state = 'running'`)
}

// WaitingBuilds returns up to limit entries waiting for a build slot, in
// the order they are served, skipping the first offset.
func WaitingBuilds(ctx context.Context, q Querier, limit, offset int) ([]QueueEntry, error) {
	return queryQueue(ctx, q, `WHERE step = 'build' AND state = 'waiting' ORDER BY critical DESC, drop_at, queued_at, rebuild LIMIT $1 OFFSET $2`,
		limit, offset)
}

// WaitingAhead counts the entries waiting for a build slot that are
// served before e.
func WaitingAhead(ctx context.Context, q Querier, e QueueEntry) (int, error) {
	crit := 0
	if e.Critical {
		crit = 1
	}
	var n int64
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_queue WHERE step = 'build' AND state = 'waiting' AND (critical > $1
		OR critical = $1 AND (drop_at < $2 OR drop_at = $2 AND (queued_at < $3 OR queued_at = $3 AND rebuild < $4)))`,
		crit, dropNanos(e.DropAt), nanos(e.Queued), e.Rebuild).Scan(&n)
	return int(n), err
}

// GrantedBuilds returns the entries granted a build slot whose build has
// not begun yet (the rebuild is still planned): their jobs were woken,
// or are about to be.
func GrantedBuilds(ctx context.Context, q Querier) ([]QueueEntry, error) {
	return queryQueue(ctx, q, `WHERE step = 'build' AND state = 'running'
		AND rebuild IN (SELECT id FROM abs_rebuild WHERE state = 'planned')`)
}

// QueueEntries returns every entry.
func QueueEntries(ctx context.Context, q Querier) ([]QueueEntry, error) {
	return queryQueue(ctx, q, ``)
}

// HeldEntries returns the held entries of one project ("" for all).
func HeldEntries(ctx context.Context, q Querier, project string) ([]QueueEntry, error) {
	if project == "" {
		return queryQueue(ctx, q, `WHERE state = 'held'`)
	}
	return queryQueue(ctx, q, `WHERE state = 'held' AND project = $1`, project)
}

// QueueOfCycle returns the entries of a cycle's rebuilds.
func QueueOfCycle(ctx context.Context, q Querier, cycle string) ([]QueueEntry, error) {
	return queryQueue(ctx, q, `WHERE rebuild IN (SELECT id FROM abs_rebuild WHERE cycle = $1)`, cycle)
}

// QueueDepth counts the entries of a step by state.
func QueueDepth(ctx context.Context, q Querier, step string) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT q.state, COUNT(*) FROM abs_queue q JOIN abs_rebuild r ON r.id = q.rebuild
		WHERE q.step = $1 AND r.state NOT IN ('published', 'failed', 'skipped') GROUP BY q.state`, step)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = int(n)
	}
	return out, rows.Err()
}

func queryQueue(ctx context.Context, q Querier, where string, args ...any) ([]QueueEntry, error) {
	rows, err := q.Query(ctx, `SELECT rebuild, step, job, image, project, registry, critical, drop_at, state, why, queued_at, started_at
		FROM abs_queue `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []QueueEntry
	for rows.Next() {
		var e QueueEntry
		var crit, drop, queued, started int64
		if err := rows.Scan(&e.Rebuild, &e.Step, &e.Job, &e.Image, &e.Project, &e.Registry, &crit, &drop, &e.State, &e.Why, &queued, &started); err != nil {
			return nil, err
		}
		e.Critical = crit != 0
		if drop != math.MaxInt64 {
			e.DropAt = fromNanos(drop)
		}
		e.Queued, e.Started = fromNanos(queued), fromNanos(started)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Pause switches.

// SetPause turns a pause switch on (scope "" pauses every project).
func SetPause(ctx context.Context, q Querier, scope, reason string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO abs_pause (scope, reason, paused_at) VALUES ($1, $2, $3)
		ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason, paused_at = excluded.paused_at`, scope, reason, nanos(now))
	return err
}

// ClearPause turns a pause switch off and reports whether it was on.
func ClearPause(ctx context.Context, q Querier, scope string) (bool, error) {
	n, err := q.Exec(ctx, `DELETE FROM abs_pause WHERE scope = $1`, scope)
	return n > 0, err
}

// Pauses returns the pause switches that are on, scope to reason.
func Pauses(ctx context.Context, q Querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT scope, reason FROM abs_pause`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var s, r string
		if err := rows.Scan(&s, &r); err != nil {
			return nil, err
		}
		out[s] = r
	}
	return out, rows.Err()
}

// NewestSync returns when the most recently stored advisory was stored
// (zero when none).
func NewestSync(ctx context.Context, q Querier) (time.Time, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(synced_at), 0) FROM abs_advisory`).Scan(&n); err != nil {
		return time.Time{}, err
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return fromNanos(n), nil
}

// Pushes returns an image's recorded pushes, newest first.
func Pushes(ctx context.Context, q Querier, image string) ([]Push, error) {
	rows, err := q.Query(ctx, `SELECT rebuild, digest, tags, at FROM abs_push WHERE image = $1 ORDER BY at DESC, rebuild DESC`, image)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Push
	for rows.Next() {
		p := Push{Image: image}
		var tags string
		var at int64
		if err := rows.Scan(&p.Rebuild, &p.Digest, &tags, &at); err != nil {
			return nil, err
		}
		p.Tags, p.At = splitKey(tags), fromNanos(at)
		out = append(out, p)
	}
	return out, rows.Err()
}
