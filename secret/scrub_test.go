package secret_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/secret"
)

func TestScrubberForms(t *testing.T) {
	s := secret.NewScrubber("catalog-key-123")
	s.AddBasic("robot", "pa ss/w0rd")
	b64 := base64.StdEncoding.EncodeToString
	for _, leak := range []string{
		"pa ss/w0rd",
		"catalog-key-123",
		b64([]byte("catalog-key-123")),
		b64([]byte("robot:pa ss/w0rd")),
		base64.RawStdEncoding.EncodeToString([]byte("robot:pa ss/w0rd")),
		b64([]byte("\x00robot\x00pa ss/w0rd")),
		b64([]byte("robot\x00robot\x00pa ss/w0rd")),
		"pa+ss%2Fw0rd",
	} {
		t.Run(leak, func(t *testing.T) {
			got := s.Scrub("server said: " + leak + " (denied)")
			assert.Equal(t, "server said: "+secret.Placeholder+" (denied)", got)
		})
	}
	assert.Equal(t, "nothing here", s.Scrub("nothing here"))
	var nilS *secret.Scrubber
	assert.Equal(t, "pa ss/w0rd", nilS.Scrub("pa ss/w0rd"))
}

var errSentinel = errors.New("sentinel")

func TestScrubErrorKeepsChain(t *testing.T) {
	s := secret.NewScrubber("hunter22")
	err := fmt.Errorf("login hunter22: %w", errSentinel)
	clean := s.ScrubError(err)
	assert.Equal(t, "login [REDACTED]: sentinel", clean.Error())
	assert.ErrorIs(t, clean, errSentinel)
	plain := errors.New("no secret")
	assert.Same(t, plain, s.ScrubError(plain))
	assert.NoError(t, s.ScrubError(nil))
}

// TestScrubEchoingServer talks to a real HTTP server that echoes the
// credentials it was sent back in its error body, as some registries and
// relays do, and checks that neither the error nor a log line keeps them.
func TestScrubEchoingServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad credentials: "+r.Header.Get("Authorization")+" key="+r.Header.Get("X-Api-Key"), http.StatusUnauthorized)
	}))
	defer srv.Close()
	s := secret.NewScrubber("the-api-key")
	s.AddBasic("robot", "s3cret!")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.SetBasicAuth("robot", "s3cret!")
	req.Header.Set("X-Api-Key", "the-api-key")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	serverErr := fmt.Errorf("registry: %s", strings.TrimSpace(string(body)))
	require.Contains(t, serverErr.Error(), base64.StdEncoding.EncodeToString([]byte("robot:s3cret!")), "the server echoes")

	var buf bytes.Buffer
	log := slog.New(s.Handler(slog.NewTextHandler(&buf, nil)))
	log.With("key", "the-api-key").Warn("failed: "+serverErr.Error(), "error", serverErr, "text", serverErr.Error(),
		slog.Group("g", "x", "s3cret!"), "v", secret.New("s3cret!"), "list", []string{"s3cret!"})
	clean := s.ScrubError(serverErr).Error()
	for _, out := range []string{buf.String(), clean} {
		assert.NotContains(t, out, "s3cret!")
		assert.NotContains(t, out, "the-api-key")
		assert.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte("robot:s3cret!")))
		assert.Contains(t, out, secret.Placeholder)
	}
	assert.Contains(t, clean, "bad credentials: Basic [REDACTED] key=[REDACTED]")
}

func TestScrubberIgnoresTooShortValues(t *testing.T) {
	s := secret.NewScrubber("k", "abc")
	s.AddBasic("u", "pw")
	assert.Equal(t, "a key, a bucket", s.Scrub("a key, a bucket"))
	s.Add("abcd")
	assert.Equal(t, "[REDACTED]e", s.Scrub("abcde"))
}
