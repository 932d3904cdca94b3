package store

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Migration is one versioned change to the domain schema. Versions are
// applied in order, each in its own transaction, and recorded in
// abs_migration; a released version is never edited, only followed.
type Migration struct {
	Version int
	Name    string
	// SQL holds statements for both dialects; Postgres, when set,
	// replaces it on PostgreSQL.
	SQL      []string
	Postgres []string
}

// Migrations is the domain schema's history.
var Migrations = []Migration{
	{
		Version: 1,
		Name:    "initial domain state",
		SQL: []string{
			`CREATE TABLE abs_cursor (
				source     TEXT PRIMARY KEY,
				cursor     TEXT NOT NULL,
				updated_at BIGINT NOT NULL)`,
			`CREATE TABLE abs_advisory (
				id        TEXT PRIMARY KEY,
				source    TEXT NOT NULL,
				severity  INTEGER NOT NULL,
				issued    BIGINT NOT NULL,
				modified  BIGINT NOT NULL,
				doc       TEXT NOT NULL,
				synced_at BIGINT NOT NULL)`,
			`CREATE TABLE abs_advisory_package (
				advisory TEXT NOT NULL,
				name     TEXT NOT NULL,
				PRIMARY KEY (advisory, name))`,
			`CREATE INDEX abs_advisory_package_name ON abs_advisory_package (name)`,
			`CREATE INDEX abs_advisory_source ON abs_advisory (source)`,
			`CREATE TABLE abs_layer (
				digest     TEXT PRIMARY KEY,
				packages   TEXT NOT NULL,
				scanned_at BIGINT NOT NULL)`,
			`CREATE TABLE abs_layer_package (
				layer TEXT NOT NULL,
				seq   INTEGER NOT NULL,
				name  TEXT NOT NULL,
				pkg   TEXT NOT NULL,
				PRIMARY KEY (layer, seq))`,
			`CREATE INDEX abs_layer_package_name ON abs_layer_package (name, layer)`,
			`CREATE TABLE abs_image (
				digest      TEXT PRIMARY KEY,
				rpmdb_layer TEXT NOT NULL,
				inventory   TEXT NOT NULL,
				scanned_at  BIGINT NOT NULL)`,
			`CREATE INDEX abs_image_layer ON abs_image (rpmdb_layer)`,
			`CREATE TABLE abs_managed (
				name        TEXT PRIMARY KEY,
				digest      TEXT NOT NULL,
				resolved_at BIGINT NOT NULL)`,
			`CREATE INDEX abs_managed_digest ON abs_managed (digest)`,
			`CREATE TABLE abs_grade (
				image     TEXT NOT NULL,
				at        BIGINT NOT NULL,
				digest    TEXT NOT NULL,
				grade     TEXT NOT NULL,
				next_drop BIGINT NOT NULL,
				PRIMARY KEY (image, at))`,
			`CREATE TABLE abs_warning (
				image      TEXT NOT NULL,
				digest     TEXT NOT NULL,
				drop_at    BIGINT NOT NULL,
				grade      TEXT NOT NULL,
				created_at BIGINT NOT NULL,
				PRIMARY KEY (image, digest, drop_at))`,
			`CREATE TABLE abs_cycle (
				id          TEXT PRIMARY KEY,
				cause       TEXT NOT NULL,
				advisory    TEXT NOT NULL,
				dry_run     INTEGER NOT NULL,
				state       TEXT NOT NULL,
				plan        TEXT NOT NULL,
				started_at  BIGINT NOT NULL,
				finished_at BIGINT NOT NULL)`,
			`CREATE TABLE abs_rebuild (
				id           TEXT PRIMARY KEY,
				cycle        TEXT NOT NULL,
				image        TEXT NOT NULL,
				old_digest   TEXT NOT NULL,
				advisories   TEXT NOT NULL,
				trigger_key  TEXT NOT NULL,
				reason       TEXT NOT NULL,
				method       TEXT NOT NULL,
				parent       TEXT NOT NULL,
				state        TEXT NOT NULL,
				detail       TEXT NOT NULL,
				new_digest   TEXT NOT NULL,
				before_grade TEXT NOT NULL,
				after_grade  TEXT NOT NULL,
				created_at   BIGINT NOT NULL,
				updated_at   BIGINT NOT NULL,
				UNIQUE (image, old_digest, trigger_key))`,
			`CREATE INDEX abs_rebuild_cycle ON abs_rebuild (cycle)`,
			`CREATE TABLE abs_rebuild_log (
				rebuild TEXT NOT NULL,
				seq     INTEGER NOT NULL,
				at      BIGINT NOT NULL,
				state   TEXT NOT NULL,
				detail  TEXT NOT NULL,
				PRIMARY KEY (rebuild, seq))`,
			`CREATE TABLE abs_push (
				rebuild TEXT NOT NULL,
				image   TEXT NOT NULL,
				digest  TEXT NOT NULL,
				tags    TEXT NOT NULL,
				at      BIGINT NOT NULL,
				PRIMARY KEY (rebuild))`,
			`CREATE TABLE abs_meta (
				name  TEXT PRIMARY KEY,
				value BIGINT NOT NULL)`,
			`INSERT INTO abs_meta (name, value) VALUES ('fleet', 0)`,
			`CREATE TABLE abs_notification (
				id      TEXT PRIMARY KEY,
				cycle   TEXT NOT NULL,
				owner   TEXT NOT NULL,
				kind    TEXT NOT NULL,
				state   TEXT NOT NULL,
				summary TEXT NOT NULL,
				sent_at BIGINT NOT NULL)`,
		},
	},
	{
		Version: 2,
		Name:    "VEX documents; inventories keyed by scanner release",
		SQL: []string{
			`CREATE TABLE abs_vex (
				cve       TEXT PRIMARY KEY,
				source    TEXT NOT NULL,
				modified  BIGINT NOT NULL,
				doc       TEXT NOT NULL,
				synced_at BIGINT NOT NULL)`,
			`CREATE INDEX abs_vex_source ON abs_vex (source)`,
			`ALTER TABLE abs_image ADD COLUMN scanner TEXT NOT NULL DEFAULT ''`,
		},
	},
	{
		Version: 3,
		Name:    "rebuild attempts across cycles",
		SQL: []string{
			`ALTER TABLE abs_rebuild ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1`,
			`ALTER TABLE abs_rebuild ADD COLUMN next_attempt BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE abs_rebuild ADD COLUMN wait TEXT NOT NULL DEFAULT ''`,
			`CREATE INDEX abs_rebuild_image ON abs_rebuild (image, state)`,
		},
	},
	{
		Version: 4,
		Name:    "source commits, mailed failures, runs of retried rebuilds",
		SQL: []string{
			`CREATE TABLE abs_source_commit (
				ref_key     TEXT PRIMARY KEY,
				commit_hash TEXT NOT NULL,
				resolved_at BIGINT NOT NULL)`,
			`CREATE TABLE abs_mailed (
				image       TEXT NOT NULL,
				owner       TEXT NOT NULL,
				kind        TEXT NOT NULL,
				fingerprint TEXT NOT NULL,
				sent_at     BIGINT NOT NULL,
				PRIMARY KEY (image, owner, kind))`,
			`CREATE TABLE abs_rebuild_run (
				rebuild    TEXT NOT NULL,
				attempt    INTEGER NOT NULL,
				cycle      TEXT NOT NULL,
				state      TEXT NOT NULL,
				detail     TEXT NOT NULL,
				retried_by TEXT NOT NULL,
				at         BIGINT NOT NULL,
				PRIMARY KEY (rebuild, attempt))`,
			`CREATE INDEX abs_rebuild_run_cycle ON abs_rebuild_run (cycle)`,
		},
	},
	{
		Version:  5,
		Name:     "projects and images managed at runtime; encrypted credentials; audit log",
		SQL:      projectsSchema(`seq INTEGER PRIMARY KEY AUTOINCREMENT`),
		Postgres: projectsSchema(`seq BIGSERIAL PRIMARY KEY`),
	},
	{
		Version: 6,
		Name:    "storm control: pause switches, the build queue",
		SQL: []string{
			`CREATE TABLE abs_pause (
				scope     TEXT PRIMARY KEY,
				reason    TEXT NOT NULL,
				paused_at BIGINT NOT NULL)`,
			`CREATE TABLE abs_queue (
				rebuild    TEXT NOT NULL,
				step       TEXT NOT NULL,
				job        BIGINT NOT NULL,
				image      TEXT NOT NULL,
				project    TEXT NOT NULL,
				registry   TEXT NOT NULL,
				critical   INTEGER NOT NULL,
				drop_at    BIGINT NOT NULL,
				state      TEXT NOT NULL,
				why        TEXT NOT NULL,
				queued_at  BIGINT NOT NULL,
				started_at BIGINT NOT NULL,
				PRIMARY KEY (rebuild, step))`,
			`CREATE INDEX abs_queue_order ON abs_queue (step, state, critical, drop_at, queued_at)`,
		},
	},
	{
		Version: 7,
		Name:    "distinct packages stored once, layers list them by id; platform rows found by image",
		SQL: packagesSchema(`id INTEGER PRIMARY KEY AUTOINCREMENT`,
			`UPDATE abs_managed SET image = substr(name, 1, instr(name, char(31)) - 1) WHERE instr(name, char(31)) > 0`),
		Postgres: packagesSchema(`id BIGSERIAL PRIMARY KEY`,
			`UPDATE abs_managed SET image = split_part(name, chr(31), 1) WHERE strpos(name, chr(31)) > 0`),
	},
	{
		Version: 8,
		Name:    "image records carry a revision, moved by every write",
		SQL:     []string{`ALTER TABLE abs_image ADD COLUMN rev BIGINT NOT NULL DEFAULT 0`},
	},
	{
		// FleetRevisions reads every record's revision: from this index
		// (about 80 bytes a record) rather than from the records.
		Version: 9,
		Name:    "record revisions readable without the records",
		SQL:     []string{`CREATE INDEX abs_image_rev ON abs_image (digest, rev)`},
	},
}

