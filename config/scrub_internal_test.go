package config

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/secret"
)

// TestOpenScrubsEverySecretItReads: after Open, the scrubber handed to
// the orchestrator knows every configured secret in the forms servers
// echo: the registry password and its Basic base64, the SMTP password and
// its PLAIN base64, the catalog key, the git token and its Basic base64,
// the webhook secret.
func TestOpenScrubsEverySecretItReads(t *testing.T) {
	relay := smtptest.Start(t, smtptest.WithAuth("mailer", "smtp-Pass-2"))
	dir := t.TempDir()
	file := func(name, v string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(v+"\n"), 0o600))
		return p
	}
	t.Setenv("ABS_TEST_CATALOG_KEY", "catalog-Key-3")
	body := fmt.Sprintf(`state: {sqlite: %s}
registries:
  - {host: registry.example.com, username: robot, password_file: %s}
catalog: {api_key_env: ABS_TEST_CATALOG_KEY}
builder: {kind: none}
notify:
  email: {host: %s, port: %d, tls: none, username: mailer, password_file: %s, from: "abs@example.com"}
projects:
  - name: p
    images:
      - repository: registry.example.com/team/app
        source: {url: "https://git.example.com/team/app.git", username: ci, token_file: %s}
`, filepath.Join(dir, "abs.db"), file("reg", "registry-Pass-1"), relay.Host, relay.Port, file("smtp", "smtp-Pass-2"),
		file("token", "git-Token-4"))
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	f, err := Load(path)
	require.NoError(t, err)
	_, db, err := f.Open(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, leak := range []string{
		"registry-Pass-1", b64("robot:registry-Pass-1"),
		"smtp-Pass-2", b64("\x00mailer\x00smtp-Pass-2"),
		"catalog-Key-3",
		"git-Token-4", b64("ci:git-Token-4"),
	} {
		assert.Equal(t, "echo: "+secret.Placeholder, f.scrub.Scrub("echo: "+leak), leak)
	}
}
