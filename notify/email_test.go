package notify_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/secret"
)

var now = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

func sampleEvents() []notify.Event {
	return []notify.Event{
		{Kind: notify.KindRebuilt, Time: now, Image: "registry.example.com/team/app", Owner: "Team A <a@example.com>",
			Rebuilt: &notify.Rebuilt{OldDigest: "sha256:1111111111111111aaaa", NewDigest: "sha256:2222222222222222bbbb",
				Tags: []string{"1.0-2", "latest"}, Advisories: []string{"RHSA-2026:0001", "RHSA-2026:0002"}, GradeBefore: "C", GradeAfter: "A"}},
		{Kind: notify.KindRebuildFailed, Time: now, Image: "registry.example.com/team/db", Owner: "b@example.com",
			Failure: &notify.Failure{Stage: "build", Cause: "RUN step exited 1"}},
		{Kind: notify.KindGradeDropping, Time: now, Image: "registry.example.com/team/web", Owner: "Team A <a@example.com>",
			GradeDrop: &notify.GradeDrop{At: now.Add(72 * time.Hour), Advisory: "RHSA-2026:0003", From: "B", To: "C"}},
		{Kind: notify.KindPublishSkipped, Time: now, Image: "registry.example.com/team/api", Owner: "Team A <a@example.com>",
			Skip: &notify.Skip{Reason: "re-scan found no improvement"}},
	}
}

// parsed is a received message taken apart.
type parsed struct {
	header     mail.Header
	subject    string
	text, html string
}

func parseMessage(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	p := parsed{header: m.Header, subject: subject}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(part) // quoted-printable is decoded by multipart
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Fatalf("unexpected part %s", ct)
		}
	}
	return p
}

func emailConfig(srv *smtptest.Server, mode notify.TLSMode, auth notify.AuthMechanism, user, pass string) notify.EmailConfig {
	return notify.EmailConfig{
		Host: srv.Host, Port: srv.Port, TLS: mode,
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs(), MinVersion: tls.VersionTLS12},
		Auth:      auth, Username: user, Password: secret.New(pass),
		From:    "openabs <abs@example.com>",
		Now:     func() time.Time { return now },
		Timeout: 10 * time.Second,
	}
}

func TestEmailOneMessagePerOwner(t *testing.T) {
	const user, pass = "abs", "smtp-Pa55-w0rd"
	tests := []struct {
		name    string
		server  smtptest.TLSMode
		mode    notify.TLSMode
		auth    notify.AuthMechanism
		wantTLS bool
	}{
		{"starttls plain", smtptest.StartTLS, notify.StartTLS, notify.AuthPlain, true},
		{"starttls login", smtptest.StartTLS, notify.StartTLS, notify.AuthLogin, true},
		{"implicit tls plain", smtptest.ImplicitTLS, notify.ImplicitTLS, notify.AuthPlain, true},
		{"implicit tls login", smtptest.ImplicitTLS, notify.ImplicitTLS, notify.AuthLogin, true},
		{"loopback relay without tls", smtptest.NoTLS, notify.NoTLS, notify.AuthPlain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.WithAuth(user, pass), smtptest.WithTLS(tt.server))
			var logs bytes.Buffer
			cfg := emailConfig(srv, tt.mode, tt.auth, user, pass)
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			n, err := notify.NewEmail(cfg)
			require.NoError(t, err)
			require.NoError(t, n.Notify(t.Context(), sampleEvents()))

			msgs := srv.Messages()
			require.Len(t, msgs, 2, "one message per owner")
			for _, m := range msgs {
				assert.Equal(t, tt.wantTLS, m.TLS)
				assert.Equal(t, user, m.Username)
				assert.Equal(t, string(tt.auth), m.Mechanism)
				assert.Equal(t, "abs@example.com", m.From)
			}

			a := parseMessage(t, msgs[0].Data)
			assert.Equal(t, []string{"a@example.com"}, msgs[0].To)
			assert.Equal(t, `"Team A" <a@example.com>`, a.header.Get("To"))
			assert.Equal(t, "[openabs] 1 rebuilt, 1 not published, 1 grade warning", a.subject)
			for _, want := range []string{"registry.example.com/team/app", "111111111111 -> 222222222222", "1.0-2, latest",
				"RHSA-2026:0001, RHSA-2026:0002", "C -> A", "re-scan found no improvement", "2026-11-29 09:30 UTC", "RHSA-2026:0003"} {
				assert.Contains(t, a.text, want)
			}
			for _, want := range []string{"<td>registry.example.com/team/app</td>", "RHSA-2026:0001, RHSA-2026:0002", "B &rarr; C", "<b>registry.example.com/team/api</b>"} {
				assert.Contains(t, a.html, want)
			}
			assert.Empty(t, a.header.Get("Bcc"))

			b := parseMessage(t, msgs[1].Data)
			assert.Equal(t, []string{"b@example.com"}, msgs[1].To)
			assert.Equal(t, "[openabs] 1 failed: registry.example.com/team/db", b.subject)
			assert.Contains(t, b.text, "RUN step exited 1")
			assert.Contains(t, b.html, "build: RUN step exited 1")
			assert.NotContains(t, b.text, "team/app", "owners see only their own images")

			assert.Equal(t, 2, strings.Count(logs.String(), "notify: email sent"))
			assert.NotContains(t, logs.String(), pass)
		})
	}
}

