package console_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/console"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // sqlite rpmdbs of the demo images
	"github.com/openabs/abs/secret"
)

// Tokens of the test consoles.
const (
	editorToken = "editor-token-0123456789abcdef0123"
	viewerToken = "viewer-token-0123456789abcdef0123"
	// otherToken is an editor of another project only.
	otherToken = "other-token-0123456789abcdef01234"
)

// world is the demo fleet on loopback (registry, advisories, git sources)
// with a running orchestrator whose first cycle has graded every image,
// auto-rebuild off, and a console over it.
type world struct {
	o       *abs.Orchestrator
	fleet   *demo.Fleet
	console *httptest.Server
	// gitDirs are the images' git repositories, by image name.
	gitDirs map[string]string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	reg := demo.StartRegistry()
	t.Cleanup(reg.Close)
	fleet, err := demo.Seed(ctx, reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(ctx, fleet))
	advDir := filepath.Join(dir, "advisories")
	require.NoError(t, demo.WriteAdvisories(advDir, time.Now(), demo.Advisories...))
	project := abs.Project{ID: "demo", Name: "demo", Owners: []string{demo.Owner}}
	gitDirs := map[string]string{}
	for _, a := range fleet.Apps {
		src := filepath.Join(dir, "git", filepath.Base(a.Name))
		gitDirs[a.Name] = src
		_, err := demo.GitRepo(src, fleet.BaseRef, "app/"+filepath.Base(a.Name)+".txt", a.Name+"\n")
		require.NoError(t, err)
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, Tag: a.Tag,
			BuildService: true, Tags: []string{"latest"},
			Source: &rebuild.GitSource{URL: "file://" + src, Branch: "main"}})
	}
	db, err := abs.OpenSQLite(ctx, filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(advDir)),
		abs.WithScanner(rpmscan.New()),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())),
		abs.WithSecretKey(key),
		abs.WithWorkDir(dir),
		abs.WithLogger(logger),
		abs.WithPollInterval(0),
		abs.WithLocalSources(), // the sources are file:// repositories
	)
	require.NoError(t, err)
	require.NoError(t, o.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = o.Stop(sctx)
	})
	_, err = o.RunCycle(ctx, abs.CycleOptions{Cause: "first"}) // scans and grades; auto-rebuild is off
	require.NoError(t, err)
	tokens, err := api.NewTokens(
		api.Token{Name: "alice", Role: api.Editor, Value: secret.New(editorToken)},
		api.Token{Name: "victor", Role: api.Viewer, Value: secret.New(viewerToken)},
		api.Token{Name: "olga", Role: api.Editor, Projects: []string{"elsewhere"}, Value: secret.New(otherToken)},
	)
	require.NoError(t, err)
	srv := httptest.NewServer(console.New(o, tokens, console.WithLogger(logger)))
	t.Cleanup(srv.Close)
	return &world{o: o, fleet: fleet, console: srv, gitDirs: gitDirs}
}

// client is a browser without JavaScript: a cookie jar, no redirects
// followed unless asked.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, body)
	require.NoError(c.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) { return c.do(http.MethodGet, path, nil) }

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	return c.do(http.MethodPost, path, form)
}

// signIn signs in with token and returns the session's CSRF token.
func (c *client) signIn(token string) string {
	c.t.Helper()
	resp, _ := c.post("/signin", url.Values{"token": {token}})
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode)
	resp, body := c.get("/")
	require.Equal(c.t, http.StatusOK, resp.StatusCode, body)
	return csrfOf(c.t, body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

// sshKey returns a new ed25519 private key in OpenSSH PEM form.
func sshKey(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	return pem.EncodeToMemory(blk)
}
