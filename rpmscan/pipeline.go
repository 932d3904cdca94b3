package rpmscan

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The concurrent walk. A layer's entries can only be judged against the
// layers above it (whiteouts, opaque directories, the topmost rpmdb), but
// reading a layer does not need that judgement: a reader can decompress,
// hash and walk a lower layer while the layers above are still being read,
// keeping only what the scan could use (the wanted entries' headers, the
// metadata files' content, a copy of each rpmdb file, the whiteouts that
// matter). The walk then merges these layer records top-down, in tar
// order, with the same rules as the sequential walk, so the result and the
// error are those of the sequential walk. Each record is bounded (beyond
// its bound the layer is read again, sequentially, when its turn comes),
// at most n layers are read or waiting at once, and the walk stops reading
// as soon as the view is settled.

// layerRecord is what a reader kept of one layer.
type layerRecord struct {
	entries []recEntry
	deleted []string
	opaque  []string
	// err ends the record: it is the error the sequential walk would
	// report after the entries, wrapped as it would wrap it.
	err error
	// cancelled: the reader stopped because the walk's context ended.
	cancelled bool
	// overflow: the record outgrew its budget; the layer must be read
	// sequentially.
	overflow bool
	dir      string // the record's rpmdb copies
}

// recEntry is one wanted entry of a layer, in tar order.
type recEntry struct {
	hdrName  string
	name     string
	class    class
	typeflag byte
	linkname string
	size     int64
	data     []byte // metadata content, when read
	file     string // rpmdb copy, when copied
	err      error  // reading the content failed
	// superseded: a later entry of the layer has the same name, so this
	// one's copy is never used (the later one replaces it or fails).
	superseded bool
}

// recordBudget is the least memory one layer record may take.
const recordBudget = 1 << 20

// readLayer reads layer idx into a record. It touches nothing of the
// walker but its immutable limits and temporary directory. Once
// rpmdbDone is set, no lower layer's rpmdb entry can show, so none is
// kept.
func readLayer(ctx context.Context, tmp string, lim limits, budget int64, idx int, l v1.Layer, rpmdbDone *atomic.Bool) *layerRecord {
	rec := &layerRecord{dir: filepath.Join(tmp, "layer-"+strconv.Itoa(idx))}
	fail := func(err error) *layerRecord {
		if ctx.Err() != nil {
			rec.cancelled = true
		}
		rec.err = err
		return rec
	}
	diffID, err := l.DiffID()
	if err != nil {
		return fail(layerErr(idx, l, "", fmt.Errorf("diff_id: %w", err)))
	}
	rc, err := uncompressed(ctx, l) // a reader the walk no longer needs must not hold it up
	if err != nil {
		return fail(layerErr(idx, l, "", fmt.Errorf("open: %w", err)))
	}
	defer rc.Close()
	dr := newDigestReader(ctxReader{ctx, rc})
	defer dr.close()
	tr := tar.NewReader(dr)

	var used int64
	seen := map[string]bool{}
	last := map[string]int{}
	mark := func(opaque bool, p string) {
		key := "d" + p
		if opaque {
			key = "o" + p
		}
		if seen[key] {
			return
		}
		seen[key] = true
		used += int64(len(key)) + 64
		if opaque {
			rec.opaque = append(rec.opaque, p)
		} else {
			rec.deleted = append(rec.deleted, p)
		}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(layerErr(idx, l, "", fmt.Errorf("%w: %w", ErrCorruptLayer, err)))
		}
		name, c, err := screen(hdr, mark)
		if err != nil {
			return fail(layerErr(idx, l, hdr.Name, err))
		}
		if c == classNone {
			if used > budget {
				rec.overflow = true
				return rec
			}
			continue
		}
		isDB := c == classRPMDB || c == classRPMDBAux
		if isDB && rpmdbDone.Load() {
			continue
		}
		e := recEntry{hdrName: hdr.Name, name: name, class: c, typeflag: hdr.Typeflag, linkname: hdr.Linkname, size: hdr.Size}
		if i, ok := last[name]; ok {
			rec.entries[i].superseded = true
		}
		switch {
		case isDB && hdr.Typeflag == tar.TypeReg && hdr.Size <= lim.file:
			e.file = filepath.Join(rec.dir, strconv.Itoa(rpmdbIndex[name]), path.Base(name))
			if err := os.MkdirAll(filepath.Dir(e.file), 0o700); err != nil {
				e.err = tempErr("temp dir", err)
			} else {
				e.err = copyFile(e.file, tr, hdr.Size)
			}
		case !isDB && hdr.Typeflag == tar.TypeReg && hdr.Size <= min(lim.file, maxMetadataSize):
			if used+hdr.Size > budget {
				rec.overflow = true
				return rec
			}
			e.data, e.err = readMeta(tr, hdr.Size)
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		used += int64(len(e.data)+len(e.hdrName)+len(e.name)+len(e.linkname)) + 128
		if used > budget {
			rec.overflow = true
			return rec
		}
		last[name] = len(rec.entries)
		rec.entries = append(rec.entries, e)
	}
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return fail(layerErr(idx, l, "", fmt.Errorf("%w: %w", ErrCorruptLayer, err)))
	}
	if err := dr.check(diffID); err != nil {
		return fail(layerErr(idx, l, "", err))
	}
	return rec
}

