package config_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/testutil"
)

// world is a registry with the demo fleet (its base already updated), the
// demo advisories in a directory and a mail sink.
type world struct {
	reg    *demo.Registry
	fleet  *demo.Fleet
	advDir string
	sink   *demo.SMTPSink
	now    time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{reg: demo.StartRegistry(), now: time.Now().UTC(), advDir: filepath.Join(t.TempDir(), "advisories")}
	t.Cleanup(w.reg.Close)
	var err error
	w.fleet, err = demo.Seed(t.Context(), w.reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(t.Context(), w.fleet))
	require.NoError(t, demo.WriteAdvisories(w.advDir, w.now, demo.Advisories...))
	w.sink, err = demo.StartSMTP()
	require.NoError(t, err)
	t.Cleanup(w.sink.Close)
	return w
}

func write(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

// TestConfigFile runs one cycle from a YAML configuration, as
// `autorebuild -config FILE -once` does.
func TestConfigFile(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	path := write(t, fmt.Sprintf(`
state:
  sqlite: %s
poll_interval: "0"
advisories:
  sources: [%s]
registries:
  - host: %s
    insecure: true
builder:
  kind: none
notify:
  email:
    host: %s
    port: %d
    tls: none
    from: "openabs <abs@example.invalid>"
work_dir: %s
projects:
  - name: demo
    owners: [%s]
    images:
      - repository: %s
        auto_rebuild: true
      - repository: %s
        auto_rebuild: true
`, filepath.Join(dir, "abs.db"), w.advDir, w.reg.Host, w.sink.Host, w.sink.Port, dir, demo.Owner,
		w.fleet.Apps[0].Repository, w.fleet.Apps[1].Repository))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	assert.Equal(t, time.Duration(0), cfg.PollInterval())
	o, db, err := cfg.Open(t.Context(), abs.WithClock(func() time.Time { return w.now }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	assert.Len(t, o.Notes(), 2, "auto-rebuild turns on auto-publish, and says so")
	require.NoError(t, o.Start(t.Context()))
	t.Cleanup(func() { _ = o.Stop(t.Context()) })
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	for _, s := range rep.Summary().Images {
		assert.True(t, s.Published, s.Name)
		assert.Equal(t, healthindex.GradeA, s.AfterGrade)
	}
	assert.Len(t, w.sink.Messages(), 1)
}

// TestConfigErrors: every bad file fails with an *Error that matches
// abs.ErrConfig, names the key at fault and never repeats a value.
func TestConfigErrors(t *testing.T) {
	const secret = "hunter2-in-the-wrong-key"
	for _, tc := range []struct {
		name, body string
		key        string // the key the error must name ("" for the file)
	}{
		{"unknown key", "projects: [{name: p}]\nbogus: 1\n", "bogus"},
		{"bad duration", "poll_interval: soon\nprojects: [{name: p}]\n", "poll_interval"},
		{"negative duration", "warn_before: -5h\nprojects: [{name: p}]\n", "warn_before"},
		{"no projects", "poll_interval: 1h\n", "projects"},
		{"not yaml", "projects: [\n", ""},
		{"unknown field", "projects: [{name: p, images: [{repo: x}]}]\n", "projects[0].images[0].repo"},
		{"wrong type", "workers:\n  scans: " + secret + "\nprojects: [{name: p}]\n", "workers.scans"},
		{"unknown log level", "log_level: verbose\nprojects: [{name: p}]\n", "log_level"},
		{"second document", "projects: [{name: p}]\n---\nprojects: [{name: q}]\n", ""},
		{"unknown builder", "builder: {kind: docker}\nprojects: [{name: p}]\n", "builder.kind"},
		{"empty", "", ""},
		{"registry without host", "registries: [{username: u}]\nprojects: [{name: p}]\n", "registries[0].host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(write(t, tc.body))
			require.ErrorIs(t, err, abs.ErrConfig)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key, err.Error())
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "soon")
			assert.NotContains(t, err.Error(), "verbose")
		})
	}
}

// TestConfigFileSize: a file over MaxFileSize is refused before parsing.
func TestConfigFileSize(t *testing.T) {
	body := "projects: [{name: p}]\n" + strings.Repeat("# padding\n", config.MaxFileSize/10+1)
	_, err := config.Load(write(t, body))
	require.ErrorIs(t, err, abs.ErrConfig)
	assert.Contains(t, err.Error(), "larger than")
	_, err = config.Load(write(t, "projects: [{name: p}]\n"+strings.Repeat("# padding\n", 1000)))
	require.NoError(t, err, "a file under the cap loads")
}

