package advisory

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/semaphore"
)

// OSV is a Source of OSV records for RPM distributions other than Red Hat
// (AlmaLinux, Rocky Linux…): either a local directory of *.json records,
// or an HTTP base laid out like osv.dev's bucket, where BASE/all.zip holds
// every record of an ecosystem (for example
// "https://osv-vulnerabilities.storage.googleapis.com/AlmaLinux:9/").
// all.zip is fetched with a conditional request; when it changed, its
// records replace the source's earlier content.
type OSV struct {
	loc  string
	cfg  *config
	http *fetcher
	dir  *Dir
}

var _ Source = (*OSV)(nil)

// NewOSV returns an OSV source for a directory or an http(s) base URL.
func NewOSV(location string, opts ...Option) *OSV {
	cfg := newConfig(opts)
	o := &OSV{loc: location, cfg: cfg, http: &fetcher{cfg: cfg}}
	if !isURL(location) {
		o.dir = NewDir(location, opts...)
	} else if !strings.HasSuffix(o.loc, "/") && !strings.HasSuffix(o.loc, ".zip") {
		o.loc += "/"
	}
	return o
}

// Name returns "osv:" and the location.
func (o *OSV) Name() string { return "osv:" + o.loc }

// Fetch reads the records.
func (o *OSV) Fetch(ctx context.Context, cur Cursor) (*Batch, error) {
	if o.dir != nil {
		b, err := o.dir.Fetch(ctx, cur)
		if err != nil {
			return nil, err
		}
		for i := range b.Advisories {
			b.Advisories[i].Source = o.Name()
		}
		b.Replace = []string{o.Name()}
		return b, nil
	}
	url := o.loc
	if !strings.HasSuffix(url, ".zip") {
		url += "all.zip"
	}
	b := &Batch{Cursor: Cursor{Validators: map[string]Validator{}}}
	for k, v := range cur.Validators {
		b.Cursor.Validators[k] = v
	}
	body, nv, err := o.http.get(ctx, url, cur.Validators[url])
	if errors.Is(err, errNotModified) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	advs, skipped, err := o.readZip(ctx, url, body)
	if err != nil {
		return nil, err
	}
	b.Replace = []string{o.Name()}
	b.Advisories, b.Skipped = advs, skipped
	b.Cursor.Validators[url] = nv
	return b, nil
}

// Defaults of the limits of an OSV archive.
const (
	// DefaultMaxMembers is the most members an OSV all.zip may hold
	// ([WithMaxMembers]); osv.dev's largest ecosystems hold some tens of
	// thousands of records.
	DefaultMaxMembers = 1_000_000
	// DefaultMaxArchiveSize is the most bytes the members of an OSV
	// all.zip may expand to in all ([WithMaxArchiveSize]).
	DefaultMaxArchiveSize = 4 << 30
)

// WithMaxMembers bounds how many members an OSV all.zip may hold (default
// [DefaultMaxMembers]). They are counted before the archive's directory is
// read into memory; more fail the Fetch with an error matching
// [ErrTooLarge].
func WithMaxMembers(n int) Option {
	return func(cfg *config) { cfg.maxMembers = max(0, n) }
}

// WithMaxArchiveSize bounds how many bytes the *.json members of an OSV
// all.zip may expand to in all (default [DefaultMaxArchiveSize]), which
// bounds the time a Fetch spends decompressing. An archive over the bound
// fails the Fetch with an error matching [ErrTooLarge]. Each member is also
// bounded by WithMaxDocumentSize (a larger one is skipped), and the bytes
// read and not yet parsed by WithMaxInFlight.
func WithMaxArchiveSize(n int64) Option {
	return func(cfg *config) { cfg.maxArchive = max(0, n) }
}

func (cfg *config) members() int {
	if cfg.maxMembers > 0 {
		return cfg.maxMembers
	}
	return DefaultMaxMembers
}

func (cfg *config) archiveSize() int64 {
	if cfg.maxArchive > 0 {
		return cfg.maxArchive
	}
	return DefaultMaxArchiveSize
}

// zipDirSignature starts each entry of a zip archive's central directory.
var zipDirSignature = []byte("PK\x01\x02")

