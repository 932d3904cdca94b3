package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// world is the demo registry (base updated), the demo advisories and a
// directory, with nothing configured yet.
type world struct {
	fleet *demo.Fleet
	dir   string
	now   func() time.Time
}

func newWorld(t *testing.T) *world {
	reg := demo.StartRegistry()
	t.Cleanup(reg.Close)
	fleet, err := demo.Seed(t.Context(), reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(t.Context(), fleet))
	dir := t.TempDir()
	base, start := time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC), time.Now()
	require.NoError(t, demo.WriteAdvisories(filepath.Join(dir, "advisories"), base, demo.Advisories...))
	return &world{fleet: fleet, dir: dir, now: func() time.Time { return base.Add(time.Since(start)) }}
}

func (w *world) orchestrator(t *testing.T, db *abs.Database, projects []abs.Project, log *slog.Logger, key secret.Key, extra ...abs.Option) *abs.Orchestrator {
	opts := append([]abs.Option{
		abs.WithSources(advisory.NewDir(filepath.Join(w.dir, "advisories"))),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())),
		abs.WithClock(w.now),
		abs.WithWorkDir(t.TempDir()),
		abs.WithSecretKey(key),
		abs.WithLogger(log),
	}, extra...)
	o, err := abs.New(t.Context(), db, projects, opts...)
	require.NoError(t, err)
	return o
}

func start(t *testing.T, o *abs.Orchestrator) {
	require.NoError(t, o.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = o.Stop(ctx)
	})
}

// serveEnv is an env for an orchestrator the test made.
func serveEnv(t *testing.T, o *abs.Orchestrator, log *bytes.Buffer) *env {
	e := &env{t: t, o: o, log: log}
	e.srv = httptest.NewServer(api.New(o, testTokens(t)))
	t.Cleanup(e.srv.Close)
	return e
}

// TestProjectWithSSHKeyRebuilt: a project created through the API, its
// git source on a loopback SSH server and its private key given through
// PUT ssh-key, is rebuilt from source with buildah by the running
// orchestrator without a restart and published; the key appears in no
// answer, no log line and no database row.
func TestProjectWithSSHKeyRebuilt(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs buildah, run as root (chroot isolation)")
	}
	w := newWorld(t)
	app := w.fleet.Apps[0]
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + w.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY app.txt /app/app.txt\n",
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	dbPath := filepath.Join(t.TempDir(), "abs.db")
	db, err := abs.OpenSQLite(t.Context(), dbPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var logBuf bytes.Buffer
	e := &env{t: t, log: &logBuf}
	log := slog.New(slog.NewTextHandler(lockedWriter{e}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := w.orchestrator(t, db, nil, log, key, abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}))
	start(t, o)
	e.o = o
	e.srv = httptest.NewServer(api.New(o, testTokens(t), api.WithLogger(log)))
	t.Cleanup(e.srv.Close)

	a := e.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": shopID, "name": "shop", "owners": []string{"team@example.com"},
		"images": []map[string]any{{"name": app.Name, "repository": app.Repository, "tag": app.Tag, "tags": []string{"latest"},
			"auto_rebuild": true, "build_service": true,
			"source": map[string]any{"url": srv.URL, "branch": "main", "known_hosts": string(srv.KnownHosts)}}}})
	require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
	a = e.do("PUT", img(app.Name, "/ssh-key"), tokEditorShop, map[string]string{"private_key": string(srv.ClientKey.PrivatePEM)})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))

	a = e.do("POST", img(app.Name, "/rebuild"), tokEditorShop, nil)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var started struct{ Cycle string }
	a.json(t, &started)
	rep := e.waitCycle(started.Cycle)
	require.Len(t, rep.Rebuilds, 1, "%+v", rep)
	rb := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, rb.State, "%s\n%s", rb.Detail, rb.Log)
	assert.Equal(t, abs.MethodBuild, rb.Method)

	a = e.do("GET", img(app.Name), tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var st abs.ImageStatus
	a.json(t, &st)
	assert.Equal(t, rb.NewDigest, st.Digest)
	require.NotNil(t, st.Image.Credential)
	assert.Equal(t, abs.CredentialSSHKey, st.Image.Credential.Kind)

	// The key in clear is nowhere: answers, logs, database rows.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(srv.ClientKey.PrivatePEM)), "\n") {
		if !strings.HasPrefix(l, "-----") && len(l) > 8 {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines)
	e.mu.Lock()
	answers := strings.Join(e.bodies, "\n")
	e.mu.Unlock()
	rows := dumpSQLite(t, dbPath)
	for _, l := range lines {
		require.False(t, strings.Contains(answers, l), "the key is in an answer")
		require.False(t, strings.Contains(e.logText(), l), "the key is in the log")
		require.False(t, strings.Contains(rows, l), "the key is in a database row")
	}
}