// TestConfigSecretsNeverEcho: a secret written where a variable name or a
// file path belongs is not printed back.
func TestConfigSecretsNeverEcho(t *testing.T) {
	const secret = "s3cret-PASSWORD-value"
	for name, body := range map[string]string{
		"in an _env key":  "registries: [{host: r.example, username: u, password_env: " + secret + "}]\n",
		"in a _file key":  "registries: [{host: r.example, username: u, password_file: /nonexistent/" + secret + "}]\n",
		"catalog api key": "catalog: {api_key_env: " + secret + "}\n",
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load(write(t, body+"state: {sqlite: "+filepath.Join(t.TempDir(), "abs.db")+"}\nprojects: [{name: p}]\n"))
			require.NoError(t, err)
			_, _, err = f.Open(t.Context())
			require.ErrorIs(t, err, abs.ErrConfig)
			assert.NotContains(t, err.Error(), secret)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			assert.True(t, strings.HasSuffix(ce.Key, "_env") || strings.HasSuffix(ce.Key, "_file"), ce.Key)
		})
	}
}

// TestInsecureIsPerHost: `insecure` on one registry lets plain HTTP reach
// that host only; another registry, on loopback too, keeps HTTPS, so the
// publish to it is refused before anything is sent.
func TestInsecureIsPerHost(t *testing.T) {
	w := newWorld(t)
	other := demo.StartRegistry() // a second registry, not marked insecure
	t.Cleanup(other.Close)
	otherFleet, err := demo.Seed(t.Context(), other.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(t.Context(), otherFleet))
	dir := t.TempDir()
	path := write(t, fmt.Sprintf(`
state: {sqlite: %s}
poll_interval: "0"
advisories: {sources: [%s]}
registries:
  - {host: %s, insecure: true}
  - {host: %s}
builder: {kind: none}
projects:
  - name: demo
    images:
      - {repository: %s, auto_rebuild: true}
      - {repository: %s, auto_rebuild: true}
`, filepath.Join(dir, "abs.db"), w.advDir, w.reg.Host, other.Host, w.fleet.Apps[0].Repository, otherFleet.Apps[0].Repository))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	o, db, err := cfg.Open(t.Context(), abs.WithClock(func() time.Time { return w.now }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, o.Start(t.Context()))
	t.Cleanup(func() { _ = o.Stop(t.Context()) })
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	states := map[string]string{}
	details := map[string]string{}
	for _, r := range rep.Rebuilds {
		states[r.Image], details[r.Image] = string(r.State), r.Detail
	}
	assert.Equal(t, "published", states[w.fleet.Apps[0].Repository], details[w.fleet.Apps[0].Repository])
	assert.Equal(t, "failed", states[otherFleet.Apps[0].Repository])
	assert.Contains(t, details[otherFleet.Apps[0].Repository], "plain HTTP refused")
}

// csafFeed serves the demo advisories as a CSAF feed directory: a full
// .tar.zst archive named by archive_latest.txt, and empty change lists.
func csafFeed(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, demo.WriteAdvisories(dir, time.Now(), demo.Advisories...))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var archive bytes.Buffer
	zw, err := zstd.NewWriter(&archive)
	require.NoError(t, err)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "2099/" + e.Name(), Mode: 0o644, Size: int64(len(data)),
			ModTime: time.Now(), Typeflag: tar.TypeReg}))
		_, err = tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	files := map[string][]byte{
		"/csaf/archive_latest.txt":                 []byte("csaf_advisories_2099-01-01.tar.zst\n"),
		"/csaf/csaf_advisories_2099-01-01.tar.zst": archive.Bytes(),
		"/csaf/changes.csv":                        nil,
		"/csaf/deletions.csv":                      nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestConfigFeedProgress: a cycle configured with a CSAF feed reports how
// many documents its sync has read through the progress hook.
func TestConfigFeedProgress(t *testing.T) {
	ctx := t.Context()
	feed := csafFeed(t)
	reg := demo.StartRegistry()
	t.Cleanup(reg.Close)
	fleet, err := demo.Seed(ctx, reg.Host)
	require.NoError(t, err)
	dir := t.TempDir()
	path := write(t, fmt.Sprintf(`state: {sqlite: %s}
advisories: {sources: [%s/csaf/]}
registries: [{host: %s, insecure: true}]
builder: {kind: none}
projects: [{name: demo, images: [{repository: %s}]}]
`, filepath.Join(dir, "abs.db"), feed.URL, reg.Host, fleet.Apps[0].Repository))
	c, err := config.Load(path)
	require.NoError(t, err)

	var progress testutil.SyncBuffer
	c.Progress = func(p abs.Progress) {
		if p.Stage == "sync" {
			fmt.Fprintln(&progress, p.Message)
		}
	}
	o, db, err := c.Open(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = o.Plan(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	assert.Contains(t, progress.String(), fmt.Sprintf("%s/csaf/: %d documents read", feed.URL, len(demo.Advisories)))
}

// FuzzLoad: a configuration file either loads or fails with an *Error; it
// never panics.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile("../examples/autorebuild/config.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("projects: [{name: p, images: [{repository: r}]}]\npoll_interval: 1h\n"))
	f.Add([]byte("poll_interval: -1h\n"))
	f.Add([]byte("projects: [{name: p}]\n---\nx: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path)
		var ce *config.Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error %v is not a *config.Error", err)
		}
	})
}
