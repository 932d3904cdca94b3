// Package store holds the orchestrator's durable domain state, in the same
// database as River's job tables: the advisory sync cursors and stored
// advisories, image inventories (packages stored once per rpmdb layer,
// the rest per image digest), the reverse index from package name to
// images, grade history and grade-drop warnings, pipeline cycles, rebuild
// records with their per-image states and logs, pushes and notifications.
//
// One code path serves SQLite (the database/sql driver the program
// registers as "sqlite", such as modernc.org/sqlite; one file, nothing to
// install) and PostgreSQL (pgx): statements use $N placeholders and
// portable types. Migrate applies River's migrations and then this
// package's own versioned Migrations, each in a transaction.
//
//	db, err := store.OpenSQLite(ctx, "abs.db")
//	if err != nil { … }
//	defer db.Close()
//	if err := db.Migrate(ctx); err != nil { … }
//	err = db.InTx(ctx, func(tx store.Tx) error {
//		return store.SetCursor(ctx, tx, "csaf", cursor, time.Now())
//	})
package store
