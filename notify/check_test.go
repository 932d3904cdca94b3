package notify_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/secret"
)

func TestEmailCheck(t *testing.T) {
	plain := smtptest.Start(t) // no STARTTLS offered
	secure := smtptest.Start(t, smtptest.WithTLS(smtptest.StartTLS), smtptest.WithAuth("robot", "right"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	tlsTo := func(s *smtptest.Server) *tls.Config {
		return &tls.Config{RootCAs: s.RootCAs(), ServerName: "127.0.0.1"}
	}
	for _, tc := range []struct {
		name string
		cfg  notify.EmailConfig
		want string // "" for success
	}{
		{"starttls against a relay without it", notify.EmailConfig{Host: plain.Host, Port: plain.Port, TLS: notify.StartTLS}, "STARTTLS"},
		{"plain relay", notify.EmailConfig{Host: plain.Host, Port: plain.Port, TLS: notify.NoTLS}, ""},
		{"starttls with login", notify.EmailConfig{Host: secure.Host, Port: secure.Port, TLS: notify.StartTLS,
			TLSConfig: tlsTo(secure), Username: "robot", Password: secret.New("right")}, ""},
		{"wrong password", notify.EmailConfig{Host: secure.Host, Port: secure.Port, TLS: notify.StartTLS,
			TLSConfig: tlsTo(secure), Username: "robot", Password: secret.New("wrong")}, "auth"},
		{"nothing listening", notify.EmailConfig{Host: "127.0.0.1", Port: closedPort, TLS: notify.NoTLS}, "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.From = "abs@example.com"
			m, err := notify.NewEmail(tc.cfg)
			require.NoError(t, err)
			start := time.Now()
			err = m.Check(t.Context())
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, notify.ErrCheck)
			assert.Contains(t, strings.ToLower(err.Error()), strings.ToLower(tc.want))
			assert.Contains(t, err.Error(), net.JoinHostPort(tc.cfg.Host, strconv.Itoa(tc.cfg.Port)))
			assert.NotContains(t, err.Error(), "wrong")
			t.Logf("%s after %s", err, time.Since(start).Round(time.Millisecond))
		})
	}
	assert.Empty(t, plain.Messages(), "a check sends nothing")
	assert.Empty(t, secure.Messages(), "a check sends nothing")
}

func TestWebhookCheck(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	hook, err := notify.NewWebhook(srv.URL+"/token-in-path", secret.New("k"))
	require.NoError(t, err)
	require.NoError(t, hook.Check(t.Context()))
	require.NoError(t, notify.Fanout{hook, notify.NewLog(nil)}.Check(t.Context()))
	srv.Close()
	err = hook.Check(t.Context())
	require.ErrorIs(t, err, notify.ErrCheck)
	assert.NotContains(t, err.Error(), "token-in-path")
	assert.ErrorIs(t, notify.Fanout{hook}.Check(t.Context()), notify.ErrCheck)
}
