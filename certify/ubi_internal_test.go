package certify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/partnerapi"
)

// TestCatalogRecordMatch reads a real catalog record (ubi8/nginx-120 from
// the Pyxis API) and matches its layers against images built on it.
func TestCatalogRecordMatch(t *testing.T) {
	dir := os.Getenv("ABS_REALDATA")
	if dir == "" {
		t.Skip("ABS_REALDATA not set")
	}
	b, err := os.ReadFile(filepath.Join(dir, "pyxis", "containerImage.ubi8-nginx-120-1-7.repository-images-page.json"))
	if os.IsNotExist(err) {
		t.Skip("pyxis payload not in ABS_REALDATA")
	}
	require.NoError(t, err)
	var page struct {
		Data []partnerapi.Image `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &page))
	require.NotEmpty(t, page.Data)
	rec := page.Data[0]
	require.True(t, isRedHatImage(rec))
	base := rec.ParsedData.Layers
	require.NotEmpty(t, base)

	app := append(slices.Clone(base), "sha256:"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	n, ok := baseLayersMatch(rec, app, nil)
	assert.True(t, ok)
	assert.Equal(t, len(base), n)

	swapped := slices.Clone(app)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	_, ok = baseLayersMatch(rec, swapped, nil)
	assert.False(t, ok, "layers out of order")
	_, ok = baseLayersMatch(rec, base[:1], nil)
	assert.False(t, ok, "fewer layers than the base")

	// Without a layer list the top layer decides, compressed or not.
	top := partnerapi.Image{TopLayerID: rec.TopLayerID}
	_, ok = baseLayersMatch(top, app, nil)
	assert.True(t, ok)
	top.TopLayerID = "sha256:ec1a38375a3346f8d00b725aaab417725bad949ee387422689c69d72ef5d940e"
	_, ok = baseLayersMatch(top, []string{"sha256:other"}, []string{top.TopLayerID})
	assert.True(t, ok)

	partner := rec
	partner.Repositories = []partnerapi.ImageRepository{{Registry: "quay.io", Repository: "acme/nginx"}}
	partner.ParsedData = &partnerapi.ParsedData{Labels: []partnerapi.Label{{Name: "vendor", Value: "Acme"}}}
	assert.False(t, isRedHatImage(partner))
}
