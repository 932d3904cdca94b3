package rebuild_test

import (
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestCommandIndexPlatform: a Command builder whose only platform
// handling is the {{.Platform}} template field (buildah, run as an
// external tool) builds an amd64 + arm64 index through Run: each
// platform's build is asked for its platform, the arm64 image is an
// arm64 image, and its RUN step ran as aarch64 (under qemu user
// emulation).
func TestCommandIndexPlatform(t *testing.T) {
	requireBuildah(t)
	arm64 := requireForeignBusybox(t)
	reg := regtest.Distribution(t)

	plats := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	base := map[string]v1.Image{
		"amd64": withPlatform(t, image(t, nil, map[string]string{"name": "busybox"}, busyboxLayer(t)), plats[0]),
		"arm64": withPlatform(t, image(t, nil, map[string]string{"name": "busybox"}, busyboxLayerFrom(t, arm64)), plats[1]),
	}
	baseRef := reg.Repo("busybox") + ":multi"
	pushIndex(t, baseRef, indexOf(t, types.OCIImageIndex, base, plats))

	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + baseRef + "\nRUN uname -m > /arch\nLABEL release=1\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	storage := t.TempDir()
	cmd := &rebuild.Command{
		BuilderName: "buildah-command",
		Args: []string{
			"buildah", "--storage-driver=vfs", "--root=" + filepath.Join(storage, "root"),
			"--runroot=" + filepath.Join(storage, "run"), "build", "--isolation=chroot", "--pull=always",
			"--tls-verify=false",
			"{{if .Platform}}--platform={{.Platform}}{{end}}",
			"{{range $k, $v := .Labels}}--label={{$k}}={{$v}}\n{{end}}",
			"-f", "{{.Containerfile}}", "-t", "oci-archive:{{.Output}}", "{{.ContextDir}}",
		},
		InsecureHosts: []string{reg.Host},
	}
	tg := &rebuild.Target{
		Ref: reg.Repo("app") + ":1", Platforms: plats,
		Source: &rebuild.GitSource{URL: srv.URL, Branch: "main",
			Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHosts: srv.KnownHosts}},
		Builder: cmd,
	}
	out, err := rebuild.Run(t.Context(), tg, nil, rebuild.WithStore(&rebuild.RegistryStore{}),
		rebuild.WithVerify(rebuild.VerifyPullable), rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err, "%s", out.Log)
	t.Cleanup(func() { _ = out.Close() })
	require.NotNil(t, out.Index, "an index stays an index")
	require.Len(t, out.Platforms, 2)

	staged := pullIndex(t, out.Pinned)
	im, err := staged.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	uname := map[string]string{"amd64": "x86_64\n", "arm64": "aarch64\n"}
	for i, d := range im.Manifests {
		a := plats[i].Architecture
		assert.Equal(t, a, d.Platform.Architecture)
		po := out.Platforms[i]
		assert.Equal(t, rebuild.StatusBuilt, po.Status, a)
		assert.Equal(t, "buildah-command", po.Builder)
		child, err := staged.Image(d.Digest)
		require.NoError(t, err)
		cf, err := child.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, a, cf.Architecture, "config architecture")
		got, ok := readFile(t, child, "arch")
		require.True(t, ok, a)
		assert.Equal(t, uname[a], got, "the RUN step ran as %s", a)
	}
	assert.Contains(t, string(out.Log), "== linux/arm64")

	// What the template gave each platform's build.
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		args, err := cmd.Render(&rebuild.CommandData{Platform: p, Containerfile: "/c", Output: "/o", ContextDir: "/d"})
		require.NoError(t, err)
		assert.Contains(t, strings.Join(args, " "), "--platform="+p)
	}
}
