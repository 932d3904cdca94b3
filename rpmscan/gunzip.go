package rpmscan

import (
	"errors"

	"github.com/klauspost/compress/gzip"
)

// The errors a gzip layer's decompressor returns, whichever one the build
// uses (see Inflater).
var (
	gzipErrHeader   = gzip.ErrHeader
	gzipErrChecksum = gzip.ErrChecksum
	gzipErrCorrupt  = errors.New("gzip: corrupt deflate data")
)
