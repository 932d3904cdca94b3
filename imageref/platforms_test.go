package imageref_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/imageref"
	"github.com/openabs/abs/internal/testutil"
)

func TestPlatforms(t *testing.T) {
	host := testutil.Registry(t)
	amd := platformImage(t, 1, "linux", "amd64")
	arm := platformImage(t, 2, "linux", "arm64")
	s390 := platformImage(t, 3, "linux", "s390x")
	att := platformImage(t, 4, "unknown", "unknown")
	multi := index(t, platformed{amd, v1.Platform{OS: "linux", Architecture: "amd64"}},
		platformed{arm, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		platformed{s390, v1.Platform{OS: "linux", Architecture: "s390x"}},
		platformed{att, v1.Platform{OS: "unknown", Architecture: "unknown"}})
	want := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}}

	ref, err := name.ParseReference(host + "/acme/multi:1")
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(ref, multi))
	single, err := name.ParseReference(host + "/acme/single:1")
	require.NoError(t, err)
	require.NoError(t, remote.Write(single, arm))

	dir := filepath.Join(t.TempDir(), "multi")
	p, err := layout.Write(dir, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendIndex(multi))

	for _, tc := range []struct {
		ref  string
		want []v1.Platform
	}{
		{host + "/acme/multi:1", want},
		{"docker://" + host + "/acme/multi:1", want},
		{host + "/acme/single:1", []v1.Platform{{OS: "linux", Architecture: "arm64"}}},
		{"oci:" + dir, want},
	} {
		got, err := imageref.Platforms(t.Context(), tc.ref)
		require.NoError(t, err, tc.ref)
		assert.Equal(t, tc.want, got, tc.ref)
		// Each opens with WithPlatform.
		for _, p := range got {
			img, err := imageref.Open(t.Context(), tc.ref, imageref.WithPlatform(p))
			require.NoError(t, err, "%s %s", tc.ref, p)
			cf, err := img.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, p.Architecture, cf.Architecture)
		}
	}
	_, err = imageref.Platforms(t.Context(), host+"/acme/nothing:1")
	require.Error(t, err)
}
