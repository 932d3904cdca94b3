package buildkit_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestBuildRequestSecret: a per-target secret (rebuild.Request.Secrets,
// none on the Builder) reaches the RUN step as a BuildKit secret, and
// stays out of the layers, the config and the log.
func TestBuildRequestSecret(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, _ := busyboxBase(t, reg.host)
	d := startDaemon(t, bin, false)
	b := &buildkit.Builder{
		Pool:          newPool(t, d),
		Repository:    func(*rebuild.Request) string { return reg.host + "/staging/app" },
		InsecureHosts: []string{reg.host},
	}
	out, err := b.Solve(t.Context(), &rebuild.Request{
		Ref: reg.host + "/ns/app:1", Source: checkout(t, appFiles(baseRef)), WorkDir: t.TempDir(),
		Secrets: map[string]rebuild.Secret{"token": secret.New(token)},
	})
	require.NoError(t, err, "the RUN step fails when the secret is missing (test -s)")
	assert.Contains(t, string(out.Log), "token is "+secret.Placeholder)
	assert.NotContains(t, string(out.Log), token)
	assert.False(t, layerContains(t, out.Image, token), "secret in a layer")
	cf, err := out.Image.RawConfigFile()
	require.NoError(t, err)
	assert.NotContains(t, string(cf), token)
	assert.False(t, strings.Contains(out.Ref, token))
}
