package publish

import (
	"fmt"
	"log/slog"

	"github.com/openabs/abs/internal/redact"
)

// Secret holds a credential such as a registry password. Its String,
// GoString, Format, LogValue and MarshalText methods print a placeholder, so
// a Secret that reaches a log line, an error or a %+v dump of a struct
// does not reveal its value. Only Reveal returns it.
//
// The zero Secret is empty.
type Secret struct {
	v redact.Secret
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: redact.New(s)} }

// Reveal returns the secret value. Call it only where the value is handed
// to the party that needs it.
func (s Secret) Reveal() string { return s.v.Reveal() }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v.IsZero() }

// String returns a placeholder.
func (s Secret) String() string { return s.v.String() }

// GoString returns a placeholder.
func (s Secret) GoString() string { return s.v.GoString() }

// Format prints a placeholder for every verb.
func (s Secret) Format(f fmt.State, verb rune) { s.v.Format(f, verb) }

// LogValue returns a placeholder for log/slog.
func (s Secret) LogValue() slog.Value { return s.v.LogValue() }

// MarshalText returns a placeholder, so JSON and YAML encoders do not leak
// the value either.
func (s Secret) MarshalText() ([]byte, error) { return s.v.MarshalText() }
