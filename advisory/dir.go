package advisory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNotRegular is matched (errors.Is) by the error for a *.json entry of a
// directory source that is not a regular file (a FIFO, a device, a socket,
// or a link to one). Such entries are skipped without being opened for
// reading, so a FIFO cannot hang a Fetch.
var ErrNotRegular = errors.New("advisory: not a regular file")

// Dir is a Source reading every *.json document (CSAF advisories, CSAF
// VEX, OSV records) under a local directory, or a single file: what tests,
// air-gapped installations and demos use. Every Fetch re-reads everything
// and replaces the directory's earlier content; documents that do not
// parse are reported in Batch.Skipped.
//
// Only regular files (or symbolic links to regular files) are read, each
// up to the limit WithMaxDocumentSize sets, as for a feed; others are
// reported in Batch.Skipped with ErrNotRegular or ErrTooLarge. Fetch stops
// when its context is cancelled.
type Dir struct {
	path string
	cfg  *config
}

var _ Source = (*Dir)(nil)

// NewDir returns a Source for a directory or a single file.
func NewDir(path string, opts ...Option) *Dir {
	return &Dir{path: path, cfg: newConfig(opts)}
}

// Name returns "dir:" and the path.
func (d *Dir) Name() string { return "dir:" + d.path }

// Fetch reads every document.
func (d *Dir) Fetch(ctx context.Context, cur Cursor) (*Batch, error) {
	var files []string
	err := filepath.WalkDir(d.path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	b := &Batch{Replace: []string{d.Name()}, Cursor: cur}
	for _, f := range files {
		data, err := readDocFile(ctx, f, d.cfg.maxBody)
		if err != nil && (errors.Is(err, ErrNotRegular) || errors.Is(err, ErrTooLarge)) {
			d.skip(ctx, b, f, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		doc, err := Parse(data, WithMaxProducts(d.cfg.products()))
		if err != nil {
			d.skip(ctx, b, f, err)
			continue
		}
		batchAdd(b, d.Name(), doc)
	}
	return b, nil
}

func (d *Dir) skip(ctx context.Context, b *Batch, f string, err error) {
	d.cfg.logger.WarnContext(ctx, "skipping document", "source", d.Name(), "doc", f, "error", err)
	b.Skipped = append(b.Skipped, &DocError{Source: d.Name(), Doc: f, Err: err})
}

// readDocFile reads the regular file at p, at most limit bytes, under ctx.
func readDocFile(ctx context.Context, p string, limit int64) ([]byte, error) {
	fi, err := os.Stat(p) // follows links: a link to a regular file is read
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrNotRegular, fi.Mode().Type())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w (%d bytes, over %d)", ErrTooLarge, fi.Size(), limit)
	}
	// Non-blocking, so that a file swapped for a FIFO since the Stat does
	// not block the open; the Stat of the open file decides.
	f, err := os.OpenFile(p, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrNotRegular, fi.Mode().Type())
	}
	// Sized from the Stat, so a document takes its size in memory, not
	// the double a growing buffer may take.
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(ctxReader{ctx, f}, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// ctxReader stops a read as soon as ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
