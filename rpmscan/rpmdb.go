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

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
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
// on a damaged file cannot be recovered, and decodes every tag of every
// header, allocating for each.
func readPackages(ctx context.Context, file, backend string, lim limits) ([]Package, error) {
	pkgs, _, err := readRPMDB(ctx, file, backend, lim, false)
	return pkgs, err
}

// readRPMDB is readPackages that, with files, also lists each package's
// installed files, in the order of the packages. File lists need every
// header decoded in full, so with files go-rpmdb reads the database after
// the bounded walk has accepted it.
func readRPMDB(ctx context.Context, file, backend string, lim limits, files bool) ([]Package, []InstalledFiles, error) {
	if backend == backendSQLite && !sqliteDriverRegistered() {
		return nil, nil, ErrNoSQLiteDriver
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
		return nil, nil, err
	}
	if !files {
		pkgs := make([]Package, 0, len(all))
		for _, p := range all {
			if p.Name == "gpg-pubkey" {
				// gpg-pubkey entries are imported signing keys, not software.
				continue
			}
			pkgs = append(pkgs, p)
		}
		sortPackages(pkgs)
		return pkgs, nil, nil
	}
	infos, err := listPackages(file)
	if err != nil {
		return nil, nil, err
	}
	type entry struct {
		pkg   Package
		files InstalledFiles
	}
	entries := make([]entry, 0, len(infos))
	for _, pi := range infos {
		if pi == nil || pi.Name == "gpg-pubkey" {
			// gpg-pubkey entries are imported signing keys, not software.
			continue
		}
		e := entry{pkg: fromInfo(pi)}
		if files {
			fs, err := installedFiles(pi)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: package %s: %w", ErrCorruptRPMDB, e.pkg.Name, err)
			}
			e.files = InstalledFiles{NEVRA: e.pkg.NEVRA(), InstallTime: int64(pi.InstallTime), Files: fs}
		}
		entries = append(entries, e)
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return comparePackages(a.pkg, b.pkg) })
	pkgs := make([]Package, len(entries))
	var list []InstalledFiles
	if files {
		list = make([]InstalledFiles, len(entries))
	}
	for i, e := range entries {
		pkgs[i] = e.pkg
		if files {
			list[i] = e.files
		}
	}
	return pkgs, list, nil
}

// listPackages runs go-rpmdb and turns its panics into ErrCorruptRPMDB.
func listPackages(file string) (infos []*rpmdb.PackageInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, fmt.Errorf("%w: reader panicked: %v", ErrCorruptRPMDB, r)
		}
	}()
	db, err := rpmdb.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptRPMDB, err)
	}
	defer db.Close()
	infos, err = db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptRPMDB, err)
	}
	return infos, nil
}

func fromInfo(pi *rpmdb.PackageInfo) Package {
	return Package{
		Name:      pi.Name,
		Epoch:     pi.EpochNum(),
		Version:   pi.Version,
		Release:   pi.Release,
		Arch:      pi.Arch,
		SourceRPM: pi.SourceRpm,
		Vendor:    pi.Vendor,
		Module:    pi.Modularitylabel,
	}
}

// installedFiles lists the files of pi, recovering from go-rpmdb panics.
func installedFiles(pi *rpmdb.PackageInfo) (files []File, err error) {
	defer func() {
		if r := recover(); r != nil {
			files, err = nil, fmt.Errorf("reading files panicked: %v", r)
		}
	}()
	infos, err := pi.InstalledFiles()
	if err != nil {
		return nil, err
	}
	files = make([]File, len(infos))
	for i, f := range infos {
		files[i] = File{Path: f.Path, Mode: f.Mode, Flags: FileFlags(f.Flags)}
	}
	return files, nil
}

// sortPackages orders packages by name, then epoch, version, release and
// arch, so inventories of the same image compare equal.
func sortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, comparePackages)
}

func comparePackages(a, b Package) int {
	return cmp.Or(
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Epoch, b.Epoch),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Release, b.Release),
		cmp.Compare(a.Arch, b.Arch),
	)
}
