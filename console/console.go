package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/secret"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of the console's sessions.
const (
	// DefaultSessionTTL is how long a sign-in lasts.
	DefaultSessionTTL = 8 * time.Hour
	// DefaultMaxSessions bounds the sessions held at once; signing in
	// beyond it ends the session that would expire first.
	DefaultMaxSessions = 10000
)

// Option configures a Console.
type Option func(*Console)

// WithSessionTTL sets how long a sign-in lasts (DefaultSessionTTL).
func WithSessionTTL(d time.Duration) Option {
	return func(c *Console) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithMaxSessions bounds the sessions held at once (DefaultMaxSessions).
func WithMaxSessions(n int) Option {
	return func(c *Console) {
		if n > 0 {
			c.maxSessions = n
		}
	}
}

// WithPrefix sets the path the console is mounted under, for example
// "/console" when a portal serves it with
// http.StripPrefix("/console", h): links and the cookie's path start with
// it. Default: the console owns the root.
func WithPrefix(p string) Option {
	return func(c *Console) { c.prefix = strings.TrimRight(p, "/") }
}

// WithSecureCookie forces the session cookie's Secure attribute on or
// off. By default it is set unless the request was addressed to a
// loopback host (localhost, 127.0.0.1, ::1), where browsers accept the
// console over plain HTTP.
func WithSecureCookie(on bool) Option { return func(c *Console) { c.secure = &on } }

// WithLogger sets where the console logs failures (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(c *Console) {
		if l != nil {
			c.log = l
		}
	}
}

// WithClock sets the console's clock (sessions expire by it).
func WithClock(now func() time.Time) Option {
	return func(c *Console) {
		if now != nil {
			c.now = now
		}
	}
}

// Console is the web console's handler; New returns it.
type Console struct {
	svc         service
	tokens      *api.Tokens
	sess        *sessions
	tmpl        map[string]*template.Template
	mux         *http.ServeMux
	handler     http.Handler
	ttl         time.Duration
	maxSessions int
	prefix      string
	secure      *bool
	log         *slog.Logger
	now         func() time.Time
	// planSlot lets one dry run run at a time, for planTimeout at most,
	// as the API's GET /plan.
	planSlot    chan struct{}
	planTimeout time.Duration
}

// DefaultPlanTimeout bounds a dry run started from the console.
const DefaultPlanTimeout = 2 * time.Minute

// New returns the web console of o, signing users in with tokens (the
// REST API's tokens and roles). The handler serves every page and asset
// itself: nothing is fetched from the network.
func New(o *abs.Orchestrator, tokens *api.Tokens, opts ...Option) http.Handler {
	return newConsole(orchestrator{o}, tokens, opts...)
}

func newConsole(svc service, tokens *api.Tokens, opts ...Option) *Console {
	c := &Console{svc: svc, tokens: tokens, ttl: DefaultSessionTTL, maxSessions: DefaultMaxSessions,
		log: slog.New(slog.DiscardHandler), now: time.Now, planSlot: make(chan struct{}, 1), planTimeout: DefaultPlanTimeout}
	for _, opt := range opts {
		opt(c)
	}
	c.sess = newSessions(c.ttl, c.maxSessions, c.now)
	c.tmpl = parseTemplates(c.prefix)
	c.routes()
	return c
}

func parseTemplates(prefix string) map[string]*template.Template {
	funcs := template.FuncMap{
		"p":          func() string { return prefix },
		"gradeClass": gradeClass,
		"date":       func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
		"datep": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return t.UTC().Format(time.DateOnly)
		},
		"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"whenp": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"short": shortDigest,
		"current": func(s step, now time.Time) bool {
			return !now.Before(s.From) && (s.Until == nil || now.Before(*s.Until))
		},
		"join": strings.Join,
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	pages, _ := fs.Glob(templateFS, "templates/*.html")
	for _, p := range pages {
		name := strings.TrimPrefix(p, "templates/")
		if name == "layout.html" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, p))
	}
	return out
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /signin", c.signinPage)
	m.HandleFunc("POST /signin", c.signin)
	m.HandleFunc("POST /signout", c.signout)
	m.HandleFunc("GET /{$}", c.page(c.fleetPage))
	m.HandleFunc("GET /images/{name...}", c.page(c.imagePage))
	m.HandleFunc("GET /configure/{name...}", c.page(c.configurePage))
	m.HandleFunc("GET /cycles/{id}", c.page(c.cyclePage))
	m.HandleFunc("POST /configure/{name...}", c.edit(c.saveSettings))
	m.HandleFunc("POST /sshkey/{name...}", c.edit(c.uploadKey))
	m.HandleFunc("POST /token/{name...}", c.edit(c.uploadToken))
	m.HandleFunc("POST /test-access/{name...}", c.edit(c.testAccess))
	m.HandleFunc("POST /rebuild/{name...}", c.edit(c.rebuildNow))
	m.HandleFunc("POST /retry/{name...}", c.edit(c.retry))
	m.HandleFunc("POST /plan/{name...}", c.edit(c.dryRun))
	c.mux = m
	// Cross-origin POSTs are refused before any session is looked at
	// (this also covers the sign-in form, which has no session yet).
	c.handler = http.NewCrossOriginProtection().Handler(m)
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.handler.ServeHTTP(w, r)
}

// request is what a page handler gets: the session and its principal.
type request struct {
	*http.Request
	sess   session
	cookie string
}

