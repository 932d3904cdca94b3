package abs

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"

	sec "github.com/openabs/abs/secret"
)

// SignatureHeader carries the signature of a push request's body (see
// secret.Sign): "sha256=HEX", the HMAC-SHA256 keyed with the shared secret.
// It is the header notify's webhooks sign with.
const SignatureHeader = sec.SignatureHeader

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
func (o *Orchestrator) Handler(key sec.Value) http.Handler {
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
		if !authorized(key, r, body) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="openabs"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req PushRequest
		if err := json.Unmarshal(body, &req); err != nil || !advisoryIDRE.MatchString(req.Advisory) {
			http.Error(w, "body must be {\"advisory\":\"ID\"}", http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		if _, ok := actorOf(ctx); !ok {
			ctx = WithActor(ctx, "advisory-push")
		}
		id, err := o.Trigger(ctx, req.Advisory)
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

func authorized(key sec.Value, r *http.Request, body []byte) bool {
	if key.IsZero() {
		return false
	}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(key.Reveal()))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	if sig := r.Header.Get(SignatureHeader); sig != "" {
		return sec.Verify(key, body, sig)
	}
	return false
}
