package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/openabs/abs"
)

// ProblemContentType is the media type of an error answer (RFC 7807).
const ProblemContentType = "application/problem+json"

// Problem is an error answer, an RFC 7807 problem document. Type is
// "about:blank" and Title the HTTP status text; Detail says what went
// wrong in this request.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: r.URL.EscapedPath()})
}

// statusOf maps an orchestrator error to an HTTP status, and says whether
// its message may be shown to the client.
func statusOf(err error) (int, bool) {
	switch {
	case errors.Is(err, abs.ErrNotFound), errors.Is(err, abs.ErrUnknownImage), errors.Is(err, abs.ErrUnknownCycle):
		return http.StatusNotFound, true
	case errors.Is(err, abs.ErrExists), errors.Is(err, abs.ErrConflict):
		return http.StatusConflict, true
	case errors.Is(err, abs.ErrConfig):
		return http.StatusBadRequest, true
	case errors.Is(err, abs.ErrNoSecretKey):
		return http.StatusServiceUnavailable, true
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, false
	}
	return http.StatusInternalServerError, false
}

// fail answers err as a problem; an error the client cannot act on is
// logged and answered without its message.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, show := statusOf(err)
	if !show {
		if r.Context().Err() == nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "api request failed", slog.String("method", r.Method),
				slog.String("path", r.URL.EscapedPath()), slog.String("error", err.Error()))
		}
		writeProblem(w, r, status, "the request could not be completed; the server log says why")
		return
	}
	writeProblem(w, r, status, err.Error())
}
