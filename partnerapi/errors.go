package partnerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/openabs/abs/internal/retry"
)

// Sentinel errors that callers branch on with errors.Is. An *Error matches
// the sentinel of its HTTP status.
var (
	// ErrNotFound matches an *Error with status 404.
	ErrNotFound = errors.New("partnerapi: not found")
	// ErrConflict matches an *Error with status 409, returned when an object
	// (an image, a pending request) already exists.
	ErrConflict = errors.New("partnerapi: conflict")
	// ErrUnauthorized matches an *Error with status 401 or 403: the API key
	// is missing, wrong or lacks access to the object.
	ErrUnauthorized = errors.New("partnerapi: unauthorized")
	// ErrInvalidSettings is returned before any request is sent when a
	// project update would leave the container build settings inconsistent,
	// for example auto-rebuild on while auto-publish is off.
	ErrInvalidSettings = errors.New("partnerapi: invalid project settings")
	// ErrRequestFailed is returned by WaitImageRequest when the request ends
	// as failed or aborted.
	ErrRequestFailed = errors.New("partnerapi: request did not complete")
)

// Error is an error answer of the catalog API. The API sends an RFC 7807
// style body ({"type", "title", "status", "detail", "trace_id"}); when the
// body is not of that shape, Title falls back to the HTTP status text and
// Detail to the start of the body.
type Error struct {
	Type    string `json:"type,omitempty"`
	Title   string `json:"title,omitempty"`
	Status  int    `json:"status"`
	Detail  string `json:"detail,omitempty"`
	TraceID string `json:"trace_id,omitempty"`

	// Method and Path name the request that failed (the path has no query
	// string and never carries the API key).
	Method string `json:"-"`
	Path   string `json:"-"`
}

// Error formats the status, title, detail and trace id.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("partnerapi: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Title != "" {
		b.WriteByte(' ')
		b.WriteString(e.Title)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.TraceID != "" {
		b.WriteString(" (trace_id ")
		b.WriteString(e.TraceID)
		b.WriteByte(')')
	}
	return b.String()
}

// Is reports whether target is the sentinel for e's status: ErrNotFound for
// 404, ErrConflict for 409, ErrUnauthorized for 401 and 403.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	}
	return false
}

// Temporary reports whether the request may succeed when retried: 408,
// 429 and every 5xx.
func (e *Error) Temporary() bool { return retryable(e.Status) }

func retryable(status int) bool { return retry.Status(status) }

// maxDetail bounds the part of a non-JSON body kept in Error.Detail.
const maxDetail = 512

// ParseError turns an error answer into an *Error. It never fails: a body
// that is not an RFC 7807 document still yields an *Error carrying status.
// The status argument wins over a status in the body when they differ, as
// it is what the server actually answered.
func ParseError(status int, body []byte) *Error {
	e := &Error{}
	var doc struct {
		Type    any `json:"type"`
		Title   any `json:"title"`
		Status  any `json:"status"`
		Detail  any `json:"detail"`
		TraceID any `json:"trace_id"`
	}
	if json.Unmarshal(body, &doc) == nil {
		e.Type = text(doc.Type)
		e.Title = text(doc.Title)
		e.Detail = text(doc.Detail)
		e.TraceID = text(doc.TraceID)
	} else if s := strings.TrimSpace(string(body)); s != "" {
		e.Detail = truncate(s, maxDetail)
	}
	e.Status = status
	if e.Title == "" {
		e.Title = http.StatusText(status)
	}
	return e
}

// text renders a JSON value as a string: strings as they are, other values
// (the API sometimes sends a list of validation messages) re-encoded.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
