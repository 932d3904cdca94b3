package abs_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/testutil"
)

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
	cfg := fmt.Sprintf(`state: {sqlite: %s}
advisories: {sources: [%s/csaf/]}
registries: [{host: %s, insecure: true}]
builder: {kind: none}
projects: [{name: demo, images: [{repository: %s}]}]
`, filepath.Join(dir, "abs.db"), feed.URL, reg.Host, fleet.Apps[0].Repository)
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	c, err := abs.LoadConfig(path)
	require.NoError(t, err)

	var progress testutil.SyncBuffer
	o, db, err := c.Open(ctx, abs.WithProgress(func(p abs.Progress) {
		if p.Stage == "sync" {
			fmt.Fprintln(&progress, p.Message)
		}
	}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = o.Plan(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	assert.Contains(t, progress.String(), fmt.Sprintf("%s/csaf/: %d documents read", feed.URL, len(demo.Advisories)))
}
