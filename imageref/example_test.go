package imageref_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/openabs/abs/imageref"
)

// Open an image from an OCI layout by its tag. Registry references and
// docker-archive:FILE work the same way.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "layout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	img, err := random.Image(256, 1)
	if err != nil {
		log.Fatal(err)
	}
	p, err := layout.Write(filepath.Join(dir, "ubi9"), empty.Index)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "9.3"})); err != nil {
		log.Fatal(err)
	}

	got, err := imageref.Open(context.Background(), "oci:"+filepath.Join(dir, "ubi9")+":9.3")
	if err != nil {
		log.Fatal(err)
	}
	want, _ := img.Digest()
	have, _ := got.Digest()
	fmt.Println(want == have)
	// Output: true
}
