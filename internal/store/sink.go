package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openabs/abs/advisory"
)

// Sink returns q as an advisory.Sink, so that advisory.ApplyBatch, the one
// implementation of the sync rules, writes a batch to the database; now
// stamps what it stores.
func Sink(q Querier, now time.Time) advisory.Sink { return sink{q: q, now: now} }

type sink struct {
	q   Querier
	now time.Time
}

var _ advisory.Sink = sink{}

func (s sink) Updated(ctx context.Context, id string, vex bool) (time.Time, bool, error) {
	query := `SELECT modified FROM abs_advisory WHERE id = $1`
	if vex {
		query = `SELECT modified FROM abs_vex WHERE cve = $1`
	}
	var m int64
	err := s.q.QueryRow(ctx, query, id).Scan(&m)
	if err == ErrNotFound {
		return time.Time{}, false, nil
	}
	return fromNanos(m), err == nil, err
}

func (s sink) PutAdvisory(ctx context.Context, a advisory.Advisory) (bool, error) {
	return PutAdvisory(ctx, s.q, a, s.now)
}

func (s sink) PutVEX(ctx context.Context, v advisory.VEX) (bool, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	var old string
	switch err := s.q.QueryRow(ctx, `SELECT doc FROM abs_vex WHERE cve = $1`, v.CVE).Scan(&old); {
	case err == ErrNotFound:
	case err != nil:
		return false, err
	case old == string(doc):
		return false, nil
	}
	_, err = s.q.Exec(ctx, `INSERT INTO abs_vex (cve, source, modified, doc, synced_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (cve) DO UPDATE SET source = excluded.source, modified = excluded.modified, doc = excluded.doc,
		synced_at = excluded.synced_at`, v.CVE, v.Source, nanos(v.Updated), string(doc), nanos(s.now))
	return err == nil, err
}

func (s sink) IDs(ctx context.Context, source string) ([]string, []string, error) {
	advs, err := AdvisoryIDsOfSource(ctx, s.q, source)
	if err != nil {
		return nil, nil, err
	}
	vex, err := strings1(ctx, s.q, `SELECT cve FROM abs_vex WHERE source = $1 ORDER BY cve`, source)
	return advs, vex, err
}

func (s sink) Delete(ctx context.Context, id string) (bool, error) {
	if _, err := s.q.Exec(ctx, `DELETE FROM abs_advisory_package WHERE advisory = $1`, id); err != nil {
		return false, err
	}
	a, err := s.q.Exec(ctx, `DELETE FROM abs_advisory WHERE id = $1`, id)
	if err != nil {
		return false, err
	}
	v, err := s.q.Exec(ctx, `DELETE FROM abs_vex WHERE cve = $1`, id)
	return a+v > 0, err
}

// VEX returns every stored VEX document, ordered by CVE.
func VEX(ctx context.Context, q Querier) ([]advisory.VEX, error) {
	docs, err := strings1(ctx, q, `SELECT doc FROM abs_vex ORDER BY cve`)
	if err != nil {
		return nil, err
	}
	out := make([]advisory.VEX, 0, len(docs))
	for _, d := range docs {
		var v advisory.VEX
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			return nil, fmt.Errorf("store: vex: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

func strings1(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
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

// Children returns the rebuilds planned on a parent rebuild.
func Children(ctx context.Context, q Querier, parent string) ([]Rebuild, error) {
	return queryRebuilds(ctx, q, `SELECT `+rebuildCols+` FROM abs_rebuild WHERE parent = $1 ORDER BY created_at, id`, parent)
}

// LockNotification locks a notification's row until tx ends, so that two
// transactions finishing the last rebuilds of one owner see each other's
// work (PostgreSQL; SQLite runs one writer at a time already).
func LockNotification(ctx context.Context, tx Tx, id string) error {
	if _, ok := tx.Native().(pgx.Tx); !ok {
		return nil
	}
	var got string
	err := tx.QueryRow(ctx, `SELECT id FROM abs_notification WHERE id = $1 FOR UPDATE`, id).Scan(&got)
	if err == ErrNotFound {
		return nil
	}
	return err
}

// AdvisoryDoc returns the stored document of an advisory, and false when
// none is stored.
func AdvisoryDoc(ctx context.Context, q Querier, id string) (string, bool, error) {
	return doc(ctx, q, `SELECT doc FROM abs_advisory WHERE id = $1`, id)
}

// VEXDoc returns the stored VEX document of a CVE, and false when none is
// stored.
func VEXDoc(ctx context.Context, q Querier, cve string) (string, bool, error) {
	return doc(ctx, q, `SELECT doc FROM abs_vex WHERE cve = $1`, cve)
}

func doc(ctx context.Context, q Querier, query, id string) (string, bool, error) {
	var d string
	err := q.QueryRow(ctx, query, id).Scan(&d)
	if err == ErrNotFound {
		return "", false, nil
	}
	return d, err == nil, err
}