// dumpSQLite returns every text value of every table of a SQLite file.
func dumpSQLite(t *testing.T, path string) string {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	names, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	var tables []string
	for names.Next() {
		var n string
		require.NoError(t, names.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, names.Close())
	var b strings.Builder
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tb + `"`)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for _, v := range vals {
				fmt.Fprintf(&b, "%s\n", v)
			}
		}
		require.NoError(t, rows.Close())
	}
	// The stored key is there, encrypted: base64 of an age file.
	require.True(t, strings.Contains(b.String(), "YWdlLWVuY3J5cHRpb24ub3Jn"), "no age ciphertext stored")
	return b.String()
}

// TestReplicasOnPostgres: two orchestrators share a PostgreSQL database;
// the API runs on one that runs no workers. A project created through its
// API, and a cycle started there, are rebuilt and published by the other.
func TestReplicasOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	w := newWorld(t)
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	open := func() *abs.Database {
		db, err := abs.OpenPostgres(t.Context(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	front := w.orchestrator(t, open(), nil, slog.New(slog.DiscardHandler), key)
	worker := w.orchestrator(t, open(), nil, log, key)
	start(t, worker)
	e := serveEnv(t, front, &bytes.Buffer{})

	var imgs []map[string]any
	for _, a := range w.fleet.Apps {
		imgs = append(imgs, map[string]any{"name": a.Name, "repository": a.Repository, "tag": a.Tag, "auto_rebuild": true, "build_service": true})
	}
	a := e.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": shopID, "name": "shop", "images": imgs})
	require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
	a = e.do("POST", "/api/v1/cycles", tokEditor, nil)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var started struct{ Cycle string }
	a.json(t, &started)
	rep := e.waitCycle(started.Cycle) // front reads what worker did
	require.Len(t, rep.Rebuilds, 2, "%+v", rep.Images)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	}
	a = e.do("GET", img(w.fleet.Apps[0].Name, "/rebuilds"), tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	assert.Contains(t, string(a.Body), `"state":"published"`)
	a = e.do("GET", "/metrics", tokViewer, nil)
	assert.Contains(t, string(a.Body), `openabs_rebuilds{method="rebase",state="published"} 2`)
}

// TestReplicaSeesImageCreatedElsewhere: an image created through one
// replica's API is read and rebuilt through another's at once, without a
// scan or a job on the second replica in between.
func TestReplicaSeesImageCreatedElsewhere(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	w := newWorld(t)
	key, err := secret.GenerateKey()
	require.NoError(t, err)
	open := func() *abs.Database {
		db, err := abs.OpenPostgres(t.Context(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	oa := w.orchestrator(t, open(), nil, slog.New(slog.DiscardHandler), key)
	ob := w.orchestrator(t, open(), nil, slog.New(slog.DiscardHandler), key)
	ea, eb := serveEnv(t, oa, &bytes.Buffer{}), serveEnv(t, ob, &bytes.Buffer{})
	require.Empty(t, ob.Images(), "B has loaded its (empty) list")

	app := w.fleet.Apps[0]
	a := ea.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": shopID, "name": "shop",
		"images": []map[string]any{{"name": app.Name, "repository": app.Repository, "tag": app.Tag, "build_service": true}}})
	require.Equal(t, http.StatusCreated, a.Status, string(a.Body))

	a = eb.do("GET", img(app.Name), tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var st abs.ImageStatus
	a.json(t, &st)
	assert.Equal(t, app.Repository, st.Image.Repository)
	a = eb.do("POST", img(app.Name, "/rebuild"), tokEditor, nil)
	assert.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	a = eb.do("POST", img(app.Name, "/retry"), tokEditor, nil)
	assert.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	names := []string{}
	for _, i := range ob.Images() {
		names = append(names, i.Name)
	}
	assert.Equal(t, []string{app.Name}, names, "Images() of B")
}
