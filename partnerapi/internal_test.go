package partnerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/retry"
	secretpkg "github.com/openabs/abs/secret"
)

func TestAPIKeyNeverPrints(t *testing.T) {
	const secret = "s3cr3t-key-value"
	k := secretpkg.New(secret)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("key", "key", k, "wrapped", struct{ K APIKey }{k})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("key", slog.Any("key", k))
	js, err := json.Marshal(map[string]any{"k": k})
	require.NoError(t, err)
	outputs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x %X %10s", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v %+v", struct{ K APIKey }{k}, &struct{ K APIKey }{k}),
		// An unexported field is printed by fmt without calling its
		// methods: the key must still not show.
		fmt.Sprintf("%v %+v %#v", struct{ k APIKey }{k}, &struct{ k APIKey }{k}, struct{ k APIKey }{k}),
		fmt.Sprintf("%v %+v", struct{ c config }{config{k}}, struct{ cl *Client }{&Client{key: k}}),
		fmt.Errorf("wrap: %v", k).Error(), logs.String(), string(js),
	}
	for _, out := range outputs {
		assert.NotContains(t, out, secret)
		assert.NotContains(t, out, fmt.Sprintf("%x", secret))
	}
	assert.Equal(t, secret, k.Reveal())
}

// config is a caller's struct that keeps a key in an unexported field.
type config struct{ key APIKey }

func TestKeyNeverInErrorsOrLogs(t *testing.T) {
	const secret = "s3cr3t-key-value"
	var seen atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("X-API-KEY"))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"status":500,"title":"Internal Server Error","detail":"boom","trace_id":"0x1"}`)
	}))
	t.Cleanup(ts.Close)
	var logs bytes.Buffer
	c, err := New(secretpkg.New(secret), WithBaseURL(ts.URL+"/v1"), WithHTTPClient(ts.Client()),
		WithRetry(3, time.Millisecond, time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	require.NoError(t, err)
	_, err = c.Project(t.Context(), "p1")
	require.Error(t, err)
	assert.Equal(t, secret, seen.Load(), "the key is sent")
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret)
	assert.NotContains(t, logs.String(), secret)
	assert.Contains(t, logs.String(), "retrying", "retries are logged")
	assert.NotContains(t, fmt.Sprintf("%+v %#v", c, c), secret)

	// A transport error (refused connection) quotes the URL, never headers.
	ts.Close()
	_, err = c.Project(t.Context(), "p1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, logs.String(), secret)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"86400", retry.MaxRetryAfter, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := retry.ParseRetryAfter(tt.in, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	b := backoff{100 * time.Millisecond, time.Second}
	for n, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceiling *= time.Millisecond
		for range 50 {
			d := b.delay(n)
			assert.LessOrEqual(t, d, ceiling)
			assert.GreaterOrEqual(t, d, ceiling/2)
		}
	}
}

// TestRetryHonoursRetryAfter checks the wait the client chooses, through
// an injected sleep, rather than the wall clock.
func TestRetryHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		header  string
		method  string
		tries   int
		waits   []time.Duration
		wantErr bool
	}{
		{"429 with Retry-After", 429, "3", http.MethodGet, 2, []time.Duration{3 * time.Second}, false},
		{"503 without header uses backoff", 503, "", http.MethodGet, 2, []time.Duration{-1}, false},
		{"408 retried", 408, "", http.MethodGet, 2, []time.Duration{-1}, false},
		{"404 not retried", 404, "", http.MethodGet, 1, nil, true},
		{"409 not retried", 409, "", http.MethodPost, 1, nil, true},
		{"500 on POST retried", 500, "1", http.MethodPost, 2, []time.Duration{time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					if tt.header != "" {
						w.Header().Set("Retry-After", tt.header)
					}
					w.WriteHeader(tt.status)
					return
				}
				_, _ = io.WriteString(w, `{"_id":"x"}`)
			}))
			t.Cleanup(ts.Close)
			c, err := New(secretpkg.New("k"), WithBaseURL(ts.URL), WithHTTPClient(ts.Client()), WithRetry(3, 10*time.Millisecond, 20*time.Millisecond))
			require.NoError(t, err)
			var waits []time.Duration
			c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			var out map[string]any
			err = c.do(t.Context(), tt.method, c.endpoint("x"), map[string]string{}, &out)
			assert.Equal(t, tt.wantErr, err != nil, err)
			assert.Equal(t, tt.tries, int(calls.Load()))
			require.Len(t, waits, len(tt.waits))
			for i, w := range tt.waits {
				if w < 0 {
					assert.True(t, waits[i] >= 5*time.Millisecond && waits[i] <= 10*time.Millisecond, waits[i])
				} else {
					assert.Equal(t, w, waits[i])
				}
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(ts.Close)
	c, err := New(secretpkg.New("k"), WithBaseURL(ts.URL), WithHTTPClient(ts.Client()), WithRetry(10, time.Hour, time.Hour))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	c.sleep = func(ctx context.Context, d time.Duration) error { cancel(); return sleep(ctx, d) }
	_, err = c.Project(ctx, "p")
	require.ErrorIs(t, err, context.Canceled)
	var e *Error
	require.ErrorAs(t, err, &e, "the last answer stays in the chain")
	assert.Equal(t, http.StatusServiceUnavailable, e.Status)
}

func TestEndpointEscapes(t *testing.T) {
	c, err := New(APIKey{}, WithBaseURL("https://catalog.example.com/api/containers/v1/"))
	require.NoError(t, err)
	tests := []struct {
		segs []string
		want string
	}{
		{[]string{"images", "id", "abc"}, "https://catalog.example.com/api/containers/v1/images/id/abc"},
		{[]string{"images", "id", "a/b?c"}, "https://catalog.example.com/api/containers/v1/images/id/a%2Fb%3Fc"},
		{repoSegments("registry.access.redhat.com", "ubi9/ubi"), "https://catalog.example.com/api/containers/v1/repositories/registry/registry.access.redhat.com/repository/ubi9/ubi"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, c.endpoint(tt.segs...).String())
	}
	_, err = New(APIKey{}, WithBaseURL("catalog.example.com"))
	assert.Error(t, err)
}

// FuzzParseError feeds arbitrary bodies and statuses: ParseError must not
// panic, must keep the status and must not grow an unbounded detail.
func FuzzParseError(f *testing.F) {
	for _, name := range []string{"error-404.json", "error-409.json", "error-400-list.json", "error-502.html"} {
		b, err := os.ReadFile("testdata/" + name)
		require.NoError(f, err)
		f.Add(404, b)
	}
	f.Add(401, []byte(`{"detail": "x", "status": "401", "title": 7, "trace_id": null}`))
	f.Add(500, []byte(`[1,2,3]`))
	f.Add(503, []byte("\xff\xfe not utf8 "+strings.Repeat("x", 600)))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := ParseError(status, body)
		require.NotNil(t, e)
		assert.Equal(t, status, e.Status)
		_ = e.Error()
		var doc map[string]any
		if json.Unmarshal(body, &doc) != nil {
			assert.LessOrEqual(t, len(e.Detail), maxDetail+len("…"))
		}
		if s, ok := doc["trace_id"].(string); ok {
			assert.Equal(t, s, e.TraceID)
		}
	})
}
