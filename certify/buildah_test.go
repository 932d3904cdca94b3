package certify_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/internal/testutil"
)

// buildah runs buildah with a private storage root.
type buildah struct {
	t             *testing.T
	root, runroot string
}

func newBuildah(t *testing.T) *buildah {
	t.Helper()
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah tests run as root (chroot isolation, vfs storage)")
	}
	dir := t.TempDir()
	b := &buildah{t: t, root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run")}
	t.Cleanup(func() { _, _ = b.try("rm", "--all") })
	return b
}

func (b *buildah) try(args ...string) (string, error) {
	full := append([]string{"--root", b.root, "--runroot", b.runroot, "--storage-driver", "vfs"}, args...)
	cmd := exec.CommandContext(b.t.Context(), "buildah", full...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (b *buildah) do(args ...string) string {
	b.t.Helper()
	out, err := b.try(args...)
	require.NoError(b.t, err, "buildah %s: %s", strings.Join(args, " "), out)
	lines := strings.Split(out, "\n")
	return lines[len(lines)-1]
}

func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, body, 0o644))
	}
}

// TestBuildah certifies images built by buildah and pushed to a registry
// on loopback: a UBI-like base, a partner image on it, and a rebuild that
// overwrites an RPM-installed file. The gate lets the first through and
// blocks the second, naming HasModifiedFiles.
func TestBuildah(t *testing.T) {
	b := newBuildah(t)
	ubi8 := goRPMDB(t, "ubi8-s390x/Packages")
	host := testutil.Registry(t)
	dir := t.TempDir()

	baseDir, appDir, badDir := filepath.Join(dir, "base"), filepath.Join(dir, "app"), filepath.Join(dir, "bad")
	writeTree(t, baseDir, map[string][]byte{
		"usr/bin/bash":         []byte("#!bash"),
		"var/lib/rpm/Packages": ubi8,
		"root/buildinfo/Dockerfile-ubi8-container-8.6-1": []byte(ubiDockerfile),
	})
	writeTree(t, appDir, map[string][]byte{
		"licenses/LICENSE":      []byte("Copyright Acme"),
		"opt/widget/bin/widget": []byte("ELF"),
	})
	writeTree(t, badDir, map[string][]byte{"usr/bin/bash": []byte("patched")})

	ctr := b.do("from", "scratch")
	b.do("copy", ctr, baseDir+"/.", "/")
	b.do("commit", ctr, "registry.access.redhat.com/ubi8/ubi:8.6")

	build := func(tag string, dirs ...string) string {
		c := b.do("from", "--pull-never", "registry.access.redhat.com/ubi8/ubi:8.6")
		for _, d := range dirs {
			b.do("copy", c, d+"/.", "/")
		}
		args := []string{"config", "--user", "1001", "--os", "linux", "--arch", "amd64"}
		for k, v := range redHatLabels() {
			args = append(args, "--label", k+"="+v)
		}
		b.do(append(args, c)...)
		ref := host + "/acme/widget:" + tag
		b.do("commit", c, ref)
		b.do("push", "--tls-verify=false", ref, "docker://"+ref)
		return ref
	}

	p, err := certify.New(certify.Container)
	require.NoError(t, err)
	run := func(ref string) *certify.Report {
		r, err := name.ParseReference(ref)
		require.NoError(t, err)
		img, err := remote.Image(r, remote.WithContext(t.Context()))
		require.NoError(t, err)
		rep, err := p.Certify(t.Context(), img, certify.Subject{Repository: r.Context().Name(), Tags: []string{r.Identifier()}})
		require.NoError(t, err)
		return rep
	}

	good := run(build("1.0", appDir))
	for _, r := range good.Platforms[0].Results {
		assert.Equal(t, certify.Passed, r.Status, "%s: %s", r.Check, r.Reason)
	}
	require.True(t, certify.Gate(nil, good).Allowed)

	bad := run(build("1.1", appDir, badDir))
	d := certify.Gate(good, bad)
	require.False(t, d.Allowed)
	require.Len(t, d.Blocks, 1, "%v", d.Blocks)
	assert.Equal(t, certify.NameHasModifiedFiles, d.Blocks[0].Check)
	assert.Contains(t, d.Blocks[0].Reason, "usr/bin/bash")
}
