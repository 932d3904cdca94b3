package notify

import (
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Secret holds a credential such as a SMTP password or webhook secret. Its String,
// GoString, Format, LogValue and MarshalText methods print a placeholder, so
// a Secret that reaches a log line, an error or a %+v dump of a struct
// does not reveal its value. Only Reveal returns it.
//
// The zero Secret is empty.
type Secret struct {
	// A pointer keeps the value out of %v dumps of structs that hold a
	// Secret in an unexported field: fmt prints nested pointers as
	// addresses.
	v *string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: &s} }

// Reveal returns the secret value. Call it only where the value is handed
// to the party that needs it.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String returns a placeholder.
func (s Secret) String() string { return redacted }

// GoString returns a placeholder.
func (s Secret) GoString() string { return redacted }

// Format prints a placeholder for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue returns a placeholder for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns a placeholder, so JSON and YAML encoders do not leak
// the value either.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