// canEdit reports whether the signed-in principal may change img.
func (r request) canEdit(img abs.Image) bool { return r.sess.principal.CanEdit(projectKey(img)) }

// canRead reports whether the signed-in principal may read img.
func (r request) canRead(img abs.Image) bool { return r.sess.principal.CanRead(projectKey(img)) }

// projectKey is the project an image is scoped by in tokens: its project's
// id, or its name for a project without an id (as the REST API scopes it).
func projectKey(img abs.Image) string {
	if id := img.ProjectID(); id != "" {
		return id
	}
	return img.Project()
}

func (c *Console) session(r *http.Request) (request, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return request{Request: r}, false
	}
	s, ok := c.sess.get(ck.Value)
	return request{Request: r, sess: s, cookie: ck.Value}, ok
}

// page wraps a GET page: signed-in users only.
func (c *Console) page(h func(http.ResponseWriter, request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := c.session(r)
		if !ok {
			http.Redirect(w, r, c.prefix+"/signin", http.StatusSeeOther)
			return
		}
		h(w, req)
	}
}

// errForbidden is answered to a form post the principal may not make.
var errForbidden = errors.New("forbidden")

// edit wraps a form post: a session, its CSRF token and the right to
// change the image named in the path (editor or admin of its project).
// Viewers get 403 whatever they post.
func (c *Console) edit(h func(http.ResponseWriter, request, abs.Image)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := c.session(r)
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		// The body is at most maxForm, so an uploaded key stays in memory
		// (never in a temporary file); RemoveAll drops whatever was kept.
		err := r.ParseMultipartForm(maxForm)
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
		if err != nil && !errors.Is(err, http.ErrNotMultipart) {
			http.Error(w, "form too large or malformed", http.StatusBadRequest)
			return
		}
		if !validCSRF(req.sess, r.PostFormValue(csrfField)) {
			http.Error(w, "invalid or missing CSRF token; reload the page", http.StatusForbidden)
			return
		}
		img, found := c.findImage(r.PathValue("name"))
		if !found || !req.canRead(img) {
			http.Error(w, "no such image", http.StatusNotFound)
			return
		}
		if !req.canEdit(img) {
			http.Error(w, "your role may not change this image", http.StatusForbidden)
			return
		}
		h(w, req, img)
	}
}

// maxForm bounds a form post (an SSH key is a few kilobytes).
const maxForm = 256 << 10

// findImage finds the named image among the managed images (Images
// reloads them when any replica changed the stored projects, so an image
// created elsewhere is found at once).
func (c *Console) findImage(name string) (abs.Image, bool) {
	for _, img := range c.svc.Images() {
		if img.Name == name {
			return img, true
		}
	}
	return abs.Image{}, false
}

// view is what every page template gets.
type view struct {
	Title     string
	Principal api.Principal
	CSRF      string
	Flash     []flash
	Data      any
	// Refresh, when set, reloads the page after that many seconds (a
	// cycle in progress).
	Refresh int
}

func (c *Console) render(w http.ResponseWriter, r request, status int, page, title string, data any) {
	t, ok := c.tmpl[page]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Principal: r.sess.principal, CSRF: r.sess.csrf, Flash: r.sess.flash, Data: data}
	if rf, ok := data.(interface{ refresh() int }); ok {
		v.Refresh = rf.refresh()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		c.log.Error("console: render", "page", page, "error", err)
		http.Error(w, "cannot render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page.
func (c *Console) fail(w http.ResponseWriter, r request, status int, msg string, err error) {
	if err != nil {
		c.log.Error("console: "+msg, "error", err)
		msg += ": " + err.Error()
	}
	c.render(w, r, status, "error.html", "Error", msg)
}

// back redirects to the page at path (under the prefix), with a flash
// message for the session.
func (c *Console) back(w http.ResponseWriter, r request, path string, f ...flash) {
	for _, m := range f {
		c.sess.addFlash(r.cookie, m)
	}
	http.Redirect(w, r.Request, c.prefix+path, http.StatusSeeOther)
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	req, ok := c.session(r)
	if ok {
		http.Redirect(w, r, c.prefix+"/", http.StatusSeeOther)
		return
	}
	c.render(w, req, http.StatusOK, "signin.html", "Sign in", nil)
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	p, ok := c.tokens.Authenticate(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		c.render(w, request{Request: r}, http.StatusUnauthorized, "signin.html", "Sign in", "That token is not valid.")
		return
	}
	if old, err := r.Cookie(cookieName); err == nil {
		c.sess.delete(old.Value) // a fresh id at every sign-in
	}
	id := c.sess.create(p)
	http.SetCookie(w, c.cookie(r, id, int(c.ttl/time.Second)))
	http.Redirect(w, r, c.prefix+"/", http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	req, ok := c.session(r)
	if ok {
		if !validCSRF(req.sess, r.PostFormValue(csrfField)) {
			http.Error(w, "invalid or missing CSRF token; reload the page", http.StatusForbidden)
			return
		}
		c.sess.delete(req.cookie)
	}
	http.SetCookie(w, c.cookie(r, "", -1))
	http.Redirect(w, r, c.prefix+"/signin", http.StatusSeeOther)
}

// actorContext names the signed-in principal in the audit log.
func (r request) actorContext() context.Context {
	return abs.WithActor(r.Context(), "console:"+r.sess.principal.Name)
}

func secretOf(b []byte) secret.Value { return secret.FromBytes(b) }

// readFull reads into buf until it is full or the reader ends.
func readFull(rd io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(rd, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
