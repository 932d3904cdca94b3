// Package redact holds secrets (passwords, tokens, private keys, API keys)
// in a value that prints as a placeholder.
//
// A [Secret] never shows its value through fmt (every verb, including %+v,
// %#v, %q and %x), log/slog, encoding/json or encoding.TextMarshaler; only
// [Secret.Reveal] returns it. The value sits behind a pointer, so a struct
// that holds a Secret in an unexported field (which fmt prints field by
// field without calling methods) shows an address, not the value.
//
// A public package keeps its own secret type, so that callers can name
// what they receive, and implements it as a thin wrapper whose printing
// methods forward to a Secret:
//
//	type Secret struct{ v redact.Secret }
//
//	func (s Secret) String() string { return s.v.String() }
package redact
