package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openabs/abs"
	"github.com/openabs/abs/secret"
)

// Prefix is the path every API route starts with.
const Prefix = "/api/v1"

// Defaults of the handler.
const (
	// MaxBodyBytes bounds a request body; a larger one is answered 413.
	MaxBodyBytes = 1 << 20
	// DefaultPageSize is the page size of a list when page_size is not
	// given; MaxPageSize is the largest accepted.
	DefaultPageSize = 50
	MaxPageSize     = 500
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API, as served at
// /api/v1/openapi.json.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// Option configures the handler New returns.
type Option func(*server)

// WithLogger logs failed requests (server errors only; never a body or a
// token) to l. By default the handler logs nothing.
func WithLogger(l *slog.Logger) Option { return func(s *server) { s.log = l } }

// WithPushSecret serves the orchestrator's advisory push
// (abs.Orchestrator.Handler) at POST /api/v1/advisories, authenticated by
// its shared secret (a bearer secret or an HMAC signature of the body), as
// advisory feeds call it. Without it that route answers 404.
func WithPushSecret(key secret.Value) Option { return func(s *server) { s.push = s.o.Handler(key) } }

// WithPublicMetrics serves /metrics without a token. By default /metrics,
// like the API, needs a token of any role (Prometheus sends it with
// authorization.credentials).
func WithPublicMetrics(on bool) Option { return func(s *server) { s.publicMetrics = on } }

// WithPlanTimeout bounds the dry run of GET /api/v1/plan (default 2
// minutes).
func WithPlanTimeout(d time.Duration) Option { return func(s *server) { s.planTimeout = d } }

type server struct {
	o             *abs.Orchestrator
	tokens        *Tokens
	log           *slog.Logger
	push          http.Handler
	publicMetrics bool
	planTimeout   time.Duration
	planSlot      chan struct{}
	metrics       http.Handler
}

// route is one served method and path pattern; the OpenAPI test reads the
// same table.
type route struct {
	method, path string
	h            func(*server, http.ResponseWriter, *http.Request, Principal)
}

var routes = []route{
	{"GET", "/projects", (*server).listProjects},
	{"POST", "/projects", (*server).createProject},
	{"GET", "/projects/{id}", (*server).getProject},
	{"PATCH", "/projects/{id}", (*server).updateProject},
	{"DELETE", "/projects/{id}", (*server).deleteProject},
	{"GET", "/projects/{id}/images", (*server).listImages},
	{"POST", "/projects/{id}/images", (*server).createImage},
	{"GET", "/images/{name}", (*server).getImage},
	{"PATCH", "/images/{name}", (*server).updateImage},
	{"DELETE", "/images/{name}", (*server).deleteImage},
	{"PUT", "/images/{name}/ssh-key", (*server).putSSHKey},
	{"PUT", "/images/{name}/token", (*server).putToken},
	{"GET", "/images/{name}/rebuilds", (*server).rebuilds},
	{"POST", "/images/{name}/rebuild", (*server).rebuildNow},
	{"POST", "/images/{name}/retry", (*server).retry},
	{"GET", "/plan", (*server).plan},
	{"GET", "/cycles", (*server).listCycles},
	{"POST", "/cycles", (*server).startCycle},
	{"GET", "/cycles/{id}", (*server).getCycle},
	{"GET", "/audit", (*server).audit},
}

// New returns the API of o as an http.Handler serving /api/v1/... and
// /metrics, authenticated by tokens. Mount it at the root of a server or
// mux ("/"), or strip nothing: its routes carry their full paths.
func New(o *abs.Orchestrator, tokens *Tokens, opts ...Option) http.Handler {
	s := &server{o: o, tokens: tokens, log: slog.New(slog.DiscardHandler), planTimeout: 2 * time.Minute,
		planSlot: make(chan struct{}, 1)}
	for _, opt := range opts {
		opt(s)
	}
	s.metrics = s.newMetrics()
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+Prefix+rt.path, s.authed(rt.h))
	}
	mux.HandleFunc("GET "+Prefix+"/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	mux.HandleFunc("POST "+Prefix+"/advisories", func(w http.ResponseWriter, r *http.Request) {
		if s.push == nil {
			writeProblem(w, r, http.StatusNotFound, "advisory push is not configured")
			return
		}
		s.push.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !s.publicMetrics {
			if _, ok := s.authenticate(w, r); !ok {
				return
			}
		}
		s.metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such resource")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux answers a known path with a wrong method 405 in plain
		// text; answer it as a problem instead.
		if _, pattern := mux.Handler(r); pattern == "" || pattern == "/" {
			if allow := allowed(mux, r); allow != "" {
				w.Header().Set("Allow", allow)
				writeProblem(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not served here")
				return
			}
		}
		mux.ServeHTTP(w, r) // sets the path values
	})
}

