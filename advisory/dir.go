package advisory

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is a Source reading every *.json document (CSAF advisories, CSAF
// VEX, OSV records) under a local directory, or a single file: what tests,
// air-gapped installations and demos use. Every Fetch re-reads everything
// and replaces the directory's earlier content; documents that do not
// parse are reported in Batch.Skipped.
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
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := Parse(data)
		if err != nil {
			d.cfg.logger.WarnContext(ctx, "skipping document", "source", d.Name(), "doc", f, "error", err)
			b.Skipped = append(b.Skipped, &DocError{Source: d.Name(), Doc: f, Err: err})
			continue
		}
		batchAdd(b, d.Name(), doc)
	}
	return b, nil
}
