package partnerapi

import "github.com/openabs/abs/secret"

// APIKey is a Partner Connect API key, sent as the X-API-KEY header. It is
// secret.Value, so it never prints: fmt (every verb, also inside a struct
// printed with %v or %+v), log/slog and encoding/json all show a
// placeholder, and a key that reaches an error message, a log line or a
// dump by accident stays hidden. Make one with secret.New.
type APIKey = secret.Value