// allowed lists the methods the mux serves at r's path.
func allowed(mux *http.ServeMux, r *http.Request) string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" && p != "/" {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// authenticate reads the bearer token; without a valid one it answers 401.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	// The scheme is case-insensitive (RFC 9110, section 11.1).
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	ok = ok && strings.EqualFold(scheme, "Bearer")
	p, found := Principal{}, false
	if ok {
		p, found = s.tokens.Authenticate(strings.TrimSpace(tok))
	}
	if !found {
		w.Header().Set("WWW-Authenticate", `Bearer realm="openabs"`)
		detail := "a bearer token is required"
		if ok {
			detail = "the bearer token is not valid"
		}
		writeProblem(w, r, http.StatusUnauthorized, detail)
		return Principal{}, false
	}
	return p, true
}

func (s *server) authed(h func(*server, http.ResponseWriter, *http.Request, Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		r = r.WithContext(abs.WithActor(r.Context(), p.Name))
		h(s, w, r, p)
	})
}

func forbidden(w http.ResponseWriter, r *http.Request, p Principal, what string) {
	writeProblem(w, r, http.StatusForbidden, fmt.Sprintf("token %q (%s) may not %s", p.Name, p.Role, what))
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads a JSON body into v: at most MaxBodyBytes (413 beyond),
// unknown fields refused, one value only. It answers the problem itself
// and reports false when the body is not acceptable.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			writeProblem(w, r, http.StatusUnsupportedMediaType, "the body must be application/json")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeProblem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
			return false
		}
		writeProblem(w, r, http.StatusBadRequest, "the body could not be read")
		return false
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "invalid JSON body: "+jsonError(err))
		return false
	}
	if dec.More() {
		writeProblem(w, r, http.StatusBadRequest, "invalid JSON body: more than one value")
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeProblem(w, r, http.StatusBadRequest, "invalid JSON body: data after the value")
		return false
	}
	return true
}

// jsonError describes a decoding error without quoting the body (which
// may hold a secret).
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	}
	return "not a valid value"
}

// page is a list answer, shaped as the catalog's.
type page[T any] struct {
	Data     []T `json:"data"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
	Total    int `json:"total"`
}

// pageParams reads page (0-based) and page_size.
func pageParams(w http.ResponseWriter, r *http.Request) (int, int, bool) {
	q := r.URL.Query()
	pg, size := 0, DefaultPageSize
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			writeProblem(w, r, http.StatusBadRequest, "page must be an integer from 0")
			return 0, 0, false
		}
		pg = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("page_size must be an integer from 1 to %d", MaxPageSize))
			return 0, 0, false
		}
		size = n
	}
	return pg, size, true
}

// slice returns page pg of all.
func slice[T any](all []T, pg, size int) page[T] {
	out := page[T]{Data: []T{}, Page: pg, PageSize: size, Total: len(all)}
	if from := pg * size; from < len(all) {
		out.Data = all[from:min(from+size, len(all))]
	}
	return out
}

// ifVersion reads the If-Match header ("3" or 3, or W/"3"): 0 when absent.
func ifVersion(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, true
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		writeProblem(w, r, http.StatusBadRequest, "If-Match must be the version an earlier answer gave in its ETag")
		return 0, false
	}
	return n, true
}

func etag(w http.ResponseWriter, version int64) {
	if version > 0 {
		w.Header().Set("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
	}
}

// validName is a project id or image name as a path segment may carry it:
// printable, no spaces, at most 255 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 255 || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '\\' || c == '?' || c == '#' || c == '%' {
			return false
		}
	}
	return true
}

func pathName(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	v := r.PathValue(key)
	if !validName(v) {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("%s %q is not a valid name", key, v))
		return "", false
	}
	return v, true
}

// projectKey is the project an image belongs to, as token scopes name it.
func projectKey(img abs.Image) string {
	if id := img.ProjectID(); id != "" {
		return id
	}
	return img.Project()
}
