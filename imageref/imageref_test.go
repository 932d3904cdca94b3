package imageref_test

import (
	"io"
	"log"
	"math/rand"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/imageref"
	"github.com/openabs/abs/internal/testutil"
)

func platformImage(t *testing.T, seed int64, os, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1, random.WithSource(rand.NewSource(seed)))
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

type platformed struct {
	img v1.Image
	p   v1.Platform
}

func index(t *testing.T, imgs ...platformed) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, pi := range imgs {
		p := pi.p
		adds = append(adds, mutate.IndexAddendum{Add: pi.img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

func digest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

func TestOpenRegistry(t *testing.T) {
	host := testutil.Registry(t)
	amd := platformImage(t, 1, "linux", "amd64")
	arm := platformImage(t, 2, "linux", "arm64")
	idx := index(t, platformed{amd, v1.Platform{OS: "linux", Architecture: "amd64"}}, platformed{arm, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}})

	single, err := name.ParseReference(host + "/acme/single:1.0")
	require.NoError(t, err)
	require.NoError(t, remote.Write(single, amd))
	multi, err := name.ParseReference(host + "/acme/multi:latest")
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(multi, idx))

	for _, tc := range []struct {
		name, ref string
		opts      []imageref.Option
		want      v1.Image
		err       error
	}{
		{"tag", host + "/acme/single:1.0", nil, amd, nil},
		{"docker:// prefix", "docker://" + host + "/acme/single:1.0", nil, amd, nil},
		{"digest", host + "/acme/single@" + digest(t, amd), nil, amd, nil},
		{"insecure", host + "/acme/single:1.0", []imageref.Option{imageref.WithInsecure(true)}, amd, nil},
		{"index default platform", host + "/acme/multi:latest", nil, amd, nil},
		{"index arm64", host + "/acme/multi:latest", []imageref.Option{imageref.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"})}, arm, nil},
		{"index missing platform", host + "/acme/multi:latest", []imageref.Option{imageref.WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"})}, nil, imageref.ErrNoPlatform},
		{"single image, other platform asked", host + "/acme/single:1.0", []imageref.Option{imageref.WithPlatform(v1.Platform{OS: "linux", Architecture: "ppc64le"})}, nil, imageref.ErrNoPlatform},
		{"bad reference", "Not A Reference!", nil, nil, imageref.ErrInvalidRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := imageref.Open(t.Context(), tc.ref, tc.opts...)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, digest(t, tc.want), digest(t, img))
		})
	}

	t.Run("missing repository", func(t *testing.T) {
		_, err := imageref.Open(t.Context(), host+"/acme/nothing:1")
		var terr *transport.Error
		require.ErrorAs(t, err, &terr)
		assert.Equal(t, 404, terr.StatusCode)
		assert.Contains(t, err.Error(), "acme/nothing")
	})
}

// TestOpenInsecureTLS serves the registry over TLS with a certificate no
// one trusts: WithInsecure is what makes it readable.
func TestOpenInsecureTLS(t *testing.T) {
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	// Push with the server's own client, which trusts its certificate.
	img := platformImage(t, 3, "linux", "amd64")
	push, err := name.ParseReference(u.Host+"/acme/app:1", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(push, img, remote.WithTransport(srv.Client().Transport)))

	_, err = imageref.Open(t.Context(), u.Host+"/acme/app:1", imageref.WithKeychain(authn.NewMultiKeychain()))
	require.Error(t, err, "an untrusted certificate must be refused by default")

	got, err := imageref.Open(t.Context(), u.Host+"/acme/app:1", imageref.WithInsecure(true), imageref.WithKeychain(authn.NewMultiKeychain()))
	require.NoError(t, err)
	assert.Equal(t, digest(t, img), digest(t, got))
}

func TestOpenLayout(t *testing.T) {
	amd := platformImage(t, 4, "linux", "amd64")
	arm := platformImage(t, 5, "linux", "arm64")
	other := platformImage(t, 6, "linux", "amd64")

	single := filepath.Join(t.TempDir(), "single")
	p, err := layout.Write(single, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(amd))

	tagged := filepath.Join(t.TempDir(), "tagged")
	p, err = layout.Write(tagged, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(amd, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "9.3"})))
	require.NoError(t, p.AppendImage(other, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "registry.example.com/acme/app:latest"})))

	multi := filepath.Join(t.TempDir(), "multi")
	p, err = layout.Write(multi, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendIndex(index(t, platformed{arm, v1.Platform{OS: "linux", Architecture: "arm64"}}, platformed{amd, v1.Platform{OS: "linux", Architecture: "amd64"}})))

	for _, tc := range []struct {
		name, ref string
		opts      []imageref.Option
		want      v1.Image
		err       error
	}{
		{"only image", "oci:" + single, nil, amd, nil},
		{"by tag", "oci:" + tagged + ":9.3", nil, amd, nil},
		{"by tag inside a full name", "oci:" + tagged + ":latest", nil, other, nil},
		{"by digest", "oci:" + tagged + "@" + digest(t, other), nil, other, nil},
		{"missing tag", "oci:" + tagged + ":nope", nil, nil, imageref.ErrNotFound},
		{"missing digest", "oci:" + tagged + "@" + digest(t, arm), nil, nil, imageref.ErrNotFound},
		{"several untagged choices", "oci:" + tagged, nil, nil, imageref.ErrAmbiguous},
		{"index default platform", "oci:" + multi, nil, amd, nil},
		{"index arm64", "oci:" + multi, []imageref.Option{imageref.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"})}, arm, nil},
		{"index child by digest", "oci:" + multi + "@" + digest(t, arm), nil, arm, nil},
		{"index missing platform", "oci:" + multi, []imageref.Option{imageref.WithPlatform(v1.Platform{OS: "windows", Architecture: "amd64"})}, nil, imageref.ErrNoPlatform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := imageref.Open(t.Context(), tc.ref, tc.opts...)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, digest(t, tc.want), digest(t, img))
		})
	}
	t.Run("not a layout", func(t *testing.T) {
		_, err := imageref.Open(t.Context(), "oci:"+t.TempDir())
		require.Error(t, err)
	})
}

