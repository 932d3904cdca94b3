package rebuild_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

func ExampleStamp() {
	s := rebuild.Stamp{
		Release:    rebuild.NextRelease("1.el9"),
		Reason:     rebuild.Reason{Text: "security fixes", Advisories: []string{"RHSA-2026:0101", "RHSA-2026:0102"}},
		Method:     "buildah",
		BaseName:   "registry.access.redhat.com/ubi9/ubi:latest",
		BaseDigest: "sha256:0123",
		Commit:     "4f2a9c1",
		Time:       time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
	}
	labels := s.Labels()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Printf("%s=%s\n", k, labels[k])
	}
	// Output:
	// io.openabs.rebuild.advisories=RHSA-2026:0101,RHSA-2026:0102
	// io.openabs.rebuild.method=buildah
	// io.openabs.rebuild.reason=security fixes: RHSA-2026:0101, RHSA-2026:0102
	// io.openabs.rebuild.time=2026-11-27T12:00:00Z
	// org.opencontainers.image.base.digest=sha256:0123
	// org.opencontainers.image.base.name=registry.access.redhat.com/ubi9/ubi:latest
	// org.opencontainers.image.revision=4f2a9c1
	// release=2.el9
}

func ExamplePin() {
	containerfile := []byte("FROM quay.example/acme/runtime:9 AS run\nCOPY app /app\n")
	pinned, _, err := rebuild.Pin(containerfile, nil, map[string]string{
		rebuild.Repository("quay.example/acme/runtime"): "quay.example/acme/runtime@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(pinned))
	// Output:
	// FROM quay.example/acme/runtime@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 AS run
	// COPY app /app
}

func ExampleSecret() {
	token := secret.New("ghp_example")
	fmt.Println(token)
	fmt.Printf("%v %s %q\n", token, token, token)
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] [REDACTED]
}

// ExampleCheckPullable shows the problem containers/image clients report
// on an image whose Docker manifest lists an OCI layer and whose config
// has no creation time.
func ExampleCheckPullable() {
	l, _ := crane.Layer(map[string][]byte{"etc/os-release": []byte("ID=rhel\n")})
	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	img, _ = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer, History: v1.History{CreatedBy: "COPY os-release"}})
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, _ = mutate.ConfigFile(img, cf)

	var fe *rebuild.FormatError
	if err := rebuild.CheckPullable(img); errors.As(err, &fe) {
		for _, p := range fe.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// layer 0 media type "application/vnd.oci.image.layer.v1.tar+gzip" is not a Docker schema 2 layer type
	// config has no creation time (created is 0001-01-01T00:00:00Z)
}

// ExampleCleanScratch removes what builds killed with their orchestrator
// left behind, before the first build of a new start.
func ExampleCleanScratch() {
	dir, _ := os.MkdirTemp("", "scratch-example-")
	defer os.RemoveAll(dir)
	stale := filepath.Join(dir, rebuild.ScratchPrefix+"app-1")
	_ = os.MkdirAll(filepath.Join(stale, "build"), 0o755)
	old := time.Now().Add(-2 * time.Hour)
	_ = os.Chtimes(stale, old, old)
	_ = os.Mkdir(filepath.Join(dir, rebuild.ScratchPrefix+"app-2"), 0o755) // a build running now

	removed, killed, err := rebuild.CleanScratch(dir, time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range removed {
		fmt.Println("removed", filepath.Base(p))
	}
	fmt.Println("killed", len(killed))
	// Output:
	// removed rebuild-app-1
	// killed 0
}

// ExampleSamePlatform matches the platforms of a multi-platform image the
// way Run does when it picks a base image for each platform.
func ExampleSamePlatform() {
	arm64, _ := rebuild.ParsePlatform("linux/arm64")
	v8, _ := rebuild.ParsePlatform("linux/arm64/v8")
	s390x, _ := rebuild.ParsePlatform("linux/s390x")
	fmt.Println(rebuild.SamePlatform(arm64, v8), rebuild.SamePlatform(arm64, s390x))
	fmt.Println(rebuild.PlatformString(v8))
	// Output:
	// true false
	// linux/arm64/v8
}
