package rebuild_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

func pushAuth(t testing.TB, ref string, img v1.Image, user, pass string) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img, remote.WithContext(t.Context()), remote.WithAuth(&authn.Basic{Username: user, Password: pass})))
	d, err := img.Digest()
	require.NoError(t, err)
	return d
}

// TestBuildahRegistryCredentials builds from a base in Debian's
// docker-registry behind htpasswd, over plain HTTP: buildah needs the
// login and the insecure setting, handed to it per build, and the image
// it makes shares the base's layer blobs byte for byte, so that it can be
// rebased when the base moves.
func TestBuildahRegistryCredentials(t *testing.T) {
	requireBuildah(t)
	const user, pass = "builder", "Pa55-w0rd-for-buildah"
	reg := regtest.Distribution(t, regtest.WithBasicAuth(user, pass))
	login := map[string]rebuild.Credential{reg.Host: {Username: user, Password: secret.New(pass)}}

	for _, tc := range []struct {
		name string
		b    *rebuild.Buildah
		want string // in the failed build's tail; "" for success
	}{
		{"no insecure setting", &rebuild.Buildah{Credentials: login}, "server gave HTTP response to HTTPS client"},
		{"no login", &rebuild.Buildah{InsecureHosts: []string{reg.Host}}, "unauthorized"},
		{"wrong login", &rebuild.Buildah{InsecureHosts: []string{reg.Host},
			Credentials: map[string]rebuild.Credential{reg.Host: {Username: user, Password: secret.New("wrong-" + pass)}}}, "unauthorized"},
		{"oci", &rebuild.Buildah{Credentials: login, InsecureHosts: []string{reg.Host}}, ""},
		{"docker", &rebuild.Buildah{Credentials: login, InsecureHosts: []string{reg.Host}, Format: "docker"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			baseRef := reg.Repo("team/busybox-"+strings.ReplaceAll(tc.name, " ", "-")) + ":1"
			baseImg := image(t, nil, map[string]string{"name": "busybox"}, busyboxLayer(t), layer(t, map[string]string{"etc/os-release": "v1"}))
			baseDigest := pushAuth(t, baseRef, baseImg, user, pass)
			co := checkout(t, map[string]string{"Containerfile": "FROM " + baseRef + "\nRUN echo built > /built.txt\n"})
			work := t.TempDir()
			res, err := tc.b.Build(t.Context(), &rebuild.Request{Ref: reg.Repo("team/app") + ":1", Source: co, WorkDir: work})
			entries, _ := os.ReadDir(work)
			for _, e := range entries {
				assert.False(t, strings.HasPrefix(e.Name(), ".registries"), "auth file left behind: %s", e.Name())
			}
			if tc.want != "" {
				var be *rebuild.BuildError
				require.ErrorAs(t, err, &be)
				t.Logf("%s", be.Tail)
				assert.Contains(t, be.Tail, tc.want)
				for _, s := range []string{pass, "wrong-" + pass} {
					assert.NotContains(t, string(be.Log), s)
					assert.NotContains(t, strings.Join(be.Args, " "), s)
				}
				return
			}
			require.NoError(t, err)
			got, ok := readFile(t, res.Image, "built.txt")
			require.True(t, ok)
			assert.Equal(t, "built\n", got)
			assert.Equal(t, baseDigest.String(), res.BaseDigest)

			// One manifest family throughout, and the base's blobs.
			mt, _, lts := mediaTypes(t, res.Image)
			want := types.OCILayer
			if tc.b.Format == "docker" {
				want = types.DockerLayer
				assert.Equal(t, types.DockerManifestSchema2, mt)
			} else {
				assert.Equal(t, types.OCIManifestSchema1, mt)
			}
			for i, lt := range lts {
				assert.Equal(t, want, lt, "layer %d", i)
			}
			baseLayers := layerDigests(t, baseImg)
			require.Greater(t, len(layerDigests(t, res.Image)), len(baseLayers))
			assert.Equal(t, baseLayers, layerDigests(t, res.Image)[:len(baseLayers)], "base layers byte for byte")
			require.NoError(t, rebuild.CheckPullable(res.Image))

			// The next base move can rebase the rebuilt image.
			appRef := reg.Repo("team/app-"+tc.name) + ":1"
			pushAuth(t, appRef, res.Image, user, pass)
			moved := image(t, nil, map[string]string{"name": "busybox"}, busyboxLayer(t), layer(t, map[string]string{"etc/os-release": "v2"}))
			pushAuth(t, baseRef, moved, user, pass)
			rb := &rebuild.Rebase{Options: []remote.Option{remote.WithAuth(&authn.Basic{Username: user, Password: pass})}}
			// A Docker manifest has no annotations: the base comes from the result
			// (Execute records it in labels too).
			rebased, err := rb.Build(t.Context(), &rebuild.Request{Ref: appRef, Base: res.BaseName + "@" + res.BaseDigest})
			require.NoError(t, err)
			assert.Equal(t, layerDigests(t, moved), layerDigests(t, rebased.Image)[:2])
			require.NoError(t, rebuild.CheckPullable(rebased.Image))
			mt2, _, _ := mediaTypes(t, rebased.Image)
			assert.Equal(t, mt, mt2)
		})
	}
}

