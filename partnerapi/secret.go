package partnerapi

import (
	"fmt"
	"log/slog"

	"github.com/openabs/abs/internal/redact"
)

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
func (k APIKey) String() string { return k.secret().String() }

// GoString returns a placeholder, never the key.
func (k APIKey) GoString() string { return k.secret().GoString() }

// Format prints a placeholder for every verb, never the key.
func (k APIKey) Format(f fmt.State, verb rune) { k.secret().Format(f, verb) }

// LogValue makes log/slog print a placeholder, never the key.
func (k APIKey) LogValue() slog.Value { return k.secret().LogValue() }

// MarshalText encodes a placeholder, never the key.
func (k APIKey) MarshalText() ([]byte, error) { return k.secret().MarshalText() }

// MarshalJSON encodes a placeholder, never the key.
func (k APIKey) MarshalJSON() ([]byte, error) { return k.secret().MarshalJSON() }

// IsZero reports whether no key was given.
func (k APIKey) IsZero() bool { return k == "" }

// reveal returns the key itself; only the request builder calls it.
func (k APIKey) reveal() string { return string(k) }

// secret holds the key for the printing methods.
func (k APIKey) secret() redact.Secret { return redact.New(string(k)) }
