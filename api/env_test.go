package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/publish"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver"
	"github.com/openabs/abs/secret"
)

func TestMain(m *testing.M) {
	code := m.Run()
	storetest.Stop()
	os.Exit(code)
}

// The tokens every test uses, one per role and scope.
const (
	tokAdmin       = "admin-token-0123456789abcdef"
	tokEditor      = "editor-token-0123456789abcdef"
	tokEditorShop  = "editor-shop-token-0123456789"
	tokEditorOther = "editor-other-token-012345678"
	tokViewer      = "viewer-token-0123456789abcdef"
	tokViewerOther = "viewer-other-token-012345678"
	tokMatrixDev   = "matrix-dev-token-0123456789a"
	tokMatrixRO    = "matrix-ro-token-0123456789ab"
	matrixID       = "p-matrix"
	pushSecret     = "push-secret-0123456789"
	shopID         = "p-shop"
)

func testTokens(t testing.TB) *api.Tokens {
	ts, err := api.NewTokens(
		api.Token{Name: "root", Role: api.Admin, Value: secret.New(tokAdmin)},
		api.Token{Name: "ops", Role: api.Editor, Value: secret.New(tokEditor)},
		api.Token{Name: "shop-dev", Role: api.Editor, Projects: []string{shopID}, Value: secret.New(tokEditorShop)},
		api.Token{Name: "other-dev", Role: api.Editor, Projects: []string{"p-other"}, Value: secret.New(tokEditorOther)},
		api.Token{Name: "auditor", Role: api.Viewer, Value: secret.New(tokViewer)},
		api.Token{Name: "other-ro", Role: api.Viewer, Projects: []string{"p-other"}, Value: secret.New(tokViewerOther)},
		api.Token{Name: "matrix-dev", Role: api.Editor, Projects: []string{matrixID}, Value: secret.New(tokMatrixDev)},
		api.Token{Name: "matrix-ro", Role: api.Viewer, Projects: []string{matrixID}, Value: secret.New(tokMatrixRO)},
	)
	require.NoError(t, err)
	return ts
}

// env is a running orchestrator over the demo world (an in-process
// registry with two applications on an outdated base, the demo
// advisories), one cycle done, and its API on a real loopback listener.
type env struct {
	t    testing.TB
	o    *abs.Orchestrator
	reg  string // the registry's host
	srv  *httptest.Server
	now  time.Time
	log  *bytes.Buffer
	logM sync.Mutex

	mu     sync.Mutex
	bodies []string // every response body, to look for secrets
}

type dbKind string

const (
	onSQLite   dbKind = "sqlite"
	onPostgres dbKind = "postgres"
)

func openDB(t testing.TB, kind dbKind, dir string) *abs.Database {
	var db *abs.Database
	var err error
	switch kind {
	case onPostgres:
		dsn := storetest.PostgresDSN(t)
		db, err = abs.OpenPostgres(t.Context(), dsn)
	default:
		db, err = abs.OpenSQLite(t.Context(), filepath.Join(dir, "abs.db"))
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newEnv(t testing.TB, kind dbKind) *env {
	ctx := t.Context()
	dir := t.TempDir()
	db := openDB(t, kind, dir)
	reg := demo.StartRegistry()
	t.Cleanup(reg.Close)
	fleet, err := demo.Seed(ctx, reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(ctx, fleet))
	now, start := time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC), time.Now()
	require.NoError(t, demo.WriteAdvisories(filepath.Join(dir, "advisories"), now, demo.Advisories...))
	project := abs.Project{ID: shopID, Name: "shop", Owners: []string{"team@example.com"}}
	for _, a := range fleet.Apps {
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, AutoRebuild: true, BuildService: true})
	}
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	// A VEX document: curl on RHEL 9 is affected by CVE-2099-7777 and has
	// no fix yet (an unfixed CVE, never graded).
	require.NoError(t, os.WriteFile(filepath.Join(dir, "advisories", "cve-2099-7777.json"), []byte(unfixedCurl), 0o600))
	e := &env{t: t, now: now, log: &bytes.Buffer{}, reg: reg.Host}
	logger := slog.New(slog.NewTextHandler(lockedWriter{e}, nil))
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(filepath.Join(dir, "advisories"))),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())),
		// The clock runs from now on: grade records and cycle durations
		// are keyed by time.
		abs.WithClock(func() time.Time { return now.Add(time.Since(start)) }),
		abs.WithWorkDir(dir),
		abs.WithSecretKey(key),
		abs.WithLogger(logger),
	)
	require.NoError(t, err)
	require.NoError(t, o.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = o.Stop(sctx)
	})
	e.o = o
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err = o.RunCycle(wctx, abs.CycleOptions{})
	require.NoError(t, err)
	e.srv = httptest.NewServer(api.New(o, testTokens(t), api.WithPushSecret(secret.New(pushSecret)), api.WithLogger(logger)))
	t.Cleanup(e.srv.Close)
	return e
}