// packagesSchema is migration 7: every distinct package once in
// abs_package, each layer its packages' ids in order (abs_layer.pkg_ids,
// see encodeIDs). Layers stored before it keep their JSON packages and
// are read from them. The per-package rows of abs_layer_package, which
// nothing reads since the fleet's reverse index moved into memory, go.
// The managed rows of a multi-platform image's platforms name the image
// in abs_managed.image (indexed), filled for the rows already there by
// setImage: finding them no longer reads the whole table.
func packagesSchema(id, setImage string) []string {
	return []string{
		`ALTER TABLE abs_managed ADD COLUMN image TEXT NOT NULL DEFAULT ''`,
		setImage,
		`CREATE INDEX abs_managed_image ON abs_managed (image)`,
		`CREATE TABLE abs_package (
			` + id + `,
			key TEXT NOT NULL UNIQUE,
			doc TEXT NOT NULL)`,
		`ALTER TABLE abs_layer ADD COLUMN pkg_ids TEXT NOT NULL DEFAULT ''`,
		`DROP TABLE abs_layer_package`,
	}
}

// projectsSchema is migration 5; the audit log's sequence column is the
// one statement the dialects spell differently.
func projectsSchema(seq string) []string {
	return []string{
		`CREATE TABLE abs_project (
			id         TEXT PRIMARY KEY,
			name       TEXT NOT NULL,
			spec       TEXT NOT NULL,
			pos        BIGINT NOT NULL,
			version    BIGINT NOT NULL,
			seed_hash  TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL)`,
		`CREATE TABLE abs_project_image (
			name       TEXT PRIMARY KEY,
			project    TEXT NOT NULL,
			spec       TEXT NOT NULL,
			pos        BIGINT NOT NULL,
			version    BIGINT NOT NULL,
			seed_hash  TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL)`,
		`CREATE INDEX abs_project_image_project ON abs_project_image (project)`,
		`CREATE TABLE abs_secret (
			image       TEXT PRIMARY KEY,
			kind        TEXT NOT NULL,
			fingerprint TEXT NOT NULL,
			cipher      TEXT NOT NULL,
			pass_cipher TEXT NOT NULL,
			updated_at  BIGINT NOT NULL)`,
		`CREATE TABLE abs_host_key (
			image      TEXT NOT NULL,
			host       TEXT NOT NULL,
			line       TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			PRIMARY KEY (image, host))`,
		`CREATE TABLE abs_audit (
			` + seq + `,
			at     BIGINT NOT NULL,
			actor  TEXT NOT NULL,
			action TEXT NOT NULL,
			target TEXT NOT NULL,
			detail TEXT NOT NULL)`,
		`INSERT INTO abs_meta (name, value) VALUES ('projects', 0)`,
	}
}

