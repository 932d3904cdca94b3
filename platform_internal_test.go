package abs

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
)

func TestVerifiedDetailRoundTrip(t *testing.T) {
	pgs := []PlatformGrade{
		{Platform: "linux/amd64", Digest: "sha256:aa", Grade: healthindex.GradeA},
		{Platform: "linux/arm64/v8", Digest: "sha256:bb", Grade: healthindex.GradeC},
	}
	d := verifiedDetail(pgs)
	assert.Equal(t, "verified: linux/amd64 A sha256:aa, linux/arm64/v8 C sha256:bb", d)
	assert.Equal(t, pgs, parseVerified(d))
	assert.Equal(t, "verified", verifiedDetail(nil))
	for _, s := range []string{"verified", "published as 1.0-2", "verified: linux/amd64 A", ""} {
		assert.Nil(t, parseVerified(s), s)
	}
	assert.Equal(t, "linux/amd64 A, linux/arm64/v8 C", platformText(pgs))
}

func TestImageNames(t *testing.T) {
	got := imageNames([]string{store.PlatformKey("b", "linux/s390x"), "c", store.PlatformKey("b", "linux/amd64"), "a"})
	assert.Equal(t, []string{"a", "b", "c"}, got)
}

// TestIndexImages: attestation manifests are not platforms, and a
// descriptor without a platform takes its image's.
func TestIndexImages(t *testing.T) {
	img := func(arch string) v1.Image {
		i, err := random.Image(64, 1)
		require.NoError(t, err)
		cf, err := i.ConfigFile()
		require.NoError(t, err)
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		i, err = mutate.ConfigFile(i, cf)
		require.NoError(t, err)
		return i
	}
	amd := img("amd64")
	amdDigest, err := amd.Digest()
	require.NoError(t, err)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: img("arm64")}, // no platform in the descriptor
		mutate.IndexAddendum{Add: img("unknown"), Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{attestationType: "attestation-manifest", "vnd.docker.reference.digest": amdDigest.String()}}},
	)
	ds, err := indexImages(idx)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Equal(t, "amd64", ds[0].Platform.Architecture)
	assert.Equal(t, "arm64", ds[1].Platform.Architecture)
}
