// Package redact is a compatibility shim: the secret type moved to the
// public package secret. It is removed once no package imports it.
package redact

import "github.com/openabs/abs/secret"

// Placeholder is secret.Placeholder.
const Placeholder = secret.Placeholder

// Secret is secret.Value.
type Secret = secret.Value

// New is secret.New.
func New(value string) Secret { return secret.New(value) }
