package rebuild_test

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestBuildahSecrets: a RUN step mounts a per-request build secret; it
// reaches the step, but no layer, no log and no file left in the work
// directory holds it.
func TestBuildahSecrets(t *testing.T) {
	requireBuildah(t)
	reg := startRegistry(t)
	base := busyboxBase(t, reg)
	b := &rebuild.Buildah{InsecureRegistries: true}
	const token = "s3cr3t-build-token-4711"
	work := t.TempDir()
	co := checkout(t, map[string]string{"Containerfile": "FROM " + base +
		"\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token > /len && echo leaked: $(cat /run/secrets/token)\n"})
	res, err := b.Build(t.Context(), &rebuild.Request{Ref: reg + "/secret:1", Source: co, WorkDir: work, NoCache: true,
		Secrets: map[string]rebuild.Secret{"token": secret.New(token)}})
	require.NoError(t, err, "%s", resLog(res))
	got, ok := readFile(t, res.Image, "len")
	require.True(t, ok)
	assert.Equal(t, "23", strings.TrimSpace(got), "the step read the secret")
	_, ok = readFile(t, res.Image, "run/secrets/token")
	assert.False(t, ok, "the secret is not in a layer")
	ls, err := res.Image.Layers()
	require.NoError(t, err)
	for _, l := range ls {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		_ = rc.Close()
		assert.NotContains(t, string(b), token)
	}
	cf, err := res.Image.RawConfigFile()
	require.NoError(t, err)
	assert.NotContains(t, string(cf), token, "not in the config or its history")
	assert.Contains(t, string(res.Log), "leaked: "+secret.Placeholder, "the log is scrubbed")
	assert.NotContains(t, string(res.Log), token)
	left, err := filepath.Glob(filepath.Join(work, "secrets-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "secret files are removed after the build")

	// A failing build's log is scrubbed too.
	co = checkout(t, map[string]string{"Containerfile": "FROM " + base + "\nRUN --mount=type=secret,id=token cat /run/secrets/token && false\n"})
	_, err = b.Build(t.Context(), &rebuild.Request{Ref: reg + "/secret:2", Source: co, WorkDir: t.TempDir(),
		Secrets: map[string]rebuild.Secret{"token": secret.New(token)}})
	var be *rebuild.BuildError
	require.ErrorAs(t, err, &be)
	assert.NotContains(t, string(be.Log), token)
	assert.NotContains(t, err.Error(), token)
	assert.NotContains(t, strings.Join(be.Args, " "), token)

	_, err = b.Build(t.Context(), &rebuild.Request{Ref: reg + "/secret:3", Source: co, WorkDir: t.TempDir(),
		Secrets: map[string]rebuild.Secret{"bad,id": secret.New(token)}})
	assert.ErrorIs(t, err, rebuild.ErrSecretID)
}
