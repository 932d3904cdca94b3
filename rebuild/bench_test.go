package rebuild_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openabs/abs/rebuild"
)

// realistic multi-stage Containerfile of the size partners write.
var benchContainerfile = []byte(`# syntax=docker/dockerfile:1
ARG REGISTRY=registry.access.redhat.com
ARG GO_IMAGE=${REGISTRY}/ubi9/go-toolset:1.22
ARG BASE=${REGISTRY}/ubi9/ubi-minimal:9.4
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app \
    && strip /out/app
FROM ${BASE}
LABEL name="acme/app" vendor="ACME" version="2.1" release="7" \
      summary="ACME app" description="ACME app"
RUN microdnf -y update && microdnf clean all
COPY --from=build /out/app /usr/bin/app
COPY licenses/ /licenses/
USER 1001
ENTRYPOINT ["/usr/bin/app"]
`)

func BenchmarkParseContainerfile(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchContainerfile)))
	for b.Loop() {
		if _, err := rebuild.ParseContainerfile(benchContainerfile, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewPlan plans 1000 images: 10 bases, 90 intermediate images on
// them and 900 leaves on those.
func BenchmarkNewPlan(b *testing.B) {
	var targets []*rebuild.Target
	for i := range 1000 {
		t := &rebuild.Target{Name: fmt.Sprint(i), Ref: fmt.Sprintf("quay.example/acme/img%d:1", i)}
		switch {
		case i < 10:
			t.Bases = []string{"registry.access.redhat.com/ubi9/ubi:latest"}
		case i < 100:
			t.Bases = []string{fmt.Sprintf("quay.example/acme/img%d:1", i%10)}
		default:
			t.Bases = []string{fmt.Sprintf("quay.example/acme/img%d:1", 10+i%90), "docker.io/library/golang:1.26"}
		}
		targets = append(targets, t)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := rebuild.NewPlan(targets)
		if err != nil || len(p.Batches) != 3 {
			b.Fatal(err)
		}
	}
}

func BenchmarkNextRelease(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = rebuild.NextRelease("3.2.el9_4")
	}
}

func BenchmarkPin(b *testing.B) {
	pins := map[string]string{rebuild.Repository("registry.access.redhat.com/ubi9/ubi-minimal:9.4"): "registry.access.redhat.com/ubi9/ubi-minimal@sha256:" + strings.Repeat("a", 64)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rebuild.Pin(benchContainerfile, nil, pins); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebase rebases a 3-layer app onto a moved 2-layer base held in
// an in-process registry (resolve, fetch manifests and configs, check the
// prefix, stitch; layers are not downloaded).
func BenchmarkRebase(b *testing.B) {
	f := newRebaseFixture(b)
	f.moveBase(b)
	r := &rebuild.Rebase{}
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Build(b.Context(), &rebuild.Request{Ref: f.reg + "/app:1"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := res.Image.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}
