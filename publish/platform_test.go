package publish_test

import (
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/publish"
)

// platformImage is a random OCI image whose config names platform p
// ("linux/arm64" or "linux/arm64/v8").
func platformImage(t testing.TB, seed int64, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1, random.WithSource(rand.NewSource(seed)))
	require.NoError(t, err)
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

// platformIndex is an OCI index of one random image per platform.
func platformIndex(t testing.TB, seed int64, plats ...v1.Platform) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range plats {
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: platformImage(t, seed*10+int64(i), p), Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx
}

var (
	amd64   = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64   = v1.Platform{OS: "linux", Architecture: "arm64"}
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	ppc64le = v1.Platform{OS: "linux", Architecture: "ppc64le"}
	s390x   = v1.Platform{OS: "linux", Architecture: "s390x"}
)

// TestRegistryKeepsShape publishes a four-platform index and checks that
// its tags never move to a single image or to an index that lacks a
// platform, that a complete new index moves them (every child checked),
// and that a single-platform image's tag stays single-platform.
func TestRegistryKeepsShape(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			reg := be.start(t)
			var checked atomic.Int32
			p := newPublisher(t, reg, nil, publish.WithImageCheck(func(v1.Image) error { checked.Add(1); return nil }))
			repo := reg.Repo("team/multi")
			ctx := t.Context()

			idx1 := platformIndex(t, 1, amd64, arm64, ppc64le, s390x)
			_, err := p.Publish(ctx, publish.Request{Repository: repo, Index: idx1, VersionTag: "1.0-1", FloatingTags: []string{"latest", "1.0"}})
			require.NoError(t, err)
			assert.Equal(t, int32(4), checked.Load(), "every child checked")

			// An index never becomes a single image.
			single := platformImage(t, 99, amd64)
			res, err := p.Publish(ctx, publish.Request{Repository: repo, Image: single, VersionTag: "1.0-2", FloatingTags: []string{"latest"}})
			require.ErrorIs(t, err, publish.ErrShapeChange)
			var se *publish.ShapeError
			require.ErrorAs(t, err, &se)
			assert.True(t, se.ExistingIndex)
			assert.False(t, se.WantIndex)
			assert.Equal(t, digestOf(t, idx1), se.Existing)
			assert.Contains(t, err.Error(), "a multi-platform index")
			assert.Equal(t, map[string]publish.Action{"1.0-2": "skipped", "latest": "refused"}, actions(res))
			assert.Empty(t, tagDigest(t, reg, repo+"@"+digestOf(t, single)), "nothing pushed")
			assert.Empty(t, tagDigest(t, reg, repo+":1.0-2"))

			// Nor an index without one of its platforms, also in a dry run.
			idx3 := platformIndex(t, 3, amd64, arm64, ppc64le)
			for _, dry := range []bool{true, false} {
				_, err = p.Publish(ctx, publish.Request{Repository: repo, Index: idx3, VersionTag: "1.0-2", FloatingTags: []string{"1.0"}, DryRun: dry})
				require.ErrorAs(t, err, &se)
				assert.Equal(t, []string{"linux/s390x"}, se.Missing)
				assert.Contains(t, err.Error(), "linux/s390x")
			}
			assert.Empty(t, tagDigest(t, reg, repo+"@"+digestOf(t, idx3)), "nothing pushed")
			assert.Equal(t, digestOf(t, idx1), tagDigest(t, reg, repo+":1.0"))

			// A complete new index (arm64 now says v8) moves every tag.
			checked.Store(0)
			idx2 := platformIndex(t, 2, amd64, arm64v8, ppc64le, s390x)
			res, err = p.Publish(ctx, publish.Request{Repository: repo, Index: idx2, VersionTag: "1.0-2", FloatingTags: []string{"latest", "1.0"}})
			require.NoError(t, err)
			assert.Equal(t, []string{"1.0-2", "latest", "1.0"}, res.Moved())
			assert.Equal(t, int32(4), checked.Load())
			for _, tag := range []string{"1.0-2", "latest", "1.0"} {
				assert.Equal(t, digestOf(t, idx2), tagDigest(t, reg, repo+":"+tag), tag)
			}
			assert.Equal(t, digestOf(t, idx1), tagDigest(t, reg, repo+":1.0-1"))

			// A single-platform image stays single-platform and keeps its
			// platform; WithPlatformChanges allows a deliberate change.
			app := reg.Repo("team/single")
			_, err = p.Publish(ctx, publish.Request{Repository: app, Image: platformImage(t, 5, amd64), VersionTag: "2.0-1", FloatingTags: []string{"latest"}})
			require.NoError(t, err)
			_, err = p.Publish(ctx, publish.Request{Repository: app, Index: idx2, VersionTag: "2.0-2", FloatingTags: []string{"latest"}})
			require.ErrorAs(t, err, &se)
			assert.False(t, se.ExistingIndex)
			assert.True(t, se.WantIndex)
			_, err = p.Publish(ctx, publish.Request{Repository: app, Image: platformImage(t, 6, s390x), VersionTag: "2.0-2", FloatingTags: []string{"latest"}})
			require.ErrorAs(t, err, &se)
			assert.Equal(t, []string{"linux/amd64"}, se.Missing)
			_, err = p.Publish(ctx, publish.Request{Repository: app, Image: platformImage(t, 7, amd64), VersionTag: "2.0-2", FloatingTags: []string{"latest"}})
			require.NoError(t, err, "same platform, new image")

			loose := newPublisher(t, reg, nil, publish.WithPlatformChanges())
			_, err = loose.Publish(ctx, publish.Request{Repository: app, Index: idx2, VersionTag: "2.0-3", FloatingTags: []string{"latest"}})
			require.NoError(t, err)
			assert.Equal(t, digestOf(t, idx2), tagDigest(t, reg, app+":latest"))
		})
	}
}

// TestRegistryIndexPullableBySkopeo publishes a four-platform index to
// Debian's docker-registry and has skopeo copy every platform from the
// floating tag.
func TestRegistryIndexPullableBySkopeo(t *testing.T) {
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed (apt-get install skopeo)")
	}
	reg := regtest.Distribution(t)
	p := newPublisher(t, reg, nil)
	idx := platformIndex(t, 4, amd64, arm64, ppc64le, s390x)
	_, err = p.Publish(t.Context(), publish.Request{Repository: reg.Repo("team/multi"), Index: idx, VersionTag: "1.0-1", FloatingTags: []string{"latest"}})
	require.NoError(t, err)

	policy := filepath.Join(t.TempDir(), "policy.json")
	writePolicy(t, policy)
	ref := "docker://" + reg.Repo("team/multi") + ":latest"
	out, err := exec.CommandContext(t.Context(), bin, "--policy", policy, "inspect", "--raw", "--tls-verify=false", ref).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var im v1.IndexManifest
	require.NoError(t, json.Unmarshal(out, &im))
	assert.Equal(t, types.OCIImageIndex, im.MediaType)
	require.Len(t, im.Manifests, 4)
	assert.Equal(t, "s390x", im.Manifests[3].Platform.Architecture)
	out, err = exec.CommandContext(t.Context(), bin, "--policy", policy, "copy", "--all", "--src-tls-verify=false",
		ref, "oci:"+filepath.Join(t.TempDir(), "layout")+":x").CombinedOutput()
	require.NoError(t, err, "skopeo copy --all: %s", out)
}

// writePolicy writes a containers-policy.json(5) that accepts everything
// (the machine may have none).
func writePolicy(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600))
}
