package certify_test

import (
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/openabs/abs/certify"
)

// benchImage is a 10-layer image on a real UBI 8 rpmdb (183 packages):
// a base layer with the rpmdb, 2,000 files and the build record, then
// nine layers of 300 files each (one of them rewriting a doc file).
func benchImage(b *testing.B) v1.Image {
	b.Helper()
	db := goRPMDB(b, "ubi8-s390x/Packages")
	base := []file{
		{name: "var/lib/rpm/Packages", body: db},
		reg("root/buildinfo/Dockerfile-ubi8-container-8.6-1", ubiDockerfile),
		{name: "usr/bin/bash", mode: 0o755, body: []byte("bash")},
	}
	for i := range 2000 {
		base = append(base, reg(fmt.Sprintf("usr/share/base/%02d/f%d", i%50, i), "content"))
	}
	layers := []v1.Layer{layerOf(b, base...)}
	for l := 1; l < 10; l++ {
		var files []file
		if l == 1 {
			files = append(files, reg("licenses/LICENSE", "MIT"))
		}
		files = append(files, reg("usr/share/doc/bash/FAQ", "faq"))
		for i := range 300 {
			files = append(files, reg(fmt.Sprintf("opt/app/%d/%02d/f%d", l, i%20, i), "app"))
		}
		layers = append(layers, layerOf(b, files...))
	}
	return imageOf(b, func(cf *v1.ConfigFile) { cf.Config.Labels = redHatLabels(); cf.Config.User = "1001" }, layers...)
}

// BenchmarkCertify10Layers runs the full container policy on a 10-layer
// image: one layer walk, one rpmdb scan, and HasModifiedFiles reading the
// rpmdb's file lists through go-rpmdb.
func BenchmarkCertify10Layers(b *testing.B) {
	img := benchImage(b)
	for _, bc := range []struct {
		name string
		skip []string
	}{
		{"all checks", nil},
		{"without HasModifiedFiles", []string{"HasModifiedFiles"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := certify.New(certify.Container)
			if err != nil {
				b.Fatal(err)
			}
			p = p.Without(bc.skip...)
			s := certify.Subject{Repository: "quay.io/acme/widget", Tags: []string{"1.2-3"}}
			b.ReportAllocs()
			for b.Loop() {
				rep, err := p.Certify(b.Context(), img, s)
				if err != nil {
					b.Fatal(err)
				}
				if !rep.Passed() {
					b.Fatalf("%+v", rep.Platforms[0].Results)
				}
			}
		})
	}
}

// BenchmarkReadFS is the layer walk alone on the same image.
func BenchmarkReadFS(b *testing.B) {
	img := benchImage(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := certify.ReadFS(b.Context(), img, certify.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
