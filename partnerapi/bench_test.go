package partnerapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
)

func BenchmarkDecodeImagePage(b *testing.B) {
	raw, err := os.ReadFile("testdata/images-page.json")
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var p partnerapi.Page[partnerapi.Image]
		if err := json.Unmarshal(raw, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		f := partnerapi.And(
			partnerapi.Eq("repositories.tags.name", "1.0 beta"),
			partnerapi.In("architecture", "amd64", "arm64", "s390x", "ppc64le"),
			partnerapi.Ne("certified", "false"),
		)
		if f.String() == "" {
			b.Fatal("empty filter")
		}
	}
}

// BenchmarkProjectImages lists 500 images in pages of 100 from the fake
// over loopback HTTP.
func BenchmarkProjectImages(b *testing.B) {
	srv := partnerapitest.Start(b)
	p, err := srv.AddProject(partnerapi.Project{Name: "bench"})
	require.NoError(b, err)
	for i := range 500 {
		_, err := srv.AddImage(partnerapi.Image{CertProject: p.ID, Architecture: "amd64",
			DockerImageDigest: fmt.Sprintf("sha256:%064d", i),
			ContentSets:       []string{"rhel-9-for-x86_64-baseos-rpms", "rhel-9-for-x86_64-appstream-rpms"},
			Repositories: []partnerapi.ImageRepository{{Registry: "registry.connect.redhat.com", Repository: "acme/widget",
				Published: true, Tags: []partnerapi.Tag{{Name: fmt.Sprint("1.", i)}}}}})
		require.NoError(b, err)
	}
	c := srv.Client(b)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range c.ProjectImages(b.Context(), p.ID, &partnerapi.ListOptions{PageSize: 100}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 500 {
			b.Fatalf("got %d images", n)
		}
	}
}
