//go:build !isal || !cgo

package rpmscan

import (
	"io"

	"github.com/klauspost/compress/gzip"
)

// Inflater names the gzip decompressor of this build: "klauspost/compress"
// (the default), or "isa-l", Intel ISA-L's igzip, about 2.5 times faster,
// when built with -tags isal (cgo and the libisal-dev package needed).
func Inflater() string { return "klauspost/compress" }

func newGzipReader(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }
