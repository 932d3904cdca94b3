package rebuild_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// BusyboxARM64Env names the environment variable holding the path of a
// static arm64 busybox (Debian's busybox-static:arm64, see .ci/run). The
// arm64 build tests skip without it.
const BusyboxARM64Env = "ABS_BUSYBOX_ARM64"

// requireForeignBusybox returns the arm64 busybox, skipping unless it is
// there and the kernel runs it (qemu user emulation registered with
// binfmt_misc).
func requireForeignBusybox(t *testing.T) string {
	t.Helper()
	path := os.Getenv(BusyboxARM64Env)
	if path == "" {
		t.Skip(BusyboxARM64Env + " is not set (see .ci/run: qemu-user-static and busybox-static:arm64)")
	}
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		t.Skip("no qemu-aarch64 binfmt_misc interpreter registered (apt-get install qemu-user-static, see .ci/run)")
	}
	return path
}

// TestBuildahIndexFromGit builds an amd64 + arm64 index from a git
// repository served over SSH, with a RUN step that runs on each platform
// (arm64 under qemu user emulation), on a two-platform busybox base
// index, and has skopeo copy every platform of the staged index.
func TestBuildahIndexFromGit(t *testing.T) {
	requireBuildah(t)
	arm64 := requireForeignBusybox(t)
	bin := requireSkopeo(t)
	reg := regtest.Distribution(t)

	plats := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	base := map[string]v1.Image{
		"amd64": withPlatform(t, image(t, nil, map[string]string{"name": "busybox"}, busyboxLayer(t)), plats[0]),
		"arm64": withPlatform(t, image(t, nil, map[string]string{"name": "busybox"}, busyboxLayerFrom(t, arm64)), plats[1]),
	}
	baseRef := reg.Repo("busybox") + ":multi"
	baseDigest := pushIndex(t, baseRef, indexOf(t, types.OCIImageIndex, base, plats))

	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + baseRef + "\nRUN uname -m > /arch && echo built > /hi\nLABEL release=1\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	tg := &rebuild.Target{
		Ref: reg.Repo("app") + ":1", Platforms: plats,
		Source: &rebuild.GitSource{URL: srv.URL, Branch: "main",
			Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHosts: srv.KnownHosts}},
		Builder: &rebuild.Buildah{InsecureHosts: []string{reg.Host}},
		Reason:  rebuild.Reason{Advisories: []string{"RHSA-2026:1501"}},
	}
	start := time.Now()
	out, err := rebuild.Run(t.Context(), tg, nil, rebuild.WithStore(&rebuild.RegistryStore{}),
		rebuild.WithVerify(rebuild.VerifyPullable), rebuild.WithWorkDir(t.TempDir()))
	t.Logf("buildah build of 2 platforms from git: %s", time.Since(start))
	require.NoError(t, err, "%s", out.Log)
	t.Cleanup(func() { _ = out.Close() })
	require.NotNil(t, out.Index)
	assert.Equal(t, repo.Head, out.Commit)
	assert.Equal(t, "2", out.Release)
	assert.Contains(t, string(out.Log), "== linux/arm64")

	require.Len(t, out.Platforms, 2)
	staged := pullIndex(t, out.Pinned)
	im, err := staged.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, im.MediaType)
	assert.Equal(t, repo.Head, im.Annotations[rebuild.AnnotationRevision])
	uname := map[string]string{"amd64": "x86_64\n", "arm64": "aarch64\n"}
	for i, d := range im.Manifests {
		a := plats[i].Architecture
		assert.Equal(t, a, d.Platform.Architecture)
		po := out.Platforms[i]
		assert.Equal(t, rebuild.StatusBuilt, po.Status)
		assert.Equal(t, "buildah", po.Builder)
		child, err := staged.Image(d.Digest)
		require.NoError(t, err)
		got, ok := readFile(t, child, "arch")
		require.True(t, ok, a)
		assert.Equal(t, uname[a], got, "the RUN step ran as %s", a)
		cf, err := child.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, a, cf.Architecture)
		assert.Equal(t, "2", cf.Config.Labels[rebuild.LabelRelease])
		assert.Equal(t, "RHSA-2026:1501", cf.Config.Labels[rebuild.LabelAdvisories])
		// The base's blobs for that platform, shared byte for byte.
		assert.Equal(t, layerDigests(t, base[a]), layerDigests(t, child)[:1], a)
		assert.True(t, strings.HasPrefix(po.BaseName, reg.Repo("busybox")), po.BaseName)
		assert.Equal(t, mustDigest(t, base[a]), po.BaseDigest, "the base's image for %s, not the index %s", a, baseDigest)
	}
	require.NoError(t, rebuild.CheckPullableIndex(staged))

	res, err := skopeo(t, bin, "copy", "--all", "--src-tls-verify=false", "docker://"+out.Pinned, "oci:"+filepath.Join(t.TempDir(), "layout")+":app")
	require.NoError(t, err, "skopeo copy --all: %s", res)
}
