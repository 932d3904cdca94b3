package rebuild_test

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/openabs/abs/rebuild"
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
	token := rebuild.NewSecret("ghp_example")
	fmt.Println(token)
	fmt.Printf("%v %s %q\n", token, token, token)
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] [REDACTED]
}
