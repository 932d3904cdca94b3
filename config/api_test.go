package config_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/config"
)

func TestAPIConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, api, key string }{
		{"listen without tokens", "{listen: 127.0.0.1:0}", "api.tokens"},
		{"no name", "{tokens: [{role: admin, token_env: X}]}", "api.tokens[0].name"},
		{"bad role", "{tokens: [{name: a, role: root, token_env: X}]}", "api.tokens[0].role"},
		{"no value", "{tokens: [{name: a, role: viewer}]}", "api.tokens[0]"},
		{"both values", "{tokens: [{name: a, role: viewer, token_env: X, token_file: /x}]}", "api.tokens[0]"},
		{"inline token", "{tokens: [{name: a, role: viewer, token: hunter2hunter2hunter2}]}", "api.tokens[0].token"},
		{"negative connections", "{max_connections: -1}", "api.max_connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(write(t, "api: "+tc.api+"\nprojects: [{name: p}]\n"))
			require.ErrorIs(t, err, abs.ErrConfig)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key, err.Error())
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

// TestAPIConfigTokens reads tokens from a file and the environment, and
// serves them with their roles.
func TestAPIConfigTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "portal-token")
	require.NoError(t, os.WriteFile(file, []byte("portal-token-from-a-file\n"), 0o600))
	t.Setenv("OPENABS_TEST_VIEWER", "viewer-token-from-the-env")
	c, err := config.Load(write(t, `api:
  listen: 127.0.0.1:0
  tokens:
    - {name: portal, token_file: `+file+`, role: admin}
    - {name: dash, token_env: OPENABS_TEST_VIEWER, role: viewer, projects: [p1]}
projects: [{name: p}]
`))
	require.NoError(t, err)
	tokens, err := c.APITokens()
	require.NoError(t, err)
	p, ok := tokens.Authenticate("portal-token-from-a-file")
	require.True(t, ok, "the file's trailing newline is not part of the token")
	assert.Equal(t, api.Principal{Name: "portal", Role: api.Admin}, p)
	p, ok = tokens.Authenticate("viewer-token-from-the-env")
	require.True(t, ok)
	assert.Equal(t, api.Principal{Name: "dash", Role: api.Viewer, Projects: []string{"p1"}}, p)

	// A token too short for NewTokens is an error naming api.tokens, not
	// repeating the value.
	t.Setenv("OPENABS_TEST_VIEWER", "short")
	_, err = c.APITokens()
	require.ErrorIs(t, err, abs.ErrConfig)
	assert.NotContains(t, err.Error(), "short\"")

	// The handler answers without an orchestrator for what needs none.
	t.Setenv("OPENABS_TEST_VIEWER", "viewer-token-from-the-env")
	h, err := c.APIHandler(nil)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/v1/projects")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, err = http.Get(srv.URL + "/api/v1/openapi.json")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "application/json"))
}
