package certify_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
)

// TestFromRegistry pushes a two-platform index to a registry on loopback
// and certifies it as pulled back, layers streamed over the registry
// protocol.
func TestFromRegistry(t *testing.T) {
	ubi8 := goRPMDB(t, "ubi8-s390x/Packages")
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	amd := fixture{db: ubi8}.image(t)
	arm := fixture{db: ubi8, app: []file{reg("opt/widget/bin/widget", "ELF")}, edit: func(cf *v1.ConfigFile) { cf.Architecture = "arm64" }}.image(t)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	ref, err := name.ParseReference(host+"/acme/widget:1.2-3", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(ref, idx, remote.WithContext(t.Context())))

	pulled, err := remote.Index(ref, remote.WithContext(t.Context()))
	require.NoError(t, err)
	p, err := certify.New(certify.Container)
	require.NoError(t, err)
	rep, err := p.CertifyIndex(t.Context(), pulled, certify.Subject{
		Repository: ref.Context().Name(), Tags: []string{ref.Identifier()},
	})
	require.NoError(t, err)
	require.Len(t, rep.Platforms, 2)
	for _, r := range rep.Platforms[0].Results {
		assert.Equal(t, certify.Passed, r.Status, "%s: %s", r.Check, r.Reason)
	}
	for _, r := range rep.Platforms[1].Results {
		want := certify.Passed
		if r.Check == "HasLicense" {
			want = certify.Failed
		}
		assert.Equal(t, want, r.Status, "%s: %s", r.Check, r.Reason)
	}

	// The arm64 image lost its license: a rebuild like it is blocked,
	// naming the check and the platform.
	first := certify.Gate(nil, rep)
	require.False(t, first.Allowed)
	require.Len(t, first.Blocks, 1)
	assert.Equal(t, "HasLicense", first.Blocks[0].Check)
	assert.Equal(t, "linux/arm64", first.Blocks[0].Platform)
}
