package rebuild_test

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

func TestCommandRender(t *testing.T) {
	data := &rebuild.CommandData{
		ContextDir: "/src", Containerfile: "/src/Containerfile", Output: "/w/image.tar",
		BuildArgs: map[string]string{"B": "2", "A": "1"}, Labels: map[string]string{"release": "8"}, NoCache: true,
	}
	got, err := rebuild.Podman().Render(data)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"podman", "--cgroup-manager=cgroupfs", "--events-backend=file", "build", "--pull=always", "--no-cache",
		"--build-arg=A=1", "--build-arg=B=2", "--label=release=8",
		"-f", "/src/Containerfile", "-t", "oci-archive:/w/image.tar", "/src",
	}, got)

	data.Platform = "linux/arm64"
	got, err = rebuild.Podman().Render(data)
	require.NoError(t, err)
	assert.Contains(t, got, "--platform=linux/arm64")
	data.Platform = ""

	data.NoCache = false
	data.BuildArgs = nil
	got, err = rebuild.Podman().Render(data)
	require.NoError(t, err)
	assert.NotContains(t, got, "--no-cache")
	assert.NotContains(t, got, "")

	_, err = (&rebuild.Command{Args: []string{"{{.Nope}}"}}).Render(data)
	require.Error(t, err)
	_, err = (&rebuild.Command{Args: []string{"{{"}}).Render(data)
	require.Error(t, err)
	_, err = (&rebuild.Command{}).Render(data)
	require.Error(t, err)
}

func TestCommandFailureKeepsLog(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	c := &rebuild.Command{Args: []string{sh, "-c", "echo building {{.Ref}} >&2; echo no space left; exit 3"}}
	co := checkout(t, map[string]string{"Containerfile": "FROM scratch\n"})
	_, err = c.Build(t.Context(), &rebuild.Request{Ref: "reg.example/app:1", Source: co, WorkDir: t.TempDir()})
	var be *rebuild.BuildError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, 3, be.ExitCode)
	assert.Contains(t, string(be.Log), "building reg.example/app:1")
	assert.Contains(t, string(be.Log), "no space left")
	assert.Equal(t, "command", be.Builder)

	_, err = c.Build(t.Context(), &rebuild.Request{Ref: "x", WorkDir: t.TempDir()})
	require.ErrorIs(t, err, rebuild.ErrNoSource)
}

// TestCommandWithBuildah drives buildah as an external tool through
// templates, with a parent pin applied through a rewritten Containerfile.
func TestCommandWithBuildah(t *testing.T) {
	requireBuildah(t)
	reg := startRegistry(t)
	base := busyboxBase(t, reg)
	baseDigest := mustDigest(t, pull(t, base))
	c := &rebuild.Command{
		BuilderName: "buildah-cmd",
		Args: []string{
			"buildah", "--storage-driver=vfs", "--root={{.Output}}.root", "--runroot={{.Output}}.run",
			"build", "--isolation=chroot", "--tls-verify=false",
			"{{range $k, $v := .Labels}}--label={{$k}}={{$v}}\n{{end}}",
			"-f", "{{.Containerfile}}", "-t", "oci-archive:{{.Output}}", "{{.ContextDir}}",
		},
	}
	// FROM names a tag that does not exist; the pin makes the build work.
	co := checkout(t, map[string]string{"Containerfile": "FROM " + reg + "/busybox:missing\nRUN echo via command > /c.txt\n"})
	res, err := c.Build(t.Context(), &rebuild.Request{
		Ref: reg + "/c:1", Source: co, WorkDir: t.TempDir(),
		Labels: map[string]string{"release": "2"},
		Pins:   map[string]string{rebuild.Repository(base): reg + "/busybox@" + baseDigest},
	})
	require.NoError(t, err)
	got, ok := readFile(t, res.Image, "c.txt")
	require.True(t, ok)
	assert.Equal(t, "via command\n", got)
	cf, err := res.Image.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "2", cf.Config.Labels["release"])
}
