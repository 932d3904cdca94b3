package certify_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
	"github.com/openabs/abs/secret"
)

// catalogSetup is a UBI base image and an application image on it, both
// in memory, and a catalog (partnerapitest over loopback, read through
// the real partnerapi client).
type catalogSetup struct {
	base, app v1.Image
	fake      *partnerapitest.Fake
	client    *partnerapi.Client
}

func newCatalogSetup(t *testing.T, withBuildinfo bool) *catalogSetup {
	t.Helper()
	files := []file{reg("usr/bin/bash", "#!bash")}
	if withBuildinfo {
		files = append(files, reg("root/buildinfo/Dockerfile-ubi9-container-9.4-1123", ubiDockerfile))
	}
	baseLayer := layerOf(t, files...)
	base := imageOf(t, nil, baseLayer)
	app := imageOf(t, nil, baseLayer, layerOf(t, reg("licenses/L", "MIT")))
	fake := partnerapitest.New()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	c, err := partnerapi.New(secret.New(fake.APIKey()), partnerapi.WithBaseURL(ts.URL+partnerapitest.BasePath),
		partnerapi.WithRetry(1, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	return &catalogSetup{base: base, app: app, fake: fake, client: c}
}

func (s *catalogSetup) addBase(t *testing.T, registry, repository string, layers []string) string {
	t.Helper()
	d, err := s.base.Digest()
	require.NoError(t, err)
	if layers == nil {
		ls, err := s.base.Layers()
		require.NoError(t, err)
		for _, l := range ls {
			ld, err := l.Digest()
			require.NoError(t, err)
			layers = append(layers, ld.String())
		}
	}
	_, err = s.fake.AddImage(partnerapi.Image{
		DockerImageDigest: d.String(), Architecture: "amd64",
		Repositories: []partnerapi.ImageRepository{{Registry: registry, Repository: repository, Published: true}},
		ParsedData:   &partnerapi.ParsedData{Layers: layers},
	})
	require.NoError(t, err)
	return d.String()
}

func TestBasedOnUbiCatalog(t *testing.T) {
	tests := []struct {
		name      string
		buildinfo bool
		registry  string
		layers    []string
		known     bool // base added to the catalog
		noDigest  bool
		want      certify.Status
		reason    string
	}{
		{"red hat base in the catalog", false, "registry.access.redhat.com", nil, true, false, certify.Passed, "is the Red Hat image registry.access.redhat.com/ubi9/ubi"},
		{"partner base in the catalog", true, "quay.io", nil, true, false, certify.Failed, "is not a Red Hat image"},
		{"red hat base with other layers", true, "registry.redhat.io", []string{"sha256:00"}, true, false, certify.Failed, "layers are not the image's first layers"},
		{"unknown to the catalog, build record decides", true, "", nil, false, false, certify.Passed, "is not in the catalog; built on the Red Hat image ubi9-container"},
		{"unknown to the catalog, no build record", false, "", nil, false, false, certify.Failed, "no Red Hat build record"},
		{"no base digest", true, "registry.access.redhat.com", nil, true, true, certify.Passed, "base digest is not recorded; built on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCatalogSetup(t, tt.buildinfo)
			var digest string
			if tt.known {
				digest = s.addBase(t, tt.registry, "ubi9/ubi", tt.layers)
			} else {
				d, _ := s.base.Digest()
				digest = d.String()
			}
			if tt.noDigest {
				digest = ""
			}
			target, err := certify.NewTarget(s.app, certify.Subject{BaseDigest: digest})
			require.NoError(t, err)
			r := certify.BasedOnUbi{Catalog: s.client}.Validate(t.Context(), target)
			assert.Equal(t, tt.want, r.Status, r.Reason)
			assert.Contains(t, r.Reason, tt.reason)
		})
	}

	t.Run("catalog down", func(t *testing.T) {
		s := newCatalogSetup(t, true)
		digest := s.addBase(t, "registry.access.redhat.com", "ubi9/ubi", nil)
		s.fake.FailNext(5, http.StatusServiceUnavailable, "")
		target, err := certify.NewTarget(s.app, certify.Subject{BaseDigest: digest})
		require.NoError(t, err)
		r := certify.BasedOnUbi{Catalog: s.client}.Validate(t.Context(), target)
		assert.Equal(t, certify.Error, r.Status, r.Reason)
		var pe *partnerapi.Error
		assert.ErrorAs(t, r.Err, &pe)
	})

	t.Run("policy option and annotation", func(t *testing.T) {
		s := newCatalogSetup(t, false)
		digest := s.addBase(t, "registry.access.redhat.com", "ubi9/ubi", nil)
		p, err := certify.New(certify.Container, certify.WithCatalog(s.client))
		require.NoError(t, err)
		img := annotate(t, s.app, map[string]string{"org.opencontainers.image.base.digest": digest})
		rep, err := p.Certify(t.Context(), img, certify.Subject{})
		require.NoError(t, err)
		assert.Equal(t, certify.Passed, statuses(t, rep)["BasedOnUbi"])
	})
}

func annotate(t *testing.T, img v1.Image, anno map[string]string) v1.Image {
	t.Helper()
	out, ok := mutate.Annotations(img, anno).(v1.Image)
	require.True(t, ok)
	return out
}

func TestBasedOnUbiContentManifest(t *testing.T) {
	icm := `{"metadata":{"icm_version":1,"image_layer_index":1},"content_sets":["rhel-8-for-x86_64-baseos-rpms"]}`
	if dir := os.Getenv("ABS_REALDATA"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "content-manifests", "ubi8-minimal-container-8.5-218.json")); err == nil {
			icm = string(b)
		}
	}
	tests := []struct {
		name  string
		files []file
		want  certify.Status
	}{
		{"red hat content manifest", []file{reg("root/buildinfo/content_manifests/ubi8-minimal-container-8.5-218.json", icm)}, certify.Passed},
		{"not a content manifest", []file{reg("root/buildinfo/content_manifests/x.json", `{"content_sets":["a"]}`)}, certify.Failed},
		{"outside content_manifests", []file{reg("root/buildinfo/x.json", icm)}, certify.Failed},
		{"deleted by a later layer", []file{reg("root/buildinfo/content_manifests/a.json", icm), reg("root/.wh.buildinfo", "")}, certify.Failed},
		{"dockerfile of another vendor", []file{reg("root/buildinfo/Dockerfile-acme", "LABEL vendor=Acme com.redhat.component=x")}, certify.Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []v1.Layer
			for _, f := range tt.files {
				layers = append(layers, layerOf(t, f))
			}
			target, err := certify.NewTarget(imageOf(t, nil, layers...), certify.Subject{})
			require.NoError(t, err)
			r := certify.BasedOnUbi{}.Validate(t.Context(), target)
			assert.Equal(t, tt.want, r.Status, r.Reason)
		})
	}
}
