package abs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openabs/abs/internal/store"
)

// Database holds River's job tables and the orchestrator's state. SQLite
// (one file, nothing to install) is the embedded default; PostgreSQL lets
// several orchestrator processes share the work.
//
// The package links no SQL driver: OpenSQLite and NewSQLite use the
// database/sql driver registered as "sqlite" by the program (for example
// by importing github.com/openabs/abs/rpmscan/sqlitedriver, which rpmscan
// needs for sqlite rpmdbs anyway), and PostgreSQL goes through pgx, which
// River's driver uses.
type Database struct {
	db *store.DB
}

// ErrNoSQLiteDriver is returned by OpenSQLite when the program registered
// no database/sql driver named "sqlite". Import
// github.com/openabs/abs/rpmscan/sqlitedriver (modernc.org/sqlite), or a
// driver of your own under that name.
var ErrNoSQLiteDriver = errors.New(`abs: no database/sql driver named "sqlite" is registered (import _ "github.com/openabs/abs/rpmscan/sqlitedriver")`)

// OpenSQLite opens or creates the SQLite database file at path, with a
// busy timeout, WAL journaling and one connection, as River's SQLite
// driver advises. Close closes it.
func OpenSQLite(ctx context.Context, path string) (*Database, error) {
	db, err := store.OpenSQLite(ctx, path)
	if errors.Is(err, store.ErrNoSQLiteDriver) {
		return nil, ErrNoSQLiteDriver
	}
	if err != nil {
		return nil, fmt.Errorf("abs: %w", err)
	}
	return &Database{db: db}, nil
}

// OpenPostgres connects to PostgreSQL (a pgx connection string). Close
// closes the pool.
func OpenPostgres(ctx context.Context, dsn string) (*Database, error) {
	db, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("abs: %w", err)
	}
	return &Database{db: db}, nil
}

// NewSQLite uses a SQLite database the caller opened, as River's
// riversqlite.New does: the tables go beside the caller's own, and the
// caller's transactions can enqueue cycles. Limit it to one open
// connection (db.SetMaxOpenConns(1)) and set a busy timeout. Close leaves
// db open.
func NewSQLite(db *sql.DB) *Database { return &Database{db: store.FromSQL(db)} }

// NewPostgres uses a pgx pool the caller opened, as River's
// riverpgxv5.New does. Close leaves the pool open.
func NewPostgres(pool *pgxpool.Pool) *Database { return &Database{db: store.FromPool(pool)} }

// Migrate brings River's and the orchestrator's schemas up to date. New
// calls it unless WithAutoMigrate(false) says that a deployment step runs
// it instead. It is safe to call from several processes at once.
func (d *Database) Migrate(ctx context.Context) error { return d.db.Migrate(ctx) }

// Close closes a database opened by OpenSQLite or OpenPostgres; one the
// caller passed to NewSQLite or NewPostgres stays open.
func (d *Database) Close() error { return d.db.Close() }
