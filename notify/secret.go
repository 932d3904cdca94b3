package notify

import "github.com/openabs/abs/secret"

// Secret holds a credential such as an SMTP password or a webhook signing key. It is
// secret.Value: it prints as a placeholder in logs, errors, %+v dumps and
// JSON; only Reveal returns the value. The zero Secret is empty.
type Secret = secret.Value

// NewSecret is secret.New, kept so that existing callers compile.
//
// Deprecated: use secret.New.
func NewSecret(s string) Secret { return secret.New(s) }
