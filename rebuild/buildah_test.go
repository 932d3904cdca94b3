package rebuild_test

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

// requireBuildah skips unless buildah can run: it needs the binary and
// root (chroot isolation, vfs storage in a private root).
func requireBuildah(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah tests run as root (chroot isolation, vfs storage)")
	}
}

// busyboxBase pushes a busybox image to reg and returns its reference.
func busyboxBase(t *testing.T, reg string) string {
	t.Helper()
	ref := reg + "/busybox:1"
	push(t, ref, image(t, nil, map[string]string{"name": "busybox"}, busyboxLayer(t)))
	return ref
}

// readFile returns the content of path in the image's top-most layer that
// has it.
func readFile(t *testing.T, img v1.Image, path string) (string, bool) {
	t.Helper()
	ls, err := img.Layers()
	require.NoError(t, err)
	for i := len(ls) - 1; i >= 0; i-- {
		rc, err := ls[i].Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if strings.TrimPrefix(h.Name, "./") == path {
				b, err := io.ReadAll(tr)
				require.NoError(t, err)
				_ = rc.Close()
				return string(b), true
			}
		}
		_ = rc.Close()
	}
	return "", false
}

func checkout(t *testing.T, files map[string]string) *rebuild.Checkout {
	t.Helper()
	dir := t.TempDir()
	for k, v := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, k)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644))
	}
	return &rebuild.Checkout{Dir: dir, ContextDir: dir, Containerfile: filepath.Join(dir, "Containerfile"), Commit: strings.Repeat("a", 40)}
}

func TestBuildahBuild(t *testing.T) {
	requireBuildah(t)
	reg := startRegistry(t)
	base := busyboxBase(t, reg)
	b := &rebuild.Buildah{InsecureRegistries: true}

	t.Run("success", func(t *testing.T) {
		co := checkout(t, map[string]string{
			"Containerfile": "ARG GREETING=hi\nFROM " + base + "\nARG GREETING\nCOPY msg.txt /msg.txt\nRUN echo \"$GREETING from RUN\" > /hello.txt\nLABEL release=3\n",
			"msg.txt":       "copied\n",
		})
		start := time.Now()
		res, err := b.Build(t.Context(), &rebuild.Request{
			Ref: reg + "/hello:1", Source: co, WorkDir: t.TempDir(), NoCache: true,
			BuildArgs:   map[string]string{"GREETING": "hello"},
			Labels:      map[string]string{rebuild.LabelRelease: "4", rebuild.LabelAdvisories: "RHSA-2026:0001"},
			Annotations: map[string]string{rebuild.AnnotationRevision: co.Commit},
		})
		t.Logf("buildah build took %s", time.Since(start))
		require.NoError(t, err, "%s", resLog(res))
		img := res.Image
		got, ok := readFile(t, img, "hello.txt")
		require.True(t, ok)
		assert.Equal(t, "hello from RUN\n", got)
		got, _ = readFile(t, img, "msg.txt")
		assert.Equal(t, "copied\n", got)
		ls, err := img.Layers()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(ls), 2, "base layer plus build layers")

		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, "4", cf.Config.Labels[rebuild.LabelRelease], "--label overrides the Containerfile's LABEL")
		assert.Equal(t, "RHSA-2026:0001", cf.Config.Labels[rebuild.LabelAdvisories])
		assert.Equal(t, "busybox", cf.Config.Labels["name"], "labels inherited from the base")
		m, err := img.Manifest()
		require.NoError(t, err)
		assert.Equal(t, co.Commit, m.Annotations[rebuild.AnnotationRevision])
		t.Logf("manifest annotations: %v", m.Annotations)
		assert.Equal(t, base, res.BaseName)
	})

	t.Run("failing RUN returns the log", func(t *testing.T) {
		co := checkout(t, map[string]string{"Containerfile": "FROM " + base + "\nRUN echo about to fail && false\n"})
		_, err := b.Build(t.Context(), &rebuild.Request{Ref: reg + "/fail:1", Source: co, WorkDir: t.TempDir()})
		var be *rebuild.BuildError
		require.ErrorAs(t, err, &be)
		assert.NotZero(t, be.ExitCode)
		assert.Contains(t, string(be.Log), "about to fail")
		assert.Contains(t, err.Error(), "about to fail")
		assert.Contains(t, be.Args, "--isolation")
	})

	t.Run("missing base", func(t *testing.T) {
		co := checkout(t, map[string]string{"Containerfile": "FROM " + reg + "/nope:1\n"})
		_, err := b.Build(t.Context(), &rebuild.Request{Ref: reg + "/x:1", Source: co, WorkDir: t.TempDir()})
		var be *rebuild.BuildError
		require.ErrorAs(t, err, &be)
		t.Logf("%v", err)
	})
}

func resLog(r *rebuild.Result) string {
	if r == nil {
		return ""
	}
	return string(r.Log)
}

func TestBuildahArgs(t *testing.T) {
	b := &rebuild.Buildah{StorageDriver: "overlay", Root: "/var/lib/x", RunRoot: "/run/x", ExtraArgs: []string{"--layers"}}
	got := b.Args(&rebuild.Request{
		NoCache:     true,
		BuildArgs:   map[string]string{"B": "2", "A": "1"},
		Labels:      map[string]string{"release": "8"},
		Annotations: map[string]string{"k": "v"},
	}, "/w/Containerfile", "/src/ctx", "/w/out.tar", "/ignored", "/ignored")
	assert.Equal(t, []string{
		"--storage-driver", "overlay", "--root", "/var/lib/x", "--runroot", "/run/x",
		"build", "--isolation", "chroot", "--pull=always", "--format", "oci", "--disable-compression=false", "--no-cache",
		"--build-arg", "A=1", "--build-arg", "B=2", "--label", "release=8", "--annotation", "k=v",
		"-f", "/w/Containerfile", "-t", "oci-archive:/w/out.tar", "--layers", "/src/ctx",
	}, got)

	got = (&rebuild.Buildah{}).Args(&rebuild.Request{Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}}, "/f", "/c", "/o", "/r", "/rr")
	assert.Equal(t, "linux/arm/v7", got[slices.Index(got, "--platform")+1])

	got = (&rebuild.Buildah{InsecureRegistries: true}).Args(&rebuild.Request{}, "/f", "/c", "/o", "/r", "/rr")
	assert.Equal(t, []string{
		"--storage-driver", "vfs", "--root", "/r", "--runroot", "/rr",
		"build", "--isolation", "chroot", "--pull=always", "--format", "oci", "--disable-compression=false", "--tls-verify=false",
		"-f", "/f", "-t", "oci-archive:/o", "/c",
	}, got)
}
