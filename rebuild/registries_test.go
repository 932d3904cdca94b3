package rebuild_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/rebuild"
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
	login := map[string]rebuild.Credential{reg.Host: {Username: user, Password: rebuild.NewSecret(pass)}}

	for _, tc := range []struct {
		name string
		b    *rebuild.Buildah
		want string // in the failed build's tail; "" for success
	}{
		{"no insecure setting", &rebuild.Buildah{Credentials: login}, "server gave HTTP response to HTTPS client"},
		{"no login", &rebuild.Buildah{InsecureHosts: []string{reg.Host}}, "unauthorized"},
		{"wrong login", &rebuild.Buildah{InsecureHosts: []string{reg.Host},
			Credentials: map[string]rebuild.Credential{reg.Host: {Username: user, Password: rebuild.NewSecret("wrong-" + pass)}}}, "unauthorized"},
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
