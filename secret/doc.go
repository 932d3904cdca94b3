// Package secret holds credentials (passwords, tokens, private keys, API
// keys, signing keys) in a [Value] that prints as a placeholder, and signs
// and verifies HTTP bodies with one HMAC-SHA256 scheme.
//
// A Value never shows its secret through fmt (every verb, including %+v,
// %#v, %q and %x), log/slog, encoding/json or encoding.TextMarshaler; only
// [Value.Reveal] returns it. The secret sits behind a pointer, so a struct
// that holds a Value in an unexported field (which fmt prints field by
// field without calling methods) shows an address, not the secret. Every
// openabs package that takes a credential takes a Value (publish.Secret,
// notify.Secret, rebuild.Secret and partnerapi.APIKey are names for it).
//
//	key := secret.New(os.Getenv("PARTNERAPI_KEY"))
//	log.Info("calling", "key", key) // key=[REDACTED]
//	req.Header.Set("X-API-KEY", key.Reveal())
//
// [Sign] and [Verify] are the signature of every signed openabs request:
// the outgoing webhooks of package notify and the pushes the orchestrator
// accepts both carry [SignatureHeader] = "sha256=" + hex HMAC-SHA256 of
// the body.
//
// A [Scrubber] knows configured secret values and their encoded forms
// (URL escapes, base64, HTTP Basic and SASL PLAIN base64) and removes them
// from text, errors and log records (Scrubber.Handler) before they are
// logged, stored or mailed: a server may echo a credential back.
//
// The package imports nothing of openabs, so any package may use it.
package secret
