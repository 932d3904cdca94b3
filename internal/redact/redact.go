package redact

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Placeholder is what a Secret prints in place of its value.
const Placeholder = "[REDACTED]"

// Secret holds a secret value. It prints as [Placeholder] however it is
// formatted, logged or encoded; only Reveal returns the value.
//
// The zero Secret is empty. Compare secrets with Reveal, not ==: two
// Secrets made from the same value are different Secrets.
type Secret struct {
	// A pointer keeps the value out of %v dumps of structs that hold a
	// Secret in an unexported field: fmt prints nested pointers as
	// addresses.
	v *string
}

var (
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ fmt.Formatter  = Secret{}
	_ slog.LogValuer = Secret{}
	_ json.Marshaler = Secret{}
)

// New returns a Secret holding value.
func New(value string) Secret { return Secret{v: &value} }

// Reveal returns the secret value, or "" for the zero Secret. Call it only
// where the value is handed to the party that needs it.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty. encoding/json's omitzero
// option uses it.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// UnmarshalText stores text as the secret value, so that configuration
// files can carry a secret in (never out: MarshalText writes the
// placeholder).
func (s *Secret) UnmarshalText(text []byte) error {
	*s = New(string(text))
	return nil
}

// String returns [Placeholder].
func (s Secret) String() string { return Placeholder }

// GoString returns [Placeholder] (the %#v verb).
func (s Secret) GoString() string { return Placeholder }

// Format prints [Placeholder] for every verb and flag.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Placeholder)) }

// LogValue makes log/slog print [Placeholder].
func (s Secret) LogValue() slog.Value { return slog.StringValue(Placeholder) }

// MarshalText returns [Placeholder].
func (s Secret) MarshalText() ([]byte, error) { return []byte(Placeholder), nil }

// MarshalJSON returns [Placeholder] as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Placeholder) }
