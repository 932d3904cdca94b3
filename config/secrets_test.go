package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/secret"
)

// TestSecretsKey: secrets.key_file and secrets.key_env give the
// orchestrator its key for stored credentials; a bad key is an error
// naming the key, never quoting the file.
func TestSecretsKey(t *testing.T) {
	k, err := secret.GenerateKey()
	require.NoError(t, err)
	id := k.Identities()[0].Reveal()
	keyFile := filepath.Join(t.TempDir(), "age.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(id+"\n"), 0o600))
	t.Setenv("ABS_TEST_SECRETS_KEY", id)
	for name, sel := range map[string]string{"file": "key_file: " + keyFile, "env": "key_env: ABS_TEST_SECRETS_KEY"} {
		t.Run(name, func(t *testing.T) {
			body := "state: {sqlite: " + filepath.Join(t.TempDir(), "abs.db") + "}\nsecrets: {" + sel + "}\n" +
				"projects: [{name: p, images: [{repository: registry.example/app}]}]\n"
			f, err := config.Load(write(t, body))
			require.NoError(t, err)
			o, db, err := f.Open(t.Context())
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			c, err := o.SetToken(t.Context(), "registry.example/app", secret.New("tok-0123456789"))
			require.NoError(t, err)
			assert.Equal(t, abs.CredentialToken, c.Kind)
		})
	}

	bad := filepath.Join(t.TempDir(), "bad.key")
	require.NoError(t, os.WriteFile(bad, []byte("AGE-SECRET-KEY-1SOMETHINGTHATISNOTAKEY\n"), 0o600))
	f, err := config.Load(write(t, "state: {sqlite: "+filepath.Join(t.TempDir(), "abs.db")+"}\nsecrets: {key_file: "+bad+"}\nprojects: [{name: p}]\n"))
	require.NoError(t, err)
	_, _, err = f.Open(t.Context())
	require.Error(t, err)
	assert.ErrorAs(t, err, new(*config.Error))
	assert.Contains(t, err.Error(), "secrets")
	assert.NotContains(t, err.Error(), "SOMETHINGTHATISNOTAKEY")
}
