package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// SignatureHeader is the HTTP header that carries a body's signature,
// "sha256=" followed by the hex HMAC-SHA256 of the body keyed with the
// shared secret (the scheme GitHub webhooks use, under openabs's name).
// Both the webhooks openabs sends and the pushes it accepts use it.
const SignatureHeader = "X-Openabs-Signature-256"

// signaturePrefix names the algorithm in a SignatureHeader value.
const signaturePrefix = "sha256="

// Sign returns the SignatureHeader value for body under key:
// "sha256=" + hex(HMAC-SHA256(key, body)).
func Sign(key Value, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key.Reveal()))
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (a SignatureHeader value) signs body
// under key. The comparison takes constant time. An empty key verifies
// nothing: anyone can sign with the empty key.
func Verify(key Value, body []byte, signature string) bool {
	if key.IsZero() {
		return false
	}
	return hmac.Equal([]byte(Sign(key, body)), []byte(signature))
}
