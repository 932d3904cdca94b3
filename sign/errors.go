package sign

import "errors"

// Sentinel errors; match them with errors.Is.
var (
	// ErrKey: the key cannot be read or used (bad PEM, wrong password,
	// unsupported algorithm).
	ErrKey = errors.New("sign: unusable key")
	// ErrReference: the image reference is not "repository@sha256:…".
	ErrReference = errors.New("sign: invalid image reference")
	// ErrNotFound: the registry does not hold the image to sign.
	ErrNotFound = errors.New("sign: image not found")
	// ErrStatement: an attestation is not an in-toto statement about the
	// image being attested (or is too large).
	ErrStatement = errors.New("sign: invalid statement")
)

// RegistryError reports a registry operation that failed.
type RegistryError struct {
	Op  string // "head", "read signatures", "push attestations"…
	Ref string // the reference it was applied to
	Err error
}

// Error names the operation and the reference.
func (e *RegistryError) Error() string { return "sign: " + e.Op + " " + e.Ref + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *RegistryError) Unwrap() error { return e.Err }
