package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/secret"
)

// receiver is a webhook endpoint that verifies signatures and can fail the
// first requests.
type receiver struct {
	t       *testing.T
	secret  notify.Secret
	mu      sync.Mutex
	fail    []int // statuses for the first requests
	bodies  [][]byte
	ids     []string
	badSigs int
	block   chan struct{} // when set, requests wait on it or their context
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	require.NoError(rc.t, err)
	if rc.block != nil {
		select {
		case <-rc.block:
		case <-r.Context().Done():
			return
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.ids = append(rc.ids, r.Header.Get(notify.DeliveryHeader))
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		!secret.Verify(rc.secret, body, r.Header.Get(notify.SignatureHeader)) {
		rc.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(rc.fail) > 0 {
		status := rc.fail[0]
		rc.fail = rc.fail[1:]
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		return
	}
	rc.bodies = append(rc.bodies, body)
	w.WriteHeader(http.StatusNoContent)
}

func newReceiver(t *testing.T, key string, fail ...int) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, secret: secret.New(key), fail: fail}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

var quickRetry = notify.WithRetry(4, time.Millisecond, 5*time.Millisecond)

func TestWebhookSignedDelivery(t *testing.T) {
	rc, srv := newReceiver(t, "hook-secret")
	w, err := notify.NewWebhook(srv.URL+"/hooks/abs", secret.New("hook-secret"), quickRetry,
		notify.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	require.NoError(t, w.Notify(t.Context(), sampleEvents()))
	require.Len(t, rc.bodies, 1, "one request per batch")
	assert.Zero(t, rc.badSigs)

	var p notify.Payload
	require.NoError(t, json.Unmarshal(rc.bodies[0], &p))
	assert.Equal(t, sampleEvents(), p.Events)
	assert.Equal(t, now, p.SentAt)
	assert.Len(t, p.Delivery, 32)
	assert.Equal(t, p.Delivery, rc.ids[0])

	// A receiver with another secret rejects the request; that is not
	// retried.
	_, other := newReceiver(t, "other-secret")
	w, err = notify.NewWebhook(other.URL, secret.New("hook-secret"), quickRetry)
	require.NoError(t, err)
	err = w.Notify(t.Context(), sampleEvents())
	var herr *notify.HTTPError
	require.ErrorAs(t, err, &herr)
	assert.Equal(t, http.StatusUnauthorized, herr.Status)
	assert.Contains(t, err.Error(), "attempt 1 of 4")
}

func TestWebhookFlaky(t *testing.T) {
	tests := []struct {
		name     string
		fail     []int
		wantErr  bool
		attempts int
	}{
		{"fails twice then succeeds", []int{503, 502}, false, 3},
		{"rate limited then succeeds", []int{429}, false, 2},
		{"keeps failing", []int{500, 500, 500, 500, 500}, true, 4},
		{"client error is final", []int{400}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, srv := newReceiver(t, "s", tt.fail...)
			var logs bytes.Buffer
			w, err := notify.NewWebhook(srv.URL, secret.New("s"), quickRetry,
				notify.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, err)
			err = w.Notify(t.Context(), sampleEvents())
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				require.Len(t, rc.bodies, 1)
			}
			require.Len(t, rc.ids, tt.attempts)
			for _, id := range rc.ids {
				assert.Equal(t, rc.ids[0], id, "retries keep the delivery id")
			}
			assert.NotContains(t, logs.String(), `"s"`)
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	rc, srv := newReceiver(t, "s")
	rc.block = make(chan struct{})
	defer close(rc.block)
	w, err := notify.NewWebhook(srv.URL, secret.New("s"), notify.WithTimeout(50*time.Millisecond),
		notify.WithRetry(2, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	err = w.Notify(t.Context(), sampleEvents())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "attempt 2 of 2")
}

// countingDoer counts the requests it sends.
type countingDoer struct {
	mu sync.Mutex
	n  int
	d  notify.Doer
}

func (c *countingDoer) Do(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.d.Do(r)
}

// Failures that trying again cannot mend are not retried.
func TestWebhookPermanentTransportErrors(t *testing.T) {
	rc := &receiver{t: t, secret: secret.New("s")}
	tlsSrv := httptest.NewUnstartedServer(rc)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(rc)
	t.Cleanup(plainSrv.Close)
	for _, tc := range []struct{ name, url string }{
		{"untrusted certificate", tlsSrv.URL},
		{"https to a plain http server", strings.Replace(plainSrv.URL, "http://", "https://", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doer := &countingDoer{d: &http.Client{}}
			w, err := notify.NewWebhook(tc.url, secret.New("s"), quickRetry, notify.WithHTTPClient(doer))
			require.NoError(t, err)
			err = w.Notify(t.Context(), sampleEvents())
			require.Error(t, err)
			assert.Equal(t, 1, doer.n, "retried a permanent failure: %v", err)
		})
	}
	// The same server, trusted, receives the delivery.
	w, err := notify.NewWebhook(tlsSrv.URL, secret.New("s"), quickRetry, notify.WithHTTPClient(tlsSrv.Client()))
	require.NoError(t, err)
	require.NoError(t, w.Notify(t.Context(), sampleEvents()))
	assert.Len(t, rc.bodies, 1)
}

func TestWebhookHidesSecrets(t *testing.T) {
	const token, key = "T0KEN-in-path", "signing-key-value"
	// Nothing listens on this port once the server is closed.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	var logs bytes.Buffer
	w, err := notify.NewWebhook(srv.URL+"/services/"+token+"?k="+token, secret.New(key),
		notify.WithRetry(2, time.Millisecond, time.Millisecond), notify.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	err = w.Notify(t.Context(), sampleEvents())
	require.Error(t, err)
	for _, s := range []string{err.Error(), logs.String()} {
		assert.NotContains(t, s, token)
		assert.NotContains(t, s, key)
	}
	assert.Contains(t, err.Error(), srv.Listener.Addr().String())

	_, err = notify.NewWebhook("ftp://x/"+token, secret.New(key))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), token)
	_, err = notify.NewWebhook("https://x/", notify.Secret{})
	require.Error(t, err)
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"events":[]}`)
	sig := secret.Sign(secret.New("k"), body)
	// HMAC-SHA256("k", body), computed independently with openssl:
	// printf '{"events":[]}' | openssl dgst -sha256 -hmac k
	assert.Equal(t, "sha256=fb3a9d128c223c4de382139ee19dee144cc857647203b940b2bf3a1a5ab0cffc", sig)
	assert.True(t, secret.Verify(secret.New("k"), body, sig))
	assert.False(t, secret.Verify(secret.New("x"), body, sig))
	assert.False(t, secret.Verify(secret.New("k"), append(body, ' '), sig))
	assert.False(t, secret.Verify(secret.New("k"), body, ""))
	// A receiver whose secret is missing from its configuration must
	// not accept what anyone can sign with the empty key.
	assert.False(t, secret.Verify(notify.Secret{}, body, secret.Sign(notify.Secret{}, body)))
	assert.False(t, secret.Verify(secret.New(""), body, secret.Sign(secret.New(""), body)))
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"events":[]}`), "sha256=00")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		key := secret.New("k")
		if secret.Verify(key, body, sig) != (sig == secret.Sign(key, body)) {
			t.Fatalf("Verify disagrees with Sign for %q", sig)
		}
	})
}
