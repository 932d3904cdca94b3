package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Dialect names the SQL database behind a DB.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrNoSQLiteDriver is returned by OpenSQLite when no database/sql driver
// named "sqlite" is registered: the package links none itself, so that the
// embedding program chooses its own.
var ErrNoSQLiteDriver = errors.New(`store: no database/sql driver named "sqlite" is registered`)

// Querier runs statements. It is implemented by DB and by Tx, so the
// domain operations work inside or outside a transaction. Statements use
// $1, $2… placeholders, which both SQLite and PostgreSQL accept.
type Querier interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a statement that returns rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a statement that returns at most one row; its Scan
	// returns ErrNotFound when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is a result set; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// Tx is a database transaction. Native returns the driver's own
// transaction (*sql.Tx for SQLite, pgx.Tx for PostgreSQL) so that the job
// engine can insert jobs in the same transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	Native() any
}

// DB is the orchestrator's database: River's tables and the domain state
// live side by side in it.
type DB struct {
	dialect Dialect
	sqlDB   *sql.DB
	pool    *pgxpool.Pool
	owned   bool // opened here, so Close closes it
}

// FromSQL wraps a SQLite database the caller opened (with any driver
// compatible with modernc.org/sqlite); Close leaves it open.
func FromSQL(db *sql.DB) *DB { return &DB{dialect: SQLite, sqlDB: db} }

// FromPool wraps a PostgreSQL pool the caller opened; Close leaves it open.
func FromPool(pool *pgxpool.Pool) *DB { return &DB{dialect: Postgres, pool: pool} }

// OpenSQLite opens (creating if needed) the SQLite database at path, or an
// in-memory one for ":memory:". It allows one open connection, as River's
// SQLite driver advises.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if !slices.Contains(sql.Drivers(), "sqlite") {
		return nil, ErrNoSQLiteDriver
	}
	dsn := path
	if path != ":memory:" {
		dsn = "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	return &DB{dialect: SQLite, sqlDB: db, owned: true}, nil
}

// OpenPostgres connects to PostgreSQL with a pgx connection string.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", redactDSNError(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open postgres: %w", redactDSNError(err))
	}
	return &DB{dialect: Postgres, pool: pool, owned: true}, nil
}

func redactDSNError(err error) error {
	// pgx errors may quote the connection string; keep only the cause.
	var pgErr *pgconn.ConnectError
	if errors.As(err, &pgErr) {
		return errors.New("cannot connect to server")
	}
	if strings.Contains(err.Error(), "password") {
		return errors.New("cannot parse connection string")
	}
	return err
}

// Dialect reports which database this is.
func (d *DB) Dialect() Dialect { return d.dialect }

// SQL returns the *sql.DB of a SQLite database, nil otherwise.
func (d *DB) SQL() *sql.DB { return d.sqlDB }

// Pool returns the pgx pool of a PostgreSQL database, nil otherwise.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes a database this package opened; one the caller passed in
// (FromSQL, FromPool) stays open.
func (d *DB) Close() error {
	if !d.owned {
		return nil
	}
	if d.sqlDB != nil {
		return d.sqlDB.Close()
	}
	d.pool.Close()
	return nil
}

// Begin starts a transaction.
func (d *DB) Begin(ctx context.Context) (Tx, error) {
	if d.sqlDB != nil {
		tx, err := d.sqlDB.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("store: begin: %w", err)
		}
		return sqlTx{tx}, nil
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return pgxTx{tx}, nil
}

// InTx runs fn in a transaction, committing when fn returns nil.
func (d *DB) InTx(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := d.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Exec implements Querier.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if d.sqlDB != nil {
		return sqlExec(ctx, d.sqlDB, query, args)
	}
	return pgxExec(ctx, d.pool, query, args)
}

// Query implements Querier.
func (d *DB) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	if d.sqlDB != nil {
		return sqlQuery(ctx, d.sqlDB, query, args)
	}
	return pgxQuery(ctx, d.pool, query, args)
}

// QueryRow implements Querier.
func (d *DB) QueryRow(ctx context.Context, query string, args ...any) Row {
	if d.sqlDB != nil {
		return sqlRow{d.sqlDB.QueryRowContext(ctx, query, args...)}
	}
	return pgxRow{d.pool.QueryRow(ctx, query, args...)}
}

type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func sqlExec(ctx context.Context, r sqlRunner, q string, args []any) (int64, error) {
	res, err := r.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return n, nil
}

func sqlQuery(ctx context.Context, r sqlRunner, q string, args []any) (Rows, error) {
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlRow struct{ *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlExec(ctx, t.tx, q, args)
}
func (t sqlTx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	return sqlQuery(ctx, t.tx, q, args)
}
func (t sqlTx) QueryRow(ctx context.Context, q string, args ...any) Row {
	return sqlRow{t.tx.QueryRowContext(ctx, q, args...)}
}
func (t sqlTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }
func (t sqlTx) Native() any                    { return t.tx }

type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func pgxExec(ctx context.Context, r pgxRunner, q string, args []any) (int64, error) {
	tag, err := r.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func pgxQuery(ctx context.Context, r pgxRunner, q string, args []any) (Rows, error) {
	rows, err := r.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() { r.Rows.Close() }

type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

type pgxTx struct{ tx pgx.Tx }

func (t pgxTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgxExec(ctx, t.tx, q, args)
}
func (t pgxTx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	return pgxQuery(ctx, t.tx, q, args)
}
func (t pgxTx) QueryRow(ctx context.Context, q string, args ...any) Row {
	return pgxRow{t.tx.QueryRow(ctx, q, args...)}
}
func (t pgxTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgxTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }
func (t pgxTx) Native() any                        { return t.tx }

// WrapTx wraps a transaction the caller began on the database (a *sql.Tx
// for SQLite, a pgx.Tx for PostgreSQL), so that domain operations and job
// inserts join it. The caller commits or rolls it back.
func WrapTx(native any) (Tx, error) {
	switch t := native.(type) {
	case *sql.Tx:
		return sqlTx{t}, nil
	case pgx.Tx:
		return pgxTx{t}, nil
	}
	return nil, fmt.Errorf("store: a transaction of type %T is neither *sql.Tx nor pgx.Tx", native)
}
