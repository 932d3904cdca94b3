package advisory

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const repoCPEDoc = `{"data": {"rhel-9-for-x86_64-baseos-rpms": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos"], "repo_relative_urls": ["content/dist/rhel9/9/x86_64/baseos/os"]}}, "last_updated": "2099-01-01T00:00:00Z"}`

func TestLoadRepoCPE(t *testing.T) {
	feed := newFakeFeed()
	feed.set("repository-to-cpe.json", []byte(repoCPEDoc))
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	url := srv.URL + "/feed/repository-to-cpe.json"
	cache := t.TempDir()
	opts := []Option{WithCacheDir(cache), WithRetry(2, time.Millisecond, time.Millisecond)}

	m, err := LoadRepoCPE(t.Context(), url, opts...)
	require.NoError(t, err)
	assert.Equal(t, []string{"cpe:/o:redhat:enterprise_linux:9::baseos"}, m.CPEs("rhel-9-for-x86_64-baseos-rpms"))
	assert.Nil(t, m.CPEs("unknown"))
	assert.Equal(t, 1, m.Len())
	assert.Equal(t, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), m.Updated())

	// Second load: conditional request, answered from the cache.
	m, err = LoadRepoCPE(t.Context(), url, opts...)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Len())
	assert.Equal(t, 1, feed.notMod)

	// Server down: the cached copy is used.
	feed.fail("repository-to-cpe.json", 500, 500)
	m, err = LoadRepoCPE(t.Context(), url, opts...)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Len())

	// Without a cache, the error surfaces.
	feed.fail("repository-to-cpe.json", 500, 500)
	_, err = LoadRepoCPE(t.Context(), url, WithRetry(2, time.Millisecond, time.Millisecond))
	var he *HTTPError
	require.ErrorAs(t, err, &he)

	// A local file, and a broken one.
	f := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, os.WriteFile(f, []byte(repoCPEDoc), 0o644))
	m, err = LoadRepoCPE(t.Context(), f)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Len())
	require.NoError(t, os.WriteFile(f, []byte(`{"nodata": 1}`), 0o644))
	_, err = LoadRepoCPE(t.Context(), f)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = LoadRepoCPE(t.Context(), filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestRetryOnTimeout(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select { // the first answer never comes within the client's timeout
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		_, _ = w.Write([]byte(repoCPEDoc))
	}))
	t.Cleanup(srv.Close)
	m, err := LoadRepoCPE(t.Context(), srv.URL, WithTimeout(100*time.Millisecond), WithRetry(3, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, 1, m.Len())
	assert.Equal(t, int32(2), calls.Load())
}

func TestFetchStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := contextWithCancel(t)
	cancel()
	_, err := NewCSAF(srv.URL, WithRetry(100, time.Hour, time.Hour)).Fetch(ctx, Cursor{})
	require.ErrorIs(t, err, errCanceled)
}

func TestIndexFiles(t *testing.T) {
	assert.Equal(t, "RHSA-2024:0010", idFromPath("2024/rhsa-2024_0010.json"))
	assert.Equal(t, "RHEA-2024:5245", idFromPath("2024/rhea-2024_5245.json"))
	assert.Equal(t, "CVE-2023-38545", idFromPath("2023/cve-2023-38545.json"))
	_, err := parseChanges([]byte(`"2024/a.json","not a time"`))
	require.ErrorIs(t, err, ErrMalformed)
	l, err := parseChanges([]byte("\"2024/a.json\",\"2025-01-10T18:37:32+00:00\"\n\n"))
	require.NoError(t, err)
	require.Len(t, l, 1)

	dir := realData(t)
	files, err := filepath.Glob(filepath.Join(dir, "csaf", "index", "*.csv"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		l, err := parseChanges(data)
		require.NoError(t, err, f)
		require.NotEmpty(t, l, f)
	}
}

// TestIdleTimeout serves a body a byte at a time, as a stalled mirror does:
// with bytes further apart than the idle timeout the download fails with
// ErrTimeout (and is retried), with bytes closer together it completes,
// although it takes longer than the idle timeout as a whole.
func TestIdleTimeout(t *testing.T) {
	body := []byte("0123456789")
	trickle := func(gap time.Duration) (*httptest.Server, *atomic.Int32) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			for _, b := range body {
				_, _ = w.Write([]byte{b})
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(gap):
				}
			}
		}))
		t.Cleanup(srv.Close)
		return srv, &calls
	}

	slow, calls := trickle(300 * time.Millisecond)
	start := time.Now()
	f := &fetcher{cfg: newConfig([]Option{WithIdleTimeout(100 * time.Millisecond), WithRetry(2, time.Millisecond, time.Millisecond)})}
	_, _, err := f.get(t.Context(), slow.URL, Validator{})
	require.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "no data for 100ms")
	assert.Equal(t, int32(2), calls.Load(), "a stalled body is tried again")
	t.Logf("stalled body failed after %v", time.Since(start))

	// The archive (no overall timeout) is bounded by the idle timeout too.
	resp, done, err := f.open(t.Context(), slow.URL, Validator{}, 0)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	done()
	require.ErrorIs(t, err, ErrTimeout)

	steady, _ := trickle(20 * time.Millisecond)
	f = &fetcher{cfg: newConfig([]Option{WithIdleTimeout(100 * time.Millisecond), WithRetry(1, time.Millisecond, time.Millisecond)})}
	got, _, err := f.get(t.Context(), steady.URL, Validator{})
	require.NoError(t, err, "bytes keep flowing: no timeout")
	assert.Equal(t, body, got)
}

// TestHeaderTimeout: a server that accepts the request and never answers
// (an unanswered changes.csv) fails each attempt after the header timeout
// instead of the 2-minute request timeout.
func TestHeaderTimeout(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	start := time.Now()
	_, err := LoadRepoCPE(t.Context(), srv.URL, WithHeaderTimeout(50*time.Millisecond), WithRetry(3, time.Millisecond, time.Millisecond))
	require.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "no response headers within 50ms")
	assert.Equal(t, int32(3), calls.Load())
	t.Logf("3 unanswered attempts failed after %v", time.Since(start))

	// Cancelling the caller's context is not a timeout and is not retried.
	ctx, cancel := contextWithCancel(t)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	calls.Store(0)
	_, err = LoadRepoCPE(ctx, srv.URL, WithHeaderTimeout(time.Hour), WithRetry(3, time.Millisecond, time.Millisecond))
	require.ErrorIs(t, err, errCanceled)
	assert.NotErrorIs(t, err, ErrTimeout)
	assert.Equal(t, int32(1), calls.Load())
}