// merge applies the record of layer idx to the view, as the sequential
// walk would apply the layer.
func (w *walker) merge(ctx context.Context, idx int, l v1.Layer, rec *layerRecord) error {
	if rec.overflow {
		return w.layer(ctx, idx, l)
	}
	if rec.cancelled {
		if err := ctx.Err(); err != nil {
			return err
		}
		return rec.err
	}
	for i := range rec.entries {
		e := &rec.entries[i]
		if !w.visible(idx, e.name, e.class) {
			continue
		}
		if err := w.mergeEntry(idx, e); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if isTempErr(err) {
				return err
			}
			return layerErr(idx, l, e.hdrName, err)
		}
	}
	if rec.err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return rec.err
	}
	w.endLayer(idx, rec.deleted, rec.opaque)
	return nil
}

func (w *walker) mergeEntry(idx int, e *recEntry) error {
	if e.class == classRPMDB || e.class == classRPMDBAux {
		if err := w.rpmdbCheck(e.typeflag, e.linkname, e.size); err != nil {
			return err
		}
		if e.err != nil {
			return e.err
		}
		var dst string
		if !e.superseded {
			var err error
			if dst, err = w.rpmdbDst(e.name); err != nil {
				return err
			}
			if err := os.Rename(e.file, dst); err != nil {
				return tempErr("temp file", err)
			}
		}
		w.setRPMDB(idx, e.name, dst)
		return nil
	}
	return w.setMeta(idx, e.name, e.typeflag, e.linkname, e.size, func() ([]byte, error) {
		return e.data, e.err
	})
}

// walk reads layers from the top down into w until the view is settled,
// reading up to n layers at once. Once the layer holding the live rpmdb
// has been read to its end, which no lower layer can change, it calls
// rpmdbFinal (once, on the walk's goroutine) while it goes on below.
func (w *walker) walk(ctx context.Context, layers []v1.Layer, n int, settledAt func(i int), rpmdbFinal func()) error {
	final := func() {
		if w.rpmdbDone && rpmdbFinal != nil {
			rpmdbFinal()
			rpmdbFinal = nil
		}
	}
	if n <= 1 || len(layers) < 2 {
		for i := len(layers) - 1; i >= 0; i-- {
			if err := w.layer(ctx, i, layers[i]); err != nil {
				return err
			}
			final()
			if i > 0 && w.settled() {
				settledAt(i)
				return nil
			}
		}
		return nil
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	budget := max(w.limits.meta/int64(n), recordBudget)
	slots := make(chan struct{}, n)
	records := make([]chan *layerRecord, len(layers))
	for i := range records {
		records[i] = make(chan *layerRecord, 1)
	}
	var rpmdbDone atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := len(layers) - 1; i >= 0; i-- {
			select {
			case slots <- struct{}{}:
			case <-rctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				records[i] <- readLayer(rctx, w.tmp, w.limits, budget, i, layers[i], &rpmdbDone)
			}()
		}
	}()
	for i := len(layers) - 1; i >= 0; i-- {
		var rec *layerRecord
		select {
		case rec = <-records[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := w.merge(ctx, i, layers[i], rec)
		os.RemoveAll(rec.dir) // what the view did not take
		<-slots
		if err != nil {
			return err
		}
		if w.rpmdbDone {
			rpmdbDone.Store(true)
		}
		final()
		if i > 0 && w.settled() {
			settledAt(i)
			return nil
		}
	}
	return nil
}
