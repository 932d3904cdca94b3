package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
)

// TestCertify runs -certify on the demo image from a loopback registry:
// the repository and tag come from the reference, and the demo image
// (no /licenses, no USER, three labels missing) fails exactly those checks.
func TestCertify(t *testing.T) {
	tar := filepath.Join(t.TempDir(), "demo.tar")
	code, _, stderr := runCmd(t, "-demo", tar, "-demo-rpmdb", fixtureDB)
	require.Equal(t, 0, code, stderr)
	host := testutil.Registry(t)
	tag, err := name.NewTag("localhost/openabs/demo:latest")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(tar, &tag)
	require.NoError(t, err)
	ref := host + "/acme/widget:1.4-7"
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))

	code, stdout, stderr := runCmd(t, "-certify", "-format", "json", "-insecure", ref)
	require.Equal(t, 0, code, stderr)
	var got struct {
		Certification struct {
			Policy    string `json:"policy"`
			Platforms []struct {
				Platform string `json:"platform"`
				Results  []struct {
					Check  string `json:"check"`
					Status string `json:"status"`
					Reason string `json:"reason"`
				} `json:"results"`
			} `json:"platforms"`
		} `json:"certification"`
		Packages []json.RawMessage `json:"packages"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Len(t, got.Packages, 7)
	assert.Equal(t, "container", got.Certification.Policy)
	require.Len(t, got.Certification.Platforms, 1)
	assert.Equal(t, "linux/amd64", got.Certification.Platforms[0].Platform)
	statuses := map[string]string{}
	for _, res := range got.Certification.Platforms[0].Results {
		statuses[res.Check] = res.Status
		assert.NotEmpty(t, res.Reason)
	}
	assert.Equal(t, map[string]string{
		"HasLicense": "failed", "HasUniqueTag": "passed", "LayerCountAcceptable": "passed",
		"HasNoProhibitedPackages": "passed", "HasRequiredLabel": "failed", "HasNoProhibitedLabels": "passed",
		"RunAsNonRoot": "failed", "HasModifiedFiles": "passed", "BasedOnUbi": "passed",
		"HasProhibitedContainerName": "passed",
	}, statuses)

	code, stdout, stderr = runCmd(t, "-certify", "-policy", "scratch-root", "-tag", "latest", "-insecure", ref)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Certification (scratch-root policy, linux/amd64)")
	assert.Regexp(t, `HasUniqueTag\s+failed\s+the image is only tagged latest`, stdout)
	assert.NotContains(t, stdout, "RunAsNonRoot")

	code, _, stderr = runCmd(t, "-certify", "-policy", "operator", "-insecure", ref)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "unknown policy variant")
}