// Owners written differently but mailing the same people get one message.
func TestEmailOwnersWithSameRecipientsShareAMessage(t *testing.T) {
	srv := smtptest.Start(t)
	n, err := notify.NewEmail(emailConfig(srv, notify.NoTLS, notify.AuthNone, "", ""))
	require.NoError(t, err)
	events := sampleEvents()
	events[2].Owner = "a@example.com"
	events[3].Owner = "Team A <A@Example.com>"
	require.NoError(t, n.Notify(t.Context(), events))
	msgs := srv.Messages()
	require.Equal(t, 2, len(msgs), "one message per owner")
	assert.Equal(t, []string{"a@example.com"}, msgs[0].To)
	a := parseMessage(t, msgs[0].Data)
	assert.Equal(t, "[openabs] 1 rebuilt, 1 not published, 1 grade warning", a.subject)
	assert.Equal(t, []string{"b@example.com"}, msgs[1].To)
}

func TestEmailAuthFailureHidesPassword(t *testing.T) {
	const pass = "the-Wrong-Pa55word"
	srv := smtptest.Start(t, smtptest.WithAuth("abs", "right"), smtptest.WithTLS(smtptest.StartTLS))
	var logs bytes.Buffer
	cfg := emailConfig(srv, notify.StartTLS, notify.AuthPlain, "abs", pass)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n, err := notify.NewEmail(cfg)
	require.NoError(t, err)
	err = n.Notify(t.Context(), sampleEvents())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pass)
	assert.NotContains(t, logs.String(), pass)
	assert.Empty(t, srv.Messages())
	assert.Equal(t, 1, srv.AuthFailures())
}

func TestEmailRefusesUntrustedCertificate(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithAuth("abs", "pw"), smtptest.WithTLS(smtptest.StartTLS))
	cfg := emailConfig(srv, notify.StartTLS, notify.AuthPlain, "abs", "pw")
	cfg.TLSConfig = nil // system roots do not know the test certificate
	n, err := notify.NewEmail(cfg)
	require.NoError(t, err)
	require.Error(t, n.Notify(t.Context(), sampleEvents()))
	assert.Empty(t, srv.Messages())
	assert.Zero(t, srv.AuthFailures(), "credentials must not be sent before TLS is up")
}

func TestEmailStartTLSRequired(t *testing.T) {
	// A server without STARTTLS: the notifier must not fall back to plain
	// text when STARTTLS is configured.
	srv := smtptest.Start(t, smtptest.WithAuth("abs", "pw"))
	n, err := notify.NewEmail(emailConfig(srv, notify.StartTLS, notify.AuthPlain, "abs", "pw"))
	require.NoError(t, err)
	require.Error(t, n.Notify(t.Context(), sampleEvents()))
	assert.Empty(t, srv.Messages())
}

