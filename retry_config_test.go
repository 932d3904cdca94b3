package abs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestRetryRepairedBuilderConfig: a Command builder with a wrong flag
// fails and uses up its only attempt, so the next cycle waits; the
// builder's arguments are repaired and the service restarted on the same
// database, and the changed configuration plans a new rebuild at once,
// which builds and is published.
func TestRetryRepairedBuilderConfig(t *testing.T) {
	requireBuildah(t)
	e, _ := sourceEnv(t, goodContainerfile, func(srv *gittest.SSHServer) rebuild.GitAuth {
		return rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}
	})
	args := func(flag string) []string {
		return []string{
			"buildah", "--storage-driver=vfs", "--root={{.Output}}.root", "--runroot={{.Output}}.run",
			"build", flag, "--isolation=chroot", "--pull=always", "--format=oci", "--disable-compression=false", "--tls-verify=false",
			"{{range $k, $v := .Labels}}--label={{$k}}={{$v}}\n{{end}}",
			"{{range $k, $v := .Annotations}}--annotation={{$k}}={{$v}}\n{{end}}",
			"-f", "{{.Containerfile}}", "-t", "oci-archive:{{.Output}}", "{{.ContextDir}}",
		}
	}
	db := e.sqlite("abs.db")
	image := e.fleet.Apps[0].Name
	opts := func(b rebuild.Builder) []abs.Option {
		return []abs.Option{abs.WithRebaser(nil), abs.WithBuilder(b), abs.WithRetryBackoff(0, 0), abs.WithRetryLimit(1)}
	}

	broken := &rebuild.Command{BuilderName: "buildah-cmd", Args: args("--no-such-flag")}
	o := e.start(db, opts(broken)...)
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	failed := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, failed.State)
	assert.Contains(t, failed.Detail, "exit 125")
	spent, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, spent.Rebuilds, "the only attempt is spent")
	require.NotNil(t, planStep(spent, image))
	assert.Contains(t, planStep(spent, image).Waiting, "failed 1 of 1 attempts")
	require.NoError(t, o.Stop(t.Context()))

	// The same broken configuration after a restart stays spent.
	o = e.start(db, opts(&rebuild.Command{BuilderName: "buildah-cmd", Args: args("--no-such-flag")})...)
	same, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, same.Rebuilds, "an unchanged configuration is not a new input")
	require.NoError(t, o.Stop(t.Context()))

	o = e.start(db, opts(&rebuild.Command{BuilderName: "buildah-cmd", Args: args("--quiet")})...)
	fixed, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, fixed.Rebuilds, 1, "the repaired builder plans a new rebuild")
	r := fixed.Rebuilds[0]
	assert.NotEqual(t, failed.ID, r.ID)
	assert.Equal(t, 1, r.Attempt, "a new rebuild starts its own attempts")
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	skopeoPulls(t, e.fleet.Apps[0].Repository+":latest")
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1}, e.tagPushes())
}
