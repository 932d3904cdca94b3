package rpmscan

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// What a scan reports is tied to the image digest by a chain it checks:
// the manifest names the config by digest (checked by verifyConfig), the
// config lists each layer's diff_id, and every layer read is hashed as it
// streams and compared with its diff_id at its end (digestReader). A
// registry client also checks the compressed digest of each blob as it is
// drained, which the walk does.

// verifyConfig checks the config against the digest the manifest gives it.
func verifyConfig(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("rpmscan: image manifest: %w", err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("rpmscan: image config: %w", err)
	}
	if m.Config.Digest.Algorithm != "sha256" {
		return nil // nothing else is in use; go-containerregistry rejects others
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != m.Config.Digest.Hex {
		return fmt.Errorf("%w: config is sha256:%s, the manifest says %s", ErrDigestMismatch, got, m.Config.Digest)
	}
	return nil
}

// digestReader hashes what is read through it. The hashing runs on a
// goroutine of its own, chunk by chunk, while the caller decompresses and
// walks the next chunk, so checking a layer costs little wall time on a
// machine with a spare core. close (or check) ends the goroutine.
type digestReader struct {
	r    io.Reader
	cur  []byte // unread part of the current chunk
	err  error  // the source's error, returned once cur is read
	free chan []byte
	full chan []byte
	done chan struct{}
	h    hash.Hash
	pos  int64 // bytes delivered (read or skipped)
	shut bool
}

const (
	hashChunk  = 128 << 10
	hashChunks = 3
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, hashChunk); return &b }}

func newDigestReader(r io.Reader) *digestReader {
	d := &digestReader{
		r: r, h: sha256.New(),
		free: make(chan []byte, hashChunks), full: make(chan []byte, hashChunks), done: make(chan struct{}),
	}
	for range hashChunks {
		d.free <- *chunkPool.Get().(*[]byte)
	}
	go func() {
		defer close(d.done)
		for b := range d.full {
			d.h.Write(b)
			d.free <- b[:cap(b)]
		}
	}()
	return d
}

func (d *digestReader) Read(p []byte) (int, error) {
	if len(d.cur) == 0 {
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.cur)
	d.cur = d.cur[n:]
	d.pos += int64(n)
	return n, nil
}

// fill reads the next chunk; it returns the source's error once the
// chunks before it are read.
func (d *digestReader) fill() error {
	if d.err != nil || d.shut {
		return cmp.Or(d.err, io.ErrClosedPipe)
	}
	// The chunk is ours again: the goroutine is done hashing it, and
	// the caller has read all of it.
	b := <-d.free
	n, err := io.ReadFull(d.r, b)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	d.err = err
	if n == 0 {
		d.free <- b
		return d.err
	}
	d.cur = b[:n]
	d.full <- d.cur
	return nil
}

// Seek skips forward from the current position (whence io.SeekCurrent,
// offset >= 0) and returns the new position; nothing else is supported.
// archive/tar skips the contents of entries the walk does not read with
// it, so those bytes are hashed without being copied. At the end of the
// stream it stops short without an error, and the next Read reports the
// end, which archive/tar turns into io.ErrUnexpectedEOF.
func (d *digestReader) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || offset < 0 {
		return d.pos, errSeek
	}
	for offset > 0 {
		if len(d.cur) == 0 {
			if err := d.fill(); err == io.EOF {
				break
			} else if err != nil {
				return d.pos, err
			}
		}
		n := min(offset, int64(len(d.cur)))
		d.cur = d.cur[n:]
		d.pos += n
		offset -= n
	}
	return d.pos, nil
}

var errSeek = errors.New("rpmscan: layer stream seeks only forward")

// close ends the hashing goroutine; it is safe to call more than once.
func (d *digestReader) close() {
	if d.shut {
		return
	}
	d.shut = true
	close(d.full)
	<-d.done
	for range hashChunks {
		b := <-d.free
		chunkPool.Put(&b)
	}
}

// check compares the hash of everything read with want.
func (d *digestReader) check(want v1.Hash) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("%w: unsupported diff_id algorithm %q", ErrDigestMismatch, want.Algorithm)
	}
	d.close()
	got := d.h.Sum(nil)
	wantSum, err := hex.DecodeString(want.Hex)
	if err != nil || !bytes.Equal(got, wantSum) {
		return fmt.Errorf("%w: content is sha256:%x, diff_id is %s", ErrDigestMismatch, got, want)
	}
	return nil
}

// tempError is a failure to write the private temporary directory: the
// machine's fault, not the image's.
type tempError struct{ err error }

func (e *tempError) Error() string { return e.err.Error() }
func (e *tempError) Unwrap() error { return e.err }

// tempErr wraps a temporary-directory failure, as ErrDiskFull when the
// file system is full.
func tempErr(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &tempError{fmt.Errorf("%w: %s: %w", ErrDiskFull, what, err)}
	}
	return &tempError{fmt.Errorf("rpmscan: %s: %w", what, err)}
}

func isTempErr(err error) bool {
	var te *tempError
	return errors.As(err, &te)
}

// diskFull tells a failure of the file system under the temporary copy
// from a damaged database: sqlite reports its own I/O failures (creating
// the -shm file of a WAL database, say) as "disk I/O error" or "database
// or disk is full", which the database's content cannot cause on its own.
// When err is one of those and the temporary directory cannot take 64 KiB
// more, diskFull returns the error to report instead; otherwise nil.
func diskFull(tmp string, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "disk I/O error") && !strings.Contains(msg, "database or disk is full") {
		return nil
	}
	f, ferr := os.CreateTemp(tmp, "probe-")
	if ferr != nil {
		return tempErr("reading the rpmdb copy", ferr)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(make([]byte, 64<<10))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		return nil
	}
	return tempErr("reading the rpmdb copy", fmt.Errorf("%w (sqlite: %v)", werr, err))
}
