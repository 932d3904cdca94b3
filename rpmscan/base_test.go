package rpmscan_test

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// TestScanBase reads the image's base from its manifest annotations first,
// then from config labels of the same names, and lists its Red Hat content
// manifests with the topmost layer first.
func TestScanBase(t *testing.T) {
	const (
		consoleManifest = `{"metadata":{"icm_version":1,"image_layer_index":3},"content_sets":["rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"]}`
		elsManifest     = `{"metadata":{"icm_version":1,"image_layer_index":0},"content_sets":["rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"]}`
		digest          = "sha256:4a6ea66336fc875f84f24bf9ebfdf5b7c166eb19dd68d88ec6035392162b4c5a"
	)
	layer, err := testutil.Layer(
		testutil.File("root/buildinfo/content_manifests/rhel-els-container-9.2-483.json", []byte(elsManifest)),
		testutil.File("root/buildinfo/content_manifests/openshift-enterprise-console-container-v4.16.0-202409181705.p0.g0b1616c.assembly.stream.el9.json", []byte(consoleManifest)),
		testutil.File("root/buildinfo/content_manifests/no-metadata.json", []byte(`{"content_sets":[]}`)),
	)
	require.NoError(t, err)
	labels := map[string]string{
		"org.opencontainers.image.base.name":   "registry.redhat.io/openshift4/ose-console-rhel9:v4.15",
		"org.opencontainers.image.base.digest": "sha256:" + "00000000000000000000000000000000000000000000000000000000000000cc",
	}
	img, err := testutil.Image(testutil.Config{Labels: labels}, layer)
	require.NoError(t, err)

	inv, err := scanner(t).Scan(t.Context(), img)
	require.NoError(t, err)
	require.NotNil(t, inv.Base)
	assert.Equal(t, rpmscan.BaseImage{Name: labels["org.opencontainers.image.base.name"], Digest: labels["org.opencontainers.image.base.digest"], Source: "label"}, *inv.Base)
	assert.Equal(t, []rpmscan.BuildInfo{
		{NVR: "openshift-enterprise-console-container-v4.16.0-202409181705.p0.g0b1616c.assembly.stream.el9", LayerIndex: 3},
		{NVR: "rhel-els-container-9.2-483", LayerIndex: 0},
		{NVR: "no-metadata", LayerIndex: -1},
	}, inv.BuildInfo)

	annotated := mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.base.name":   "registry.redhat.io/openshift4/ose-console-rhel9:v4.16",
		"org.opencontainers.image.base.digest": digest,
	}).(v1.Image)
	inv, err = scanner(t).Scan(t.Context(), annotated)
	require.NoError(t, err)
	require.NotNil(t, inv.Base)
	assert.Equal(t, rpmscan.BaseImage{Name: "registry.redhat.io/openshift4/ose-console-rhel9:v4.16", Digest: digest, Source: "annotation"}, *inv.Base, "annotations win over labels")

	plain, err := testutil.Image(testutil.Config{}, layer)
	require.NoError(t, err)
	inv, err = scanner(t).Scan(t.Context(), plain)
	require.NoError(t, err)
	assert.Nil(t, inv.Base)
}
