package certify

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by the errors this package returns.
var (
	// ErrCorruptLayer means a layer is not a readable tar stream.
	ErrCorruptLayer = errors.New("certify: corrupt layer")
	// ErrUnsafePath means a layer holds an entry name that climbs above
	// the root or is otherwise unusable.
	ErrUnsafePath = errors.New("certify: unsafe path in layer")
	// ErrTooManyEntries means the image holds more entries than
	// [Limits.MaxEntries] allows.
	ErrTooManyEntries = errors.New("certify: too many layer entries")
	// ErrLinkLoop means symlinks nest deeper than 40 hops.
	ErrLinkLoop = errors.New("certify: too many levels of symbolic links")
	// ErrNoFileLister means HasModifiedFiles has no way to learn which
	// files the image's RPMs installed.
	ErrNoFileLister = errors.New("certify: no FileLister configured")
	// ErrBlocked is wrapped by the [*GateError] of a rebuild that would
	// break a certification check.
	ErrBlocked = errors.New("certify: publication blocked by a certification check")
)

// LayerError reports a layer that could not be read.
type LayerError struct {
	// Index is the layer's position, 0 being the base.
	Index int
	// Digest is the layer's (compressed) digest, when known.
	Digest string
	Err    error
}

// Error implements error.
func (e *LayerError) Error() string {
	return fmt.Sprintf("certify: layer %d (%s): %v", e.Index, e.Digest, e.Err)
}

// Unwrap returns the underlying error.
func (e *LayerError) Unwrap() error { return e.Err }
