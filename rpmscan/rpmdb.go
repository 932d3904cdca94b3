package rpmscan

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
)

const (
	backendSQLite = "sqlite"
	backendBDB    = "bdb"
	backendNDB    = "ndb"
)

var (
	sqliteMagic = []byte("SQLite format 3\x00")
	ndbMagic    = []byte("RpmP")
)

// sniff returns the backend of the database file at p, judged by content.
func sniff(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil {
		return "", fmt.Errorf("%w: file too short", ErrCorruptRPMDB)
	}
	switch {
	case bytes.Equal(head, sqliteMagic):
		return backendSQLite, nil
	case bytes.Equal(head[:4], ndbMagic):
		return backendNDB, nil
	}
	switch m := binary.LittleEndian.Uint32(head[12:]); m {
	case bdb.HashMagicNumber, bdb.HashMagicNumberBE:
		return backendBDB, nil
	}
	return "", fmt.Errorf("%w: unknown database format", ErrCorruptRPMDB)
}

// sqliteDriverRegistered reports whether some package registered a
// database/sql driver named "sqlite", which go-rpmdb opens.
func sqliteDriverRegistered() bool {
	return slices.Contains(sql.Drivers(), "sqlite")
}

// readPackages reads the database at file (a private temp copy) with a
// bounded walk of our own: every offset, length and page chain is checked
// before it is followed, each header blob is checked (checkHeaderBlob) and
// then parsed for the fields the inventory reports (parseHeader), one
// header in memory at a time. go-rpmdb v0.1.1's reader, which this walk
// follows, reads in a goroutine of its own where a panic or an endless loop
// on a damaged file cannot be recovered, decodes every tag of every header
// and allocates for each; the scan uses only its page parsers.
func readPackages(ctx context.Context, file, backend string, lim limits) ([]Package, error) {
	if backend == backendSQLite && !sqliteDriverRegistered() {
		return nil, ErrNoSQLiteDriver
	}
	var all []Package
	var err error
	switch backend {
	case backendSQLite:
		all, err = checkSQLite(ctx, file, lim)
	case backendBDB:
		all, err = checkBDB(ctx, file, lim)
	case backendNDB:
		all, err = checkNDB(ctx, file, lim)
	}
	if err != nil {
		return nil, err
	}
	pkgs := make([]Package, 0, len(all))
	for _, p := range all {
		if p.Name == "gpg-pubkey" {
			// gpg-pubkey entries are imported signing keys, not software.
			continue
		}
		pkgs = append(pkgs, p)
	}
	sortPackages(pkgs)
	return pkgs, nil
}

// sortPackages orders packages by name, then epoch, version, release and
// arch, so inventories of the same image compare equal.
func sortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, func(a, b Package) int {
		return cmp.Or(
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Epoch, b.Epoch),
			cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.Release, b.Release),
			cmp.Compare(a.Arch, b.Arch),
		)
	})
}