func TestOpenDockerArchive(t *testing.T) {
	a := platformImage(t, 7, "linux", "amd64")
	b := platformImage(t, 8, "linux", "amd64")
	dir := t.TempDir()

	one := filepath.Join(dir, "one.tar")
	tagA, err := name.NewTag("acme/a:1")
	require.NoError(t, err)
	require.NoError(t, tarball.WriteToFile(one, tagA, a))

	two := filepath.Join(dir, "two.tar")
	tagB, err := name.NewTag("acme/b:2")
	require.NoError(t, err)
	require.NoError(t, tarball.MultiWriteToFile(two, map[name.Tag]v1.Image{tagA: a, tagB: b}))

	for _, tc := range []struct {
		name, ref string
		want      v1.Image
		err       error
	}{
		{"single image", "docker-archive:" + one, a, nil},
		{"named image", "docker-archive:" + two + ":acme/b:2", b, nil},
		{"unnamed in a multi-image archive", "docker-archive:" + two, nil, imageref.ErrAmbiguous},
		{"bad name", "docker-archive:" + two + ":UPPER CASE", nil, imageref.ErrInvalidRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := imageref.Open(t.Context(), tc.ref)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, digest(t, tc.want), digest(t, img))
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := imageref.Open(t.Context(), "docker-archive:"+filepath.Join(dir, "absent.tar"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "absent.tar")
	})
}

func TestParsePlatform(t *testing.T) {
	p, err := imageref.ParsePlatform("linux/arm64/v8")
	require.NoError(t, err)
	assert.Equal(t, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, p)
	_, err = imageref.ParsePlatform("linux")
	require.ErrorIs(t, err, imageref.ErrInvalidRef)
}
