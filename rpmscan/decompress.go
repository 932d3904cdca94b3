package rpmscan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// A layer whose stored form is its uncompressed tar (the layers of a
// `docker save` archive, say) may report it with a method
//
//	StoredUncompressed() bool
//
// returning true. The scan then reads Uncompressed; otherwise it reads
// Compressed and decompresses the stream itself, which is faster than the
// decompression go-containerregistry applies in Uncompressed. (For a layer
// built by partial.UncompressedToLayer that does not say so, Compressed
// compresses on the fly: the result is the same, the cost is higher.)
type storedUncompressed interface{ StoredUncompressed() bool }

// zstdMaxWindow bounds the window a zstd layer may ask for; `zstd --long`
// uses 128 MiB, ordinary levels at most 8 MiB.
const zstdMaxWindow = 128 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// uncompressed returns the uncompressed tar stream of l. The end of abort
// closes the stored stream under the decompressor, which unblocks a read
// waiting on it (a stalled registry download).
func uncompressed(abort context.Context, l v1.Layer) (io.ReadCloser, error) {
	if s, ok := l.(storedUncompressed); ok && s.StoredUncompressed() {
		return l.Uncompressed()
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	switch mt {
	case types.DockerUncompressedLayer, types.OCIUncompressedLayer, types.OCIUncompressedRestrictedLayer:
		return l.Uncompressed()
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	raw := rc
	rc = &abortable{ReadCloser: raw, stop: context.AfterFunc(abort, func() { raw.Close() })}
	br := bufio.NewReaderSize(rc, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		rc.Close()
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := newGzipReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%w: gzip: %w", ErrCorruptLayer, err)
		}
		return &stream{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%w: zstd: %w", ErrCorruptLayer, err)
		}
		return &stream{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	}
	// Often the "compressed" bytes are not compressed at all.
	return &stream{Reader: br, close: rc.Close}, nil
}

type abortable struct {
	io.ReadCloser
	stop func() bool
}

func (a *abortable) Close() error {
	a.stop()
	return a.ReadCloser.Close()
}

type stream struct {
	io.Reader
	close func() error
}

func (s *stream) Close() error { return s.close() }