// TestCommandRegistryFiles shows what a build tool is handed: an auth file
// with the logins of the hosts its Containerfile uses only, and a
// registries configuration marking the insecure hosts.
func TestCommandRegistryFiles(t *testing.T) {
	sh := requireProc(t)
	creds := map[string]rebuild.Credential{
		"registry.example.com": {Username: "a", Password: secret.New("pa")},
		"other.example.com":    {Username: "b", Password: secret.New("pb")},
		"docker.io":            {Username: "c", Password: secret.New("pc")},
	}
	c := &rebuild.Command{
		Args:        []string{sh, "-c", `echo "auth={{.AuthFile}} conf={{.RegistriesConf}}"; [ "$REGISTRY_AUTH_FILE" = "{{.AuthFile}}" ] || exit 9; cat "$REGISTRY_AUTH_FILE"; echo; cat "$CONTAINERS_REGISTRIES_CONF"; exit 1`},
		Credentials: creds, InsecureHosts: []string{"127.0.0.1:5000"},
	}
	build := func(containerfile string) *rebuild.BuildError {
		co := checkout(t, map[string]string{"Containerfile": containerfile})
		_, err := c.Build(t.Context(), &rebuild.Request{Ref: "x", Source: co, WorkDir: t.TempDir()})
		var be *rebuild.BuildError
		require.ErrorAs(t, err, &be)
		require.Equal(t, 1, be.ExitCode, "%s", be.Tail)
		return be
	}

	be := build("FROM registry.example.com/team/base:1 AS b\nFROM docker.io/library/busybox:1\n")
	assert.Contains(t, be.Tail, `"registry.example.com":{"auth":"[REDACTED]"}`)
	assert.Contains(t, be.Tail, `"docker.io":{"auth":"[REDACTED]"}`)
	assert.NotContains(t, be.Tail, "other.example.com", "a host the build does not use")
	assert.Contains(t, be.Tail, "[[registry]]\nlocation = \"127.0.0.1:5000\"\ninsecure = true")

	be = build("FROM ubi9\n") // a short name: every login
	assert.Contains(t, be.Tail, "other.example.com")

	co := checkout(t, map[string]string{"Containerfile": "FROM scratch\n"})
	bad := &rebuild.Command{Args: []string{sh, "-c", "exit 0"}, InsecureHosts: []string{"x\"\n[[registry]]"}}
	_, err := bad.Build(t.Context(), &rebuild.Request{Ref: "x", Source: co, WorkDir: t.TempDir()})
	require.ErrorContains(t, err, "invalid insecure registry host")
}

// TestShareBaseLayers swaps re-encoded base layers for the base's blobs
// while the content (diff_id) is the same, and stops at the first layer
// that differs.
func TestShareBaseLayers(t *testing.T) {
	l1, l2 := layer(t, map[string]string{"a": "1"}), layer(t, map[string]string{"b": "2"})
	base := imageIn(t, types.OCIManifestSchema1, nil, nil, l1, l2)
	// The same content, compressed otherwise, as a build tool exports it.
	unc := func(l v1.Layer) v1.Layer {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		out, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
			tarball.WithCompressionLevel(gzip.BestCompression))
		require.NoError(t, err)
		return out
	}
	own := layer(t, map[string]string{"app": "1"})
	built := imageIn(t, types.DockerManifestSchema2, nil, nil, unc(l1), unc(l2), own)
	require.NotEqual(t, layerDigests(t, base)[0], layerDigests(t, built)[0], "recompressed: other blobs")

	out, n, err := rebuild.ShareBaseLayers(built, base)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, append(layerDigests(t, base), layerDigests(t, built)[2]), layerDigests(t, out))
	_, _, lts := mediaTypes(t, out)
	assert.Equal(t, []types.MediaType{types.DockerLayer, types.DockerLayer, types.DockerLayer}, lts, "re-typed to the image's family")
	wantCfg, err := built.RawConfigFile()
	require.NoError(t, err)
	gotCfg, err := out.RawConfigFile()
	require.NoError(t, err)
	assert.Equal(t, wantCfg, gotCfg, "config kept byte for byte")
	require.NoError(t, rebuild.CheckPullable(out))
	// The blobs are what the manifest and config say.
	ls, err := out.Layers()
	require.NoError(t, err)
	cf, err := out.ConfigFile()
	require.NoError(t, err)
	m, err := out.Manifest()
	require.NoError(t, err)
	for i, l := range ls {
		rc, err := l.Compressed()
		require.NoError(t, err)
		d, _, err := v1.SHA256(rc)
		require.NoError(t, err)
		rc.Close()
		assert.Equal(t, m.Layers[i].Digest, d)
		rc, err = l.Uncompressed()
		require.NoError(t, err)
		d, _, err = v1.SHA256(rc)
		require.NoError(t, err)
		rc.Close()
		assert.Equal(t, cf.RootFS.DiffIDs[i], d)
	}

	other := imageIn(t, types.DockerManifestSchema2, nil, nil, unc(l1), layer(t, map[string]string{"b": "changed"}))
	out, n, err = rebuild.ShareBaseLayers(other, base)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, layerDigests(t, base)[0], layerDigests(t, out)[0])
	assert.Equal(t, layerDigests(t, other)[1], layerDigests(t, out)[1])

	same, n, err := rebuild.ShareBaseLayers(base, base)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, mustDigest(t, base), mustDigest(t, same))
}
