package abs

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/openabs/abs/internal/redact"
)

// SignatureHeader carries the HMAC-SHA256 of a push request's body, as
// "sha256=HEX", keyed with the shared secret.
const SignatureHeader = "X-Abs-Signature-256"

// PushRequest is the body of a push: a newly released advisory.
type PushRequest struct {
	Advisory string `json:"advisory"`
}

// PushResponse answers an accepted push.
type PushResponse struct {
	Cycle string `json:"cycle"`
}

// maxPushBody bounds a push request's body; a larger one is refused whole.
const maxPushBody = 64 << 10

var advisoryIDRE = regexp.MustCompile(`^[A-Z]{2,10}-[0-9]{4}:[0-9]{1,7}$|^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Handler returns an http.Handler that accepts a push for a newly released
// advisory (POST, JSON PushRequest) and starts a cycle for it, answering
// 202 with the cycle id. A request is authenticated by the shared secret,
// either as "Authorization: Bearer SECRET" or as an HMAC-SHA256 of the body
// in SignatureHeader; both are compared in constant time. An empty secret
// refuses every request.
func (o *Orchestrator) Handler(secret Secret) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if !authorized(secret.Reveal(), r, body) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="openabs"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req PushRequest
		if err := json.Unmarshal(body, &req); err != nil || !advisoryIDRE.MatchString(req.Advisory) {
			http.Error(w, "body must be {\"advisory\":\"ID\"}", http.StatusBadRequest)
			return
		}
		id, err := o.Trigger(r.Context(), req.Advisory)
		if err != nil {
			o.log.Error("push: cannot start cycle", "advisory", req.Advisory, "error", err)
			http.Error(w, "cannot start cycle", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(PushResponse{Cycle: id})
	})
}

func authorized(secret string, r *http.Request, body []byte) bool {
	if secret == "" {
		return false
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	if sig, ok := strings.CutPrefix(r.Header.Get(SignatureHeader), "sha256="); ok {
		got, err := hex.DecodeString(sig)
		if err != nil {
			return false
		}
		return hmac.Equal(got, Sign(NewSecret(secret), body))
	}
	return false
}

// Sign returns the HMAC-SHA256 of body keyed with secret, the value (hex
// encoded, after "sha256=") of SignatureHeader.
func Sign(secret Secret, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return m.Sum(nil)
}

// Secret holds a credential such as the push handler's shared secret. It
// never prints: String, GoString, Format, LogValue and MarshalText show a
// placeholder, so a Secret that reaches a log line, an error or a %+v dump
// stays hidden. Only Reveal returns the value. The zero Secret is empty.
type Secret struct{ v redact.Secret }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: redact.New(s)} }

// Reveal returns the secret's value, for the code that must send it.
func (s Secret) Reveal() string { return s.v.Reveal() }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v.IsZero() }

// String returns a placeholder.
func (s Secret) String() string { return s.v.String() }

// GoString returns a placeholder.
func (s Secret) GoString() string { return s.v.GoString() }

// Format prints a placeholder for every verb.
func (s Secret) Format(f fmt.State, verb rune) { s.v.Format(f, verb) }

// LogValue makes log/slog print a placeholder.
func (s Secret) LogValue() slog.Value { return s.v.LogValue() }

// MarshalText returns a placeholder, so a Secret in JSON or YAML output
// stays hidden.
func (s Secret) MarshalText() ([]byte, error) { return s.v.MarshalText() }
