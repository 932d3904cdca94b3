package notify

import "github.com/openabs/abs/secret"

// Secret holds a credential such as an SMTP password or a webhook signing key. It is
// secret.Value: it prints as a placeholder in logs, errors, %+v dumps and
// JSON; only Reveal returns the value. The zero Secret is empty.
type Secret = secret.Value
