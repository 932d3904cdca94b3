package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/config"
	"github.com/openabs/abs/internal/smtptest"
)

func load(t *testing.T, body string) *config.File {
	t.Helper()
	f, err := config.Load(write(t, body))
	require.NoError(t, err)
	return f
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
}

// TestOpenChecksMailAtStart: `tls: starttls` against a real SMTP relay
// that offers no STARTTLS fails Open at once with a message that says so,
// instead of losing the first mail minutes later; the same relay with
// `tls: none` opens.
func TestOpenChecksMailAtStart(t *testing.T) {
	relay := smtptest.Start(t) // plain SMTP, no STARTTLS
	for _, tc := range []struct{ tls, want string }{{"starttls", "STARTTLS"}, {"none", ""}} {
		t.Run(tc.tls, func(t *testing.T) {
			f := load(t, fmt.Sprintf(`state: {sqlite: %s}
notify:
  email: {host: %s, port: %d, tls: %s, from: "abs@example.com"}
projects: [{name: p}]
`, filepath.Join(t.TempDir(), "abs.db"), relay.Host, relay.Port, tc.tls))
			_, db, err := f.Open(t.Context())
			if tc.want == "" {
				require.NoError(t, err)
				require.NoError(t, db.Close())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "config: notify: check failed: email via")
		})
	}
	assert.Empty(t, relay.Messages())
}

// TestOpenChecksWebhookAtStart: a webhook nobody listens on fails Open.
func TestOpenChecksWebhookAtStart(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook.secret")
	writeFile(t, secretFile, "k")
	f := load(t, fmt.Sprintf(`state: {sqlite: %s}
notify:
  webhook: {url: "http://127.0.0.1:1/hook/TOKEN123", secret_file: %s}
projects: [{name: p}]
`, filepath.Join(dir, "abs.db"), secretFile))
	_, _, err := f.Open(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhook http://127.0.0.1:1")
	assert.NotContains(t, err.Error(), "TOKEN123")
}
