package api_test

import (
	"net/http"
	"testing"
)

// BenchmarkImageStatus is GET /api/v1/images/{name} over a real listener
// on SQLite: token check, the image's stored state, one match against the
// cached advisory index, the freshness timeline and the last rebuild.
func BenchmarkImageStatus(b *testing.B) {
	e := newEnv(b, onSQLite)
	b.ReportAllocs()
	for b.Loop() {
		if a := e.do("GET", img(app), tokViewer, nil); a.Status != http.StatusOK {
			b.Fatal(a.Status)
		}
	}
}

// BenchmarkMetrics is one Prometheus scrape of GET /metrics: the
// aggregate queries of Stats and the text encoding.
func BenchmarkMetrics(b *testing.B) {
	e := newEnv(b, onSQLite)
	b.ReportAllocs()
	for b.Loop() {
		if a := e.do("GET", "/metrics", tokViewer, nil); a.Status != http.StatusOK {
			b.Fatal(a.Status)
		}
	}
}

// BenchmarkAuthenticate is one token check against a set of 100 tokens
// (every stored hash compared in constant time).
func BenchmarkAuthenticate(b *testing.B) {
	ts := manyTokens(b, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ts.Authenticate("token-0099-0123456789abcdef"); !ok {
			b.Fatal("not found")
		}
	}
}
