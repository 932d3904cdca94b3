// Package sqlitedriver registers modernc.org/sqlite, a pure-Go SQLite, as
// the database/sql driver named "sqlite", which rpmscan needs to read the
// sqlite rpmdbs of RHEL 9, UBI 9 and Fedora images. Import it for its side
// effect, once, in a main package:
//
//	import _ "github.com/openabs/abs/rpmscan/sqlitedriver"
//
// Without it, rpmscan returns rpmscan.ErrNoSQLiteDriver for such images.
//
// # Conflicts
//
// database/sql panics at start-up when two packages register the same
// driver name. github.com/glebarez/go-sqlite (and glebarez/sqlite, the GORM
// driver built on it) also registers "sqlite". A program that links one of
// those must not import this package: the driver already registered under
// "sqlite" is a modernc-based one and serves rpmscan as well. A program that
// imports modernc.org/sqlite directly may import this package too; Go runs
// that package's registration once.
package sqlitedriver

import _ "modernc.org/sqlite" // registers the "sqlite" driver
