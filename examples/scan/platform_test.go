package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
)

// TestScanEveryPlatform scans a two-platform index in a registry with
// -platform all: one report per platform, in index order.
func TestScanEveryPlatform(t *testing.T) {
	db, err := os.ReadFile(fixtureDB)
	require.NoError(t, err)
	demo, err := testutil.DemoImage(db)
	require.NoError(t, err)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		cf, err := demo.ConfigFile()
		require.NoError(t, err)
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		img, err := mutate.ConfigFile(demo, cf)
		require.NoError(t, err)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	host := testutil.Registry(t)
	ref := host + "/openabs/multi:1"
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(r, idx))

	code, stdout, stderr := runCmd(t, "-format", "json", "-insecure", "-platform", "all", ref)
	require.Equal(t, 0, code, stderr)
	var got []struct {
		Platform string `json:"platform"`
		Image    struct {
			Digest string `json:"digest"`
		} `json:"image"`
		Packages []json.RawMessage `json:"packages"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	require.Len(t, got, 2)
	assert.Equal(t, "linux/amd64", got[0].Platform)
	assert.Equal(t, "linux/arm64", got[1].Platform)
	assert.NotEqual(t, got[0].Image.Digest, got[1].Image.Digest)
	assert.NotEmpty(t, got[1].Packages)

	code, stdout, stderr = runCmd(t, "-insecure", "-platform", "all", ref)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^Platform:\s+linux/amd64$`, stdout)
	assert.Regexp(t, `(?m)^Platform:\s+linux/arm64$`, stdout)

	code, stdout, stderr = runCmd(t, "-format", "json", "-insecure", "-platform", "linux/arm64", ref)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"platform": "linux/arm64"`)
}
