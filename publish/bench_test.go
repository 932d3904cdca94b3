package publish_test

import (
	"strconv"
	"testing"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/publish"
)

// BenchmarkPublishUnchanged measures the idempotent path the orchestrator
// takes when it retries a publish: every tag already in place.
func BenchmarkPublishUnchanged(b *testing.B) {
	reg := regtest.InProcess(b)
	p := newPublisher(b, reg, nil)
	img := testImage(b, 1)
	req := publish.Request{Repository: reg.Repo("a/b"), Image: img, VersionTag: "1-1", FloatingTags: []string{"latest", "1"}}
	if _, err := p.Publish(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Publish(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishIndex pushes a fresh 3-platform index with two tags.
func BenchmarkPublishIndex(b *testing.B) {
	reg := regtest.InProcess(b)
	p := newPublisher(b, reg, nil)
	idx := testIndex(b, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := publish.Request{Repository: reg.Repo("a/b"), Index: idx, VersionTag: "1-" + strconv.Itoa(i), FloatingTags: []string{"latest"}}
		if _, err := p.Publish(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