type lockedWriter struct{ e *env }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.e.logM.Lock()
	defer w.e.logM.Unlock()
	return w.e.log.Write(p)
}

func (e *env) logText() string {
	e.logM.Lock()
	defer e.logM.Unlock()
	return e.log.String()
}

// answer is one response: status, headers and body.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.Body, v), string(a.Body))
}

func (a answer) problem(t testing.TB) api.Problem {
	t.Helper()
	require.Equal(t, api.ProblemContentType, a.Header.Get("Content-Type"), string(a.Body))
	var p api.Problem
	a.json(t, &p)
	require.Equal(t, a.Status, p.Status)
	return p
}

// do sends a request with token (none when "") and body (JSON-encoded
// unless it is a string or []byte).
func (e *env) do(method, path, token string, body any, hdr ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	e.mu.Lock()
	e.bodies = append(e.bodies, string(b)+"\n"+headerText(res.Header))
	e.mu.Unlock()
	return answer{Status: res.StatusCode, Header: res.Header, Body: b}
}

func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// img is the API path of an image.
func img(name string, rest ...string) string {
	return "/api/v1/images/" + url.PathEscape(name) + strings.Join(rest, "")
}

// waitCycle waits for a cycle and its work to finish.
func (e *env) waitCycle(id string) *abs.Report {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	rep, err := e.o.Wait(ctx, id)
	require.NoError(e.t, err)
	return rep
}

// unfixedCurl is a CSAF VEX document (DEMO DATA) saying curl on RHEL 9 is
// affected by CVE-2099-7777 and has no fix yet.
const unfixedCurl = `{
  "document": {"aggregate_severity": {"text": "Critical"}, "category": "csaf_vex", "csaf_version": "2.0",
    "title": "DEMO curl: unfixed flaw",
    "tracking": {"current_release_date": "2099-01-10T12:00:00+00:00", "id": "CVE-2099-7777",
      "initial_release_date": "2099-01-01T00:00:00+00:00", "status": "final", "version": "1"}},
  "product_tree": {"branches": [{"category": "vendor", "name": "Red Hat", "branches": [
    {"category": "product_family", "name": "Red Hat Enterprise Linux 9", "branches": [
      {"category": "product_name", "name": "Red Hat Enterprise Linux 9",
       "product": {"name": "Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9",
         "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9"}}}]},
    {"category": "product_version", "name": "curl",
     "product": {"name": "curl", "product_id": "curl", "product_identification_helper": {"purl": "pkg:rpm/redhat/curl"}}}]}],
    "relationships": [{"category": "default_component_of",
      "full_product_name": {"name": "curl as a component of Red Hat Enterprise Linux 9", "product_id": "red_hat_enterprise_linux_9:curl"},
      "product_reference": "curl", "relates_to_product_reference": "red_hat_enterprise_linux_9"}]},
  "vulnerabilities": [{"cve": "CVE-2099-7777",
    "product_status": {"known_affected": ["red_hat_enterprise_linux_9:curl"]},
    "threats": [{"category": "impact", "details": "Critical", "product_ids": ["red_hat_enterprise_linux_9:curl"]}]}]
}`