// pgLockKey is the PostgreSQL advisory lock that serialises migrations
// when several orchestrators start at once.
const pgLockKey = 0x6f70656e616273 // "openabs"

// Migrate brings River's schema and the domain schema up to date. It is
// safe to call from several processes at once.
func (d *DB) Migrate(ctx context.Context) error {
	if d.dialect == Postgres {
		conn, err := d.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(pgLockKey)); err != nil {
			return fmt.Errorf("store: migrate lock: %w", err)
		}
		defer func() {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(pgLockKey))
		}()
		m, err := rivermigrate.New(riverpgxv5.New(d.pool), nil)
		if err != nil {
			return fmt.Errorf("store: river migrator: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("store: river migrate: %w", err)
		}
	} else {
		m, err := rivermigrate.New(riversqlite.New(d.sqlDB), nil)
		if err != nil {
			return fmt.Errorf("store: river migrator: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("store: river migrate: %w", err)
		}
	}
	return d.migrateDomain(ctx)
}

// Version returns the highest applied domain migration (0 when none).
func (d *DB) Version(ctx context.Context) (int, error) {
	var v int64
	err := d.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM abs_migration`).Scan(&v)
	return int(v), err
}

func (d *DB) migrateDomain(ctx context.Context) error {
	if _, err := d.Exec(ctx, `CREATE TABLE IF NOT EXISTS abs_migration (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	current, err := d.Version(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, m := range Migrations {
		if m.Version <= current {
			continue
		}
		stmts := m.SQL
		if d.dialect == Postgres && m.Postgres != nil {
			stmts = m.Postgres
		}
		err := d.InTx(ctx, func(tx Tx) error {
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return fmt.Errorf("store: migration %d (%s): %w", m.Version, m.Name, err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO abs_migration (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
