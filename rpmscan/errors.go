package rpmscan

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller can branch on with errors.Is. Errors returned by
// [LayerScanner.Scan] wrap one of these when the image itself is at fault.
var (
	// ErrUnsafePath reports a tar entry (or hard-link target) whose name is
	// absolute or climbs out of the root with "..", or a malformed whiteout.
	ErrUnsafePath = errors.New("rpmscan: unsafe path in layer")
	// ErrEntryTooLarge reports a wanted file larger than the configured
	// limit (see [WithMaxFileSize]).
	ErrEntryTooLarge = errors.New("rpmscan: file larger than limit")
	// ErrRPMDBNotRegular reports an rpmdb file that is a symbolic link, a
	// hard link or anything else than a regular file. Following it could
	// read a file the image author chose, so the scan refuses.
	ErrRPMDBNotRegular = errors.New("rpmscan: rpmdb is not a regular file")
	// ErrCorruptLayer reports a layer that cannot be read to its end: a
	// truncated or damaged compressed stream, or a malformed tar archive.
	ErrCorruptLayer = errors.New("rpmscan: corrupt layer")
	// ErrCorruptRPMDB reports an rpmdb that is damaged or not a database
	// of any supported backend (sqlite, Berkeley DB hash, ndb).
	ErrCorruptRPMDB = errors.New("rpmscan: corrupt rpmdb")
	// ErrCorruptMetadata reports a content manifest or content-sets file
	// that is not the JSON document it should be.
	ErrCorruptMetadata = errors.New("rpmscan: corrupt metadata file")
	// ErrTooManyLayers reports an image with more layers than the limit
	// (see [WithMaxLayers]); the scan reads none of them.
	ErrTooManyLayers = errors.New("rpmscan: too many layers")
	// ErrMetadataTooLarge reports content manifests and release files
	// adding up to more than the limit (see [WithMaxMetadataSize]).
	ErrMetadataTooLarge = errors.New("rpmscan: metadata files larger than limit")
	// ErrTooManyPackages reports an rpmdb holding more package headers
	// than the limit (see [WithMaxPackages]).
	ErrTooManyPackages = errors.New("rpmscan: too many packages in rpmdb")
	// ErrRPMDBTooLarge reports an rpmdb whose package headers add up to
	// more bytes than the limit (see [WithMaxHeaderBytes]), or one header
	// larger than rpm itself allows.
	ErrRPMDBTooLarge = errors.New("rpmscan: rpmdb headers larger than limit")
	// ErrDigestMismatch reports content that is not what the image claims:
	// a layer whose uncompressed bytes do not hash to its diff_id (so a
	// tampered blob, or a docker archive with wrong diff_ids), or a config
	// that does not hash to the digest the manifest gives it. Nothing of
	// such an image is reported.
	ErrDigestMismatch = errors.New("rpmscan: content does not match its digest")
	// ErrDiskFull reports that the temporary copy of the rpmdb could not
	// be written because the file system holding the temporary directory
	// (see [WithTempDir]) is full or over quota. The image is not at
	// fault; the error also matches syscall.ENOSPC or syscall.EDQUOT.
	ErrDiskFull = errors.New("rpmscan: no space left for the temporary rpmdb copy")
	// ErrNoSQLiteDriver reports an image whose rpmdb is a sqlite database
	// (RHEL 9, Fedora 33+) while no database/sql driver named "sqlite" is
	// registered in the program. Import the opt-in driver package:
	//
	//	import _ "github.com/openabs/abs/rpmscan/sqlitedriver"
	ErrNoSQLiteDriver = errors.New(`rpmscan: the rpmdb is sqlite but no database/sql driver named "sqlite" is registered (import _ "github.com/openabs/abs/rpmscan/sqlitedriver")`)
)

// LayerError reports a problem found while reading one layer of an image.
// It wraps the cause, which is often one of the sentinel errors above.
type LayerError struct {
	// Index is the layer's position in the image, 0 being the bottom layer.
	Index int
	// Digest is the layer's (compressed) digest, when it could be computed.
	Digest string
	// Path is the tar entry involved, when there is one.
	Path string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *LayerError) Error() string {
	msg := fmt.Sprintf("rpmscan: layer %d", e.Index)
	if e.Digest != "" {
		msg += " (" + e.Digest + ")"
	}
	if e.Path != "" {
		msg += fmt.Sprintf(": entry %q", e.Path)
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *LayerError) Unwrap() error { return e.Err }

// RPMDBError reports an rpmdb that was found but could not be read.
type RPMDBError struct {
	// Path is the database file inside the image.
	Path string
	// Backend is "sqlite", "bdb", "ndb", or "" when the format is unknown.
	Backend string
	// Err is the cause; it wraps ErrCorruptRPMDB, ErrNoSQLiteDriver,
	// ErrTooManyPackages or ErrRPMDBTooLarge.
	Err error
}

// Error implements error.
func (e *RPMDBError) Error() string {
	b := e.Backend
	if b == "" {
		b = "unknown format"
	}
	return fmt.Sprintf("rpmscan: rpmdb %s (%s): %v", e.Path, b, e.Err)
}

// Unwrap returns the cause.
func (e *RPMDBError) Unwrap() error { return e.Err }
