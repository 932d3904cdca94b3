package buildkit_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
)

// TestRunFromGit runs one rebuild step as the orchestrator does: the
// source comes from a git server over HTTPS, buildkitd builds and pushes
// to staging, rebuild stamps the image and stages it with a
// RegistryStore. The staged image keeps the base's blobs and is pullable
// by containers/image (skopeo).
func TestRunFromGit(t *testing.T) {
	bin := buildkitd(t)
	gittest.RequireGit(t)
	reg := startRegistry(t)
	baseRef, base := busyboxBase(t, reg.host)
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + baseRef + "\nRUN mkdir -p /app && echo from-git > /app/built\nCOPY hello.txt /app/hello.txt\n",
		"hello.txt":     "hello\n",
	})
	srv := gittest.StartHTTP(t, repo.Dir)
	d := startDaemon(t, bin, false)
	target := &rebuild.Target{
		Ref:     reg.host + "/ns/app:1.0",
		Release: "1",
		Reason:  rebuild.Reason{Advisories: []string{"RHSA-2026:0001"}},
		Source:  &rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: rebuild.GitAuth{CABundle: srv.CA}},
		Builder: &buildkit.Builder{
			Pool:          newPool(t, d),
			Repository:    func(*rebuild.Request) string { return reg.host + "/staging/app" },
			InsecureHosts: []string{reg.host},
		},
	}
	out, err := rebuild.Run(t.Context(), target, nil,
		rebuild.WithStore(&rebuild.RegistryStore{}), rebuild.WithVerify(rebuild.VerifyPullable),
		rebuild.WithWorkDir(t.TempDir()), rebuild.WithClock(func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }))
	require.NoError(t, err)
	defer out.Close()
	assert.Equal(t, rebuild.StatusBuilt, out.Status)
	assert.Equal(t, "buildkit", out.Builder)
	assert.Equal(t, repo.Head, out.Commit)
	assert.Equal(t, "2", out.Release)
	assert.True(t, strings.HasPrefix(out.Pinned, reg.host+"/ns/app@sha256:"), out.Pinned)

	got, ok := readFile(t, out.Image, "app/built")
	require.True(t, ok)
	assert.Equal(t, "from-git\n", got)
	c, err := out.Image.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "buildkit", c.Config.Labels[rebuild.LabelMethod])
	assert.Equal(t, repo.Head, c.Config.Labels[rebuild.AnnotationRevision])
	bd, err := base.Digest()
	require.NoError(t, err)
	assert.Equal(t, bd.String(), c.Config.Labels[rebuild.AnnotationBaseDigest])
	bm, err := base.Manifest()
	require.NoError(t, err)
	m, err := out.Image.Manifest()
	require.NoError(t, err)
	assert.Equal(t, bm.Layers[0].Digest, m.Layers[0].Digest, "base blob kept through stamping and staging")

	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Log("skopeo not installed; containers/image check skipped")
		return
	}
	policy := filepath.Join(t.TempDir(), "policy.json")
	require.NoError(t, os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600))
	dest := filepath.Join(t.TempDir(), "copy")
	cmd := exec.CommandContext(t.Context(), skopeo, "--policy", policy, "copy", "--src-tls-verify=false",
		"docker://"+out.Pinned, "oci:"+dest)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "skopeo copy: %s", b)
}

// TestRunMultiPlatformFromGit has rebuild build a two-platform image from
// git one platform at a time through buildkitd and stage the index.
func TestRunMultiPlatformFromGit(t *testing.T) {
	bin := buildkitd(t)
	gittest.RequireGit(t)
	reg := startRegistry(t)
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n",
		"hello.txt":     "hello\n",
	})
	srv := gittest.StartHTTP(t, repo.Dir)
	d := startDaemon(t, bin, false)
	target := &rebuild.Target{
		Ref:       reg.host + "/ns/multi:1.0",
		Release:   "1",
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		Source:    &rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: rebuild.GitAuth{CABundle: srv.CA}},
		Builder:   &buildkit.Builder{Pool: newPool(t, d), InsecureHosts: []string{reg.host}},
	}
	out, err := rebuild.Run(t.Context(), target, nil, rebuild.WithStore(&rebuild.RegistryStore{}), rebuild.WithWorkDir(t.TempDir()))
	require.NoError(t, err)
	defer out.Close()
	require.NotNil(t, out.Index)
	plats, err := rebuild.Platforms(out.Index)
	require.NoError(t, err)
	var got []string
	for _, p := range plats {
		got = append(got, rebuild.PlatformString(p))
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, got)
	require.NoError(t, rebuild.CheckPullableIndex(out.Index))
}
