package abs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/openabs/abs/internal/store"
)

// engine hides River's client type parameter (the driver's transaction
// type) from the rest of the orchestrator, so that one code path serves
// SQLite and PostgreSQL.
type engine interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	// InsertTx inserts a job in tx and reports whether it was inserted
	// (false when a unique job with the same arguments exists).
	InsertTx(ctx context.Context, tx store.Tx, args river.JobArgs, opts *river.InsertOpts) (bool, error)
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error)
	// Wake makes a scheduled (snoozed) job available now; running
	// reports a job still running, which it leaves alone.
	Wake(ctx context.Context, id int64) (running bool, err error)
}

func (e *riverEngine[TTx]) Wake(ctx context.Context, id int64) (bool, error) {
	row, err := e.client.JobRetry(ctx, id)
	if err != nil {
		return false, err
	}
	return row.State == rivertype.JobStateRunning, nil
}

type riverEngine[TTx any] struct {
	client *river.Client[TTx]
}

func (e *riverEngine[TTx]) Start(ctx context.Context) error { return e.client.Start(ctx) }
func (e *riverEngine[TTx]) Stop(ctx context.Context) error  { return e.client.Stop(ctx) }
func (e *riverEngine[TTx]) StopAndCancel(ctx context.Context) error {
	return e.client.StopAndCancel(ctx)
}

func (e *riverEngine[TTx]) InsertTx(ctx context.Context, tx store.Tx, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
	native, ok := tx.Native().(TTx)
	if !ok {
		return false, fmt.Errorf("abs: transaction of type %T does not belong to this job engine", tx.Native())
	}
	res, err := e.client.InsertTx(ctx, native, args, opts)
	if err != nil {
		return false, fmt.Errorf("abs: enqueue %s: %w", args.Kind(), err)
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

func (e *riverEngine[TTx]) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
	res, err := e.client.Insert(ctx, args, opts)
	if err != nil {
		return false, fmt.Errorf("abs: enqueue %s: %w", args.Kind(), err)
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

// Queues.
const (
	queueDefault = river.QueueDefault
	queueBuild   = "build"
)

// backoff retries failed jobs after base·2^(attempt-1), at most max.
type backoff struct{ base, max time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base
	for i := 1; i < job.Attempt && d < b.max; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, b.max))
}

func newEngine(db *store.DB, cfg *river.Config) (engine, error) {
	switch db.Dialect() {
	case store.SQLite:
		c, err := river.NewClient[*sql.Tx](riversqlite.New(db.SQL()), cfg)
		if err != nil {
			return nil, fmt.Errorf("abs: job engine: %w", err)
		}
		return &riverEngine[*sql.Tx]{client: c}, nil
	case store.Postgres:
		c, err := river.NewClient[pgx.Tx](riverpgxv5.New(db.Pool()), cfg)
		if err != nil {
			return nil, fmt.Errorf("abs: job engine: %w", err)
		}
		return &riverEngine[pgx.Tx]{client: c}, nil
	}
	return nil, fmt.Errorf("abs: unknown database dialect %q", db.Dialect())
}

// riverLogger passes River's warnings and errors to the orchestrator's
// logger; River's routine records stay out.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{h: l.Handler(), min: slog.LevelWarn}).With("component", "river")
}

type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(a), min: m.min}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{h: m.h.WithGroup(g), min: m.min} }

// Job kinds, as stored in River's job table.
const (
	KindCycle   = "abs_cycle"
	KindRebuild = "abs_rebuild"
	KindPublish = "abs_publish"
	KindNotify  = "abs_notify"
)

const maxAttempts = 8

// cycleArgs runs one pipeline cycle: sync, scan, grade, plan.
type cycleArgs struct {
	Cycle    string `json:"cycle" river:"unique"`
	Cause    string `json:"cause"`
	Advisory string `json:"advisory,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
	// Rebuild names an image rebuilt on request (RebuildNow).
	Rebuild string `json:"rebuild,omitempty"`
}

func (cycleArgs) Kind() string { return KindCycle }

func (cycleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// rebuildArgs builds, rescans and verifies one image. Its id is the
// rebuild record's, which is unique per (image digest, cause, inputs);
// Attempt tells the runs of one rebuild in later cycles apart.
type rebuildArgs struct {
	Rebuild string `json:"rebuild" river:"unique"`
	Image   string `json:"image"`
	Attempt int    `json:"attempt,omitempty" river:"unique"`
}

func (rebuildArgs) Kind() string { return KindRebuild }

func (rebuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueBuild, MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// publishArgs publishes one verified rebuild.
type publishArgs struct {
	Rebuild string `json:"rebuild" river:"unique"`
	Image   string `json:"image"`
}

func (publishArgs) Kind() string { return KindPublish }

func (publishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// notifyArgs sends one owner the message of one cycle.
type notifyArgs struct {
	Notification string `json:"notification" river:"unique"`
	Cycle        string `json:"cycle"`
	Owner        string `json:"owner"`
	// Retry is the later cycle that retries an undelivered notification.
	Retry string `json:"retry,omitempty" river:"unique"`
}

func (notifyArgs) Kind() string { return KindNotify }

func (notifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
