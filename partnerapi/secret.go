package partnerapi

import (
	"fmt"
	"log/slog"
)

// redacted is what an APIKey prints in place of its value.
const redacted = "[REDACTED]"

// APIKey is a Partner Connect API key. It is sent as the X-API-KEY header
// and never printed: String, GoString, Format, LogValue, MarshalJSON and
// MarshalText all produce a placeholder, so a key that reaches an error
// message, a log line or a JSON dump by accident stays hidden.
type APIKey string

var (
	_ fmt.Stringer   = APIKey("")
	_ fmt.GoStringer = APIKey("")
	_ fmt.Formatter  = APIKey("")
	_ slog.LogValuer = APIKey("")
)

// String returns a placeholder, never the key.
func (k APIKey) String() string { return redacted }

// GoString returns a placeholder, never the key.
func (k APIKey) GoString() string { return `partnerapi.APIKey("` + redacted + `")` }

// Format prints a placeholder for every verb, never the key.
func (k APIKey) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(k.GoString()))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// LogValue makes log/slog print a placeholder, never the key.
func (k APIKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText encodes a placeholder, never the key.
func (k APIKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON encodes a placeholder, never the key.
func (k APIKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// IsZero reports whether no key was given.
func (k APIKey) IsZero() bool { return k == "" }

// reveal returns the key itself; only the request builder calls it.
func (k APIKey) reveal() string { return string(k) }
