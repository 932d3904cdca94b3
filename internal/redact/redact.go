package redact

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Placeholder is what a Secret prints in place of its value, and what a
// zero Mask prints.
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
func (s Secret) String() string { return Mask{}.String(s) }

// GoString returns [Placeholder] (the %#v verb).
func (s Secret) GoString() string { return Mask{}.GoString(s) }

// Format prints [Placeholder] for every verb and flag.
func (s Secret) Format(f fmt.State, verb rune) { Mask{}.Format(s, f, verb) }

// LogValue makes log/slog print [Placeholder].
func (s Secret) LogValue() slog.Value { return Mask{}.LogValue(s) }

// MarshalText returns [Placeholder].
func (s Secret) MarshalText() ([]byte, error) { return Mask{}.TextBytes(s) }

// MarshalJSON returns [Placeholder] as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return Mask{}.JSON(s) }

// Mask says what a package's own secret type prints in place of its value.
// Its methods implement that type's printing methods; none of them ever
// returns the value. The zero Mask prints [Placeholder] everywhere.
type Mask struct {
	// Text replaces the value in String, Format (all verbs but %#v),
	// LogValue, MarshalText and MarshalJSON. Empty means [Placeholder].
	Text string
	// GoSyntax replaces the value in GoString and %#v, even for an empty
	// secret. Empty means Text.
	GoSyntax string
	// BlankIfEmpty prints an empty secret as "" instead of Text, so that
	// an unset credential reads as unset (GoSyntax is unaffected).
	BlankIfEmpty bool
}

// String returns what the secret type prints for s.
func (m Mask) String(s Secret) string {
	switch {
	case m.BlankIfEmpty && s.IsZero():
		return ""
	case m.Text == "":
		return Placeholder
	default:
		return m.Text
	}
}

// GoString returns what the secret type prints for s with %#v.
func (m Mask) GoString(s Secret) string {
	if m.GoSyntax == "" {
		if m.Text == "" {
			return Placeholder
		}
		return m.Text
	}
	return m.GoSyntax
}

// Format writes what the secret type prints for s with verb: GoString for
// %#v, String for every other verb. Width, precision and other flags are
// ignored.
func (m Mask) Format(s Secret, f fmt.State, verb rune) {
	out := m.String(s)
	if verb == 'v' && f.Flag('#') {
		out = m.GoString(s)
	}
	_, _ = f.Write([]byte(out))
}

// LogValue returns String as a log/slog value.
func (m Mask) LogValue(s Secret) slog.Value { return slog.StringValue(m.String(s)) }

// TextBytes returns String as bytes, for MarshalText.
func (m Mask) TextBytes(s Secret) ([]byte, error) { return []byte(m.String(s)), nil }

// JSON returns String as a JSON string, for MarshalJSON.
func (m Mask) JSON(s Secret) ([]byte, error) { return json.Marshal(m.String(s)) }
