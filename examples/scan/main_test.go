package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
)

const fixtureDB = "../../rpmscan/testdata/rpmdb/sqlite/rpmdb.sqlite"

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(t.Context(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestDemoAndScan(t *testing.T) {
	tar := filepath.Join(t.TempDir(), "demo.tar")
	code, _, stderr := runCmd(t, "-demo", tar, "-demo-rpmdb", fixtureDB)
	require.Equal(t, 0, code, stderr)

	// The same image, pushed to a registry on loopback.
	host := testutil.Registry(t)
	tag, err := name.NewTag("localhost/openabs/demo:latest")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(tar, &tag)
	require.NoError(t, err)
	ref, err := name.ParseReference(host + "/openabs/demo:1")
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img))

	for _, image := range []string{"docker-archive:" + tar, host + "/openabs/demo:1"} {
		t.Run(image, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "-format", "json", "-insecure", "-platform", "linux/amd64", image)
			require.Equal(t, 0, code, stderr)
			var got struct {
				Image struct {
					Digest string `json:"digest"`
				} `json:"image"`
				OS struct {
					ID        string `json:"id"`
					VersionID string `json:"version_id"`
				} `json:"os"`
				ContentSets []string `json:"content_sets"`
				Packages    []struct {
					Name      string `json:"name"`
					Epoch     *int   `json:"epoch"`
					Version   string `json:"version"`
					Release   string `json:"release"`
					Arch      string `json:"arch"`
					SourceRPM string `json:"source_rpm"`
					Module    string `json:"module"`
				} `json:"packages"`
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &got))
			assert.True(t, strings.HasPrefix(got.Image.Digest, "sha256:"))
			assert.Equal(t, "rhel", got.OS.ID)
			assert.Equal(t, "9.3", got.OS.VersionID)
			assert.Equal(t, []string{"rhel-9-for-x86_64-appstream-rpms", "rhel-9-for-x86_64-baseos-rpms"}, got.ContentSets)
			require.Len(t, got.Packages, 7)
			n := got.Packages[3]
			assert.Equal(t, "nodejs", n.Name)
			require.NotNil(t, n.Epoch)
			assert.Equal(t, 1, *n.Epoch)
			assert.Equal(t, "nodejs:18:9010020230301:rhel9", n.Module)
			assert.Equal(t, "nodejs-18.14.2-2.module+el9.1.0+18118+5b5a9a6b.src.rpm", n.SourceRPM)

			code, stdout, stderr = runCmd(t, "-insecure", image)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stdout, "Red Hat Enterprise Linux 9.3 (Plow)")
			assert.Contains(t, stdout, "openssl-libs")
		})
	}
}

// TestLayerConcurrency scans a multi-layer archive reading its layers one
// by one, two and eight at once, and by default: the reports are the same.
func TestLayerConcurrency(t *testing.T) {
	tar := filepath.Join(t.TempDir(), "demo.tar")
	code, _, stderr := runCmd(t, "-demo", tar, "-demo-rpmdb", fixtureDB)
	require.Equal(t, 0, code, stderr)
	tag, err := name.NewTag("localhost/openabs/demo:latest")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(tar, &tag)
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Greater(t, len(layers), 1, "the demo image must have layers to read at once")

	var want string
	for _, n := range []string{"1", "2", "8", "0"} {
		code, stdout, stderr := runCmd(t, "-format", "json", "-layer-concurrency", n, "docker-archive:"+tar)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, `"openssl-libs"`)
		if want == "" {
			want = stdout
			continue
		}
		assert.Equal(t, want, stdout, "-layer-concurrency %s", n)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no image", nil, 2, "usage"},
		{"bad format", []string{"-format", "xml", "x"}, 2, "usage"},
		{"bad platform", []string{"-platform", "amd64", "x"}, 2, "platform"},
		{"negative layer concurrency", []string{"-layer-concurrency", "-1", "x"}, 2, "usage"},
		{"missing archive", []string{"docker-archive:/nonexistent/x.tar"}, 1, "x.tar"},
		{"missing demo rpmdb", []string{"-demo", filepath.Join(t.TempDir(), "d.tar"), "-demo-rpmdb", "/nonexistent"}, 1, "nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			assert.Equal(t, tc.code, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.msg)
		})
	}
}
