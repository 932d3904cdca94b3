package publish_test

import (
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/publish"
)

var errRefused = errors.New("not pullable")

// TestRegistryImageCheck refuses an image and one image of an index: the
// publish fails with the check's error and the registry holds nothing.
func TestRegistryImageCheck(t *testing.T) {
	reg := regtest.InProcess(t)
	bad := testImage(t, 1)
	badDigest := digestOf(t, bad)
	var checked []string
	check := func(img v1.Image) error {
		d := digestOf(t, img)
		checked = append(checked, d)
		if d == badDigest {
			return errRefused
		}
		return nil
	}
	p := publish.NewRegistry(publish.WithPlainHTTP(), publish.WithAnonymous(), publish.WithImageCheck(check))

	for _, dry := range []bool{true, false} {
		_, err := p.Publish(t.Context(), publish.Request{Repository: reg.Repo("app"), Image: bad, VersionTag: "1.0-1", DryRun: dry})
		require.ErrorIs(t, err, errRefused)
		assert.Contains(t, err.Error(), badDigest)
	}
	_, err := remote.Head(checkRef(t, reg.Repo("app")+"@"+badDigest), remote.WithContext(t.Context()))
	require.Error(t, err, "nothing pushed")

	idx := testIndex(t, 2)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	badDigest = im.Manifests[1].Digest.String()
	checked = nil
	_, err = p.Publish(t.Context(), publish.Request{Repository: reg.Repo("multi"), Index: idx, VersionTag: "1.0-1"})
	require.ErrorIs(t, err, errRefused)
	assert.Equal(t, []string{im.Manifests[0].Digest.String(), badDigest}, checked)
	_, err = remote.Head(checkRef(t, reg.Repo("multi")+"@"+digestOf(t, idx)), remote.WithContext(t.Context()))
	require.Error(t, err, "nothing pushed")

	good := testImage(t, 3)
	res, err := p.Publish(t.Context(), publish.Request{Repository: reg.Repo("app"), Image: good, VersionTag: "1.0-2"})
	require.NoError(t, err)
	assert.True(t, res.Pushed)
}

func checkRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	require.NoError(t, err)
	return r
}