func TestEmailHeaderInjection(t *testing.T) {
	srv := smtptest.Start(t)
	n, err := notify.NewEmail(emailConfig(srv, notify.NoTLS, notify.AuthNone, "", ""))
	require.NoError(t, err)
	evil := []notify.Event{{
		Kind: notify.KindRebuildFailed, Image: "registry.example.com/app\r\nBcc: attacker@evil.example\r\nX-Injected: 1",
		Owner:   "owner@example.com",
		Failure: &notify.Failure{Stage: "build\r\nSubject: pwned", Cause: "line1\r\n.\r\nMAIL FROM:<x@evil.example>"},
	}}
	require.NoError(t, n.Notify(t.Context(), evil))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"owner@example.com"}, msgs[0].To)
	p := parseMessage(t, msgs[0].Data)
	assert.Empty(t, p.header.Get("Bcc"))
	assert.Empty(t, p.header.Get("X-Injected"))
	assert.Equal(t, "[openabs] 1 failed: registry.example.com/app Bcc: attacker@evil.example X-Injected: 1", p.subject)
	assert.Contains(t, p.text, "MAIL FROM:<x@evil.example>") // body text, harmless
	assert.Contains(t, p.html, "MAIL FROM:&lt;x@evil.example&gt;")

	// An owner that smuggles a header is no recipient at all.
	err = n.Notify(t.Context(), []notify.Event{{Kind: notify.KindPublishSkipped, Image: "x", Owner: "a@example.com\r\nBcc: attacker@evil.example", Skip: &notify.Skip{Reason: "r"}}})
	require.ErrorIs(t, err, notify.ErrNoRecipient)
	assert.Len(t, srv.Messages(), 1)
}

func TestEmailOwnersFailIndependently(t *testing.T) {
	srv := smtptest.Start(t)
	n, err := notify.NewEmail(emailConfig(srv, notify.NoTLS, notify.AuthNone, "", ""))
	require.NoError(t, err)
	events := append(sampleEvents(), notify.Event{Kind: notify.KindPublishSkipped, Image: "orphan", Skip: &notify.Skip{Reason: "r"}})
	err = n.Notify(t.Context(), events)
	require.ErrorIs(t, err, notify.ErrNoRecipient)
	assert.Len(t, srv.Messages(), 2)
	require.NoError(t, n.Notify(t.Context(), nil))
	assert.Len(t, srv.Messages(), 2)
}

func TestEmailCustomTemplates(t *testing.T) {
	srv := smtptest.Start(t)
	tpl, err := notify.ParseTemplates(
		`{{len .Events}} updates for {{.Owner}}`,
		`{{range .Events}}{{.Kind}} {{.Image}}
{{end}}`,
		`<ul>{{range .Events}}<li>{{.Image}}</li>{{end}}</ul>`)
	require.NoError(t, err)
	cfg := emailConfig(srv, notify.NoTLS, notify.AuthNone, "", "")
	cfg.Templates = tpl
	cfg.Recipients = func(owner string) ([]string, error) { return []string{owner + "@teams.example.com"}, nil }
	n, err := notify.NewEmail(cfg)
	require.NoError(t, err)
	events := []notify.Event{
		{Kind: notify.KindPublishSkipped, Image: "<app>", Owner: "team-a", Skip: &notify.Skip{Reason: "r"}},
		{Kind: notify.KindPublishSkipped, Image: "db", Owner: "team-a", Skip: &notify.Skip{Reason: "r"}},
	}
	require.NoError(t, n.Notify(t.Context(), events))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"team-a@teams.example.com"}, msgs[0].To)
	p := parseMessage(t, msgs[0].Data)
	assert.Equal(t, "2 updates for team-a", p.subject)
	assert.Equal(t, "publish_skipped <app>\npublish_skipped db\n", strings.ReplaceAll(p.text, "\r\n", "\n"))
	assert.Equal(t, "<ul><li>&lt;app&gt;</li><li>db</li></ul>", p.html)

	_, err = notify.ParseTemplates("{{", "", "")
	require.Error(t, err)
}

func TestNewEmailValidates(t *testing.T) {
	_, err := notify.NewEmail(notify.EmailConfig{From: "a@example.com"})
	require.Error(t, err)
	_, err = notify.NewEmail(notify.EmailConfig{Host: "h", From: "not an address"})
	require.Error(t, err)
	_, err = notify.NewEmail(notify.EmailConfig{Host: "h", From: "a@example.com", Auth: "CRAM-MD5"})
	require.Error(t, err)
}

func TestEmailTemporaryFailureIsReported(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithFailures(1))
	n, err := notify.NewEmail(emailConfig(srv, notify.NoTLS, notify.AuthNone, "", ""))
	require.NoError(t, err)
	err = n.Notify(t.Context(), sampleEvents())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "451")
	assert.Len(t, srv.Messages(), 1, "the second owner's message still goes out")
}