// readZip reads the *.json records of an all.zip, in the order of their
// names. Members are read one at a time and parsed WithConcurrency at a
// time; the bytes read and not yet parsed are bounded by WithMaxInFlight.
func (o *OSV) readZip(ctx context.Context, url string, body []byte) ([]Advisory, []error, error) {
	cfg := o.cfg
	// Every directory entry starts with its signature, so their count
	// bounds the entries zip.NewReader would allocate.
	if n := bytes.Count(body, zipDirSignature); n > cfg.members() {
		return nil, nil, fmt.Errorf("%w: %s: more than %d members", ErrTooLarge, url, cfg.members())
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, nil, &ParseError{Doc: url, Err: err}
	}
	if len(zr.File) > cfg.members() {
		return nil, nil, fmt.Errorf("%w: %s: %d members, over %d", ErrTooLarge, url, len(zr.File), cfg.members())
	}
	files := slices.DeleteFunc(slices.Clone(zr.File), func(f *zip.File) bool { return !strings.HasSuffix(f.Name, ".json") })
	slices.SortFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	// The archive reader enforces the declared sizes, so their sum bounds
	// what decompressing takes.
	var total uint64
	for _, f := range files {
		if f.UncompressedSize64 <= uint64(cfg.maxBody) {
			total += f.UncompressedSize64
		}
	}
	if total > uint64(cfg.archiveSize()) {
		return nil, nil, fmt.Errorf("%w: %s: members expand to %d bytes, over %d", ErrTooLarge, url, total, cfg.archiveSize())
	}

	type result struct {
		adv *Advisory
		err error
	}
	results := make([]result, len(files))
	limit := cfg.inFlight()
	weight := func(size int) int64 { return max(1, min(int64(size), limit)) }
	inFlight := semaphore.NewWeighted(limit)
	type job struct {
		i      int
		data   []byte
		weight int64
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range min(cfg.concurrency, max(1, len(files))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				a, err := ParseOSV(j.data)
				inFlight.Release(j.weight)
				results[j.i] = result{adv: a, err: err}
			}
		}()
	}
	readErr := func() error {
		defer close(jobs)
		for i, f := range files {
			if f.UncompressedSize64 > uint64(cfg.maxBody) {
				results[i].err = fmt.Errorf("%w (%d bytes, over %d)", ErrTooLarge, f.UncompressedSize64, cfg.maxBody)
				continue
			}
			if err := inFlight.Acquire(ctx, weight(int(f.UncompressedSize64))); err != nil {
				return err
			}
			// Held until parsed, weighed by the declared size: the archive
			// reader fails a member that holds more.
			data, err := readMember(ctx, f, cfg.maxBody)
			if err != nil {
				inFlight.Release(weight(int(f.UncompressedSize64)))
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				results[i].err = err
				continue
			}
			select {
			case jobs <- job{i: i, data: data, weight: weight(int(f.UncompressedSize64))}:
			case <-ctx.Done():
				inFlight.Release(weight(int(f.UncompressedSize64)))
				return ctx.Err()
			}
		}
		return nil
	}()
	wg.Wait()
	if readErr != nil {
		return nil, nil, readErr
	}
	var advs []Advisory
	var skipped []error
	for i, r := range results {
		if r.err != nil {
			cfg.logger.WarnContext(ctx, "skipping document", "source", o.Name(), "doc", files[i].Name, "error", r.err)
			skipped = append(skipped, &DocError{Source: o.Name(), Doc: files[i].Name, Err: r.err})
			continue
		}
		r.adv.Source = o.Name()
		advs = append(advs, *r.adv)
	}
	return advs, skipped, nil
}

// readMember reads one member of its declared size, at most limit bytes,
// under ctx; the archive reader checks the size and checksum.
func readMember(ctx context.Context, f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%w (%d bytes, over %d)", ErrTooLarge, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := ctxReader{ctx, rc}
	data := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	// The end, where a member longer than declared or with a bad checksum
	// fails.
	var one [1]byte
	if n, err := r.Read(one[:]); n > 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = zip.ErrFormat
		}
		return nil, err
	}
	return data, nil
}
