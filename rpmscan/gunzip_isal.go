//go:build isal && cgo

package rpmscan

/*
#cgo pkg-config: libisal
#include <stdlib.h>
#include <string.h>
#include <isa-l/igzip_lib.h>

typedef struct {
	int ret;
	int finished;
	long consumed;
	unsigned int produced;
} abs_inflate_result;

static struct inflate_state *abs_inflate_new(void) {
	struct inflate_state *s = malloc(sizeof(struct inflate_state));
	if (s == NULL) {
		return NULL;
	}
	isal_inflate_init(s);
	s->crc_flag = ISAL_GZIP;
	return s;
}

static void abs_inflate_reset(struct inflate_state *s) {
	isal_inflate_reset(s);
	s->crc_flag = ISAL_GZIP;
}

// abs_inflate runs one step of the inflater over in and out. The pointers
// into the caller's buffers are cleared before it returns, so the state
// never keeps them. When a member ends, whole bytes still in the bit
// buffer belong to the next member and are handed back, so consumed may be
// less than what isal_inflate took, or negative (ISA-L 2.30 hands them back
// itself; this keeps a multi-member stream right if a version does not).
static abs_inflate_result abs_inflate(struct inflate_state *s, unsigned char *in, unsigned int inlen, unsigned char *out, unsigned int outlen) {
	abs_inflate_result r;
	s->next_in = in;
	s->avail_in = inlen;
	s->next_out = out;
	s->avail_out = outlen;
	r.ret = isal_inflate(s);
	r.consumed = (long)inlen - (long)s->avail_in;
	r.produced = outlen - s->avail_out;
	r.finished = s->block_state == ISAL_BLOCK_FINISH;
	if (r.finished && s->read_in_length >= 8) {
		r.consumed -= s->read_in_length / 8;
		s->read_in = 0;
		s->read_in_length = 0;
	}
	s->next_in = NULL;
	s->avail_in = 0;
	s->next_out = NULL;
	s->avail_out = 0;
	return r;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"

	"github.com/klauspost/compress/gzip"
)

// errCorruptDeflate is the error of deflate data ISA-L cannot decode.
var errCorruptDeflate = errors.New("gzip: corrupt deflate data")

// Inflater names the gzip decompressor of this build: Intel ISA-L's igzip
// (built with -tags isal) or klauspost/compress (the default).
func Inflater() string { return "isa-l" }

// isalInput is the input buffer of one reader. isalKeep bytes of the
// previous fill stay in front of the new one, so that the bytes an ended
// member hands back are still there.
const (
	isalInput = 256 << 10
	isalKeep  = 16
)

// isalReader decompresses a gzip stream, member after member, with ISA-L.
// Its errors are those of compress/gzip where one applies (gzip.ErrHeader,
// gzip.ErrChecksum, io.ErrUnexpectedEOF) and otherwise say what ISA-L found.
type isalReader struct {
	src    io.Reader
	state  *C.struct_inflate_state
	buf    []byte
	lo, hi int // unread input is buf[lo:hi]
	srcEOF bool
	ended  bool // the current member is complete
	stalls int  // steps in a row that neither took input nor gave output
	err    error
}

func newGzipReader(r io.Reader) (io.ReadCloser, error) {
	z := &isalReader{src: r, buf: make([]byte, isalKeep+isalInput)}
	z.lo, z.hi = isalKeep, isalKeep
	if err := z.header(); err != nil {
		return nil, err
	}
	z.state = C.abs_inflate_new()
	if z.state == nil {
		return nil, errors.New("isa-l: cannot allocate inflate state")
	}
	runtime.SetFinalizer(z, (*isalReader).free)
	return z, nil
}

// fill reads more input when none is left. It keeps the last isalKeep
// bytes read in front of the new ones.
func (z *isalReader) fill() error {
	if z.lo < z.hi || z.srcEOF {
		return nil
	}
	copy(z.buf[:isalKeep], z.buf[z.hi-isalKeep:z.hi])
	n, err := io.ReadAtLeast(z.src, z.buf[isalKeep:], 1)
	z.lo, z.hi = isalKeep, isalKeep+n
	switch {
	case errors.Is(err, io.EOF):
		z.srcEOF = true
		return nil
	case err != nil:
		return err
	}
	return nil
}

// header checks that a gzip member starts at the input, as compress/gzip
// does before it reads one: io.EOF when the input ends first (at the start
// of the stream), gzip.ErrHeader when the bytes are not a gzip header.
func (z *isalReader) header() error {
	for z.hi-z.lo < 3 && !z.srcEOF {
		// Short reads: move what is left to the front and read on.
		n := copy(z.buf[isalKeep:], z.buf[z.lo:z.hi])
		z.lo, z.hi = isalKeep, isalKeep+n
		m, err := z.src.Read(z.buf[z.hi:])
		z.hi += m
		if errors.Is(err, io.EOF) {
			z.srcEOF = true
		} else if err != nil {
			return err
		}
	}
	switch {
	case z.hi == z.lo:
		return io.EOF
	case z.hi-z.lo < 3:
		return io.ErrUnexpectedEOF
	case z.buf[z.lo] != 0x1f || z.buf[z.lo+1] != 0x8b || z.buf[z.lo+2] != 8:
		return gzip.ErrHeader
	}
	return nil
}

func (z *isalReader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if z.state == nil {
		return 0, errors.New("isa-l: read after close")
	}
	for len(p) > 0 {
		if z.ended {
			switch err := z.header(); {
			case errors.Is(err, io.EOF):
				z.err = io.EOF
				return 0, io.EOF
			case err != nil:
				z.err = err
				return 0, err
			}
			C.abs_inflate_reset(z.state)
			z.ended = false
		}
		if err := z.fill(); err != nil {
			z.err = err
			return 0, err
		}
		in := z.buf[z.lo:z.hi]
		out := p
		if len(out) > 1<<30 {
			out = out[:1<<30]
		}
		var inPtr *C.uchar
		if len(in) > 0 {
			inPtr = (*C.uchar)(unsafe.Pointer(&in[0]))
		}
		r := C.abs_inflate(z.state, inPtr, C.uint(len(in)), (*C.uchar)(unsafe.Pointer(&out[0])), C.uint(len(out)))
		// z must outlive the call: its finalizer frees the state.
		runtime.KeepAlive(z)
		z.lo += int(r.consumed)
		if z.lo < 0 {
			z.err = errors.New("isa-l: handed back more input than kept")
			return 0, z.err
		}
		if r.ret < 0 {
			z.err = isalError(int(r.ret))
			return 0, z.err
		}
		z.ended = r.finished != 0
		n := int(r.produced)
		if n > 0 {
			z.stalls = 0
			return n, nil
		}
		if r.consumed <= 0 && !z.ended {
			if z.stalls++; z.stalls > 3 {
				z.err = fmt.Errorf("%w: isa-l made no progress", errCorruptDeflate)
				return 0, z.err
			}
		} else {
			z.stalls = 0
		}
		if !z.ended && z.lo == z.hi && z.srcEOF {
			z.err = io.ErrUnexpectedEOF
			return 0, z.err
		}
	}
	return 0, nil
}

// Close frees the inflater's state. It does not close the source.
func (z *isalReader) Close() error {
	z.free()
	runtime.SetFinalizer(z, nil)
	return nil
}

func (z *isalReader) free() {
	if z.state != nil {
		C.free(unsafe.Pointer(z.state))
		z.state = nil
	}
}

func isalError(ret int) error {
	switch ret {
	case C.ISAL_INVALID_BLOCK:
		return fmt.Errorf("%w: invalid deflate block", errCorruptDeflate)
	case C.ISAL_INVALID_SYMBOL:
		return fmt.Errorf("%w: invalid deflate symbol", errCorruptDeflate)
	case C.ISAL_INVALID_LOOKBACK:
		return fmt.Errorf("%w: distance too far back", errCorruptDeflate)
	case C.ISAL_INVALID_WRAPPER, C.ISAL_UNSUPPORTED_METHOD:
		return gzip.ErrHeader
	case C.ISAL_INCORRECT_CHECKSUM:
		return gzip.ErrChecksum
	case C.ISAL_NEED_DICT:
		return fmt.Errorf("%w: stream needs a dictionary", errCorruptDeflate)
	}
	return fmt.Errorf("%w: isa-l error %d", errCorruptDeflate, ret)
}
