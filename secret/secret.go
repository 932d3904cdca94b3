package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Placeholder is what a Value prints in place of its secret.
const Placeholder = "[REDACTED]"

// Value holds a secret. It prints as [Placeholder] however it is
// formatted, logged or encoded; only Reveal returns the secret.
//
// The zero Value is empty. Compare values with Reveal, not ==: two
// Values made from the same string are different Values.
type Value struct {
	// A pointer keeps the value out of %v dumps of structs that hold a
	// Value in an unexported field: fmt prints nested pointers as
	// addresses.
	v *string
}

var (
	_ fmt.Stringer   = Value{}
	_ fmt.GoStringer = Value{}
	_ fmt.Formatter  = Value{}
	_ slog.LogValuer = Value{}
	_ json.Marshaler = Value{}
)

// New returns a Value holding value.
func New(value string) Value { return Value{v: &value} }

// FromBytes returns a Value holding a copy of b, for example a PEM file's
// content.
func FromBytes(b []byte) Value { return New(string(b)) }

// Reveal returns the secret value, or "" for the zero Value. Call it only
// where the value is handed to the party that needs it.
func (s Value) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty. encoding/json's omitzero
// option uses it.
func (s Value) IsZero() bool { return s.Reveal() == "" }

// UnmarshalText stores text as the secret value, so that configuration
// files can carry a secret in (never out: MarshalText writes the
// placeholder).
func (s *Value) UnmarshalText(text []byte) error {
	*s = New(string(text))
	return nil
}

// String returns [Placeholder].
func (s Value) String() string { return Placeholder }

// GoString returns [Placeholder] (the %#v verb).
func (s Value) GoString() string { return Placeholder }

// Format prints [Placeholder] for every verb and flag.
func (s Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Placeholder)) }

// LogValue makes log/slog print [Placeholder].
func (s Value) LogValue() slog.Value { return slog.StringValue(Placeholder) }

// MarshalText returns [Placeholder].
func (s Value) MarshalText() ([]byte, error) { return []byte(Placeholder), nil }

// MarshalJSON returns [Placeholder] as a JSON string.
func (s Value) MarshalJSON() ([]byte, error) { return json.Marshal(Placeholder) }
