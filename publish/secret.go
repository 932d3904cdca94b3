package publish

import "github.com/openabs/abs/secret"

// Secret holds a credential such as a registry password. It is
// secret.Value: it prints as a placeholder in logs, errors, %+v dumps and
// JSON; only Reveal returns the value. The zero Secret is empty.
type Secret = secret.Value
