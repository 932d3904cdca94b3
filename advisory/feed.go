package advisory

import (
	"archive/tar"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/semaphore"
)

// DefaultCSAFURL is Red Hat's public feed of CSAF advisories. Red Hat's VEX
// documents are published the same way under
// "https://security.access.redhat.com/data/csaf/v2/vex/".
const DefaultCSAFURL = "https://security.access.redhat.com/data/csaf/v2/advisories/"

// maxDocument bounds one document read from the feed or its archive.
const maxDocument = 256 << 20

// Defaults of the feed's other limits.
const (
	// DefaultMaxInFlight is how many bytes of archive members may be held
	// at once, read but not yet parsed ([WithMaxInFlight]).
	DefaultMaxInFlight = 256 << 20
	// DefaultMaxIndexRows is the most rows changes.csv or deletions.csv
	// may have ([WithMaxIndexRows]). Red Hat's list one row per document:
	// tens of thousands of advisories, a few hundred thousand VEX files.
	DefaultMaxIndexRows = 2_000_000
	// maxArchiveWindow bounds the zstd window of the archive, hence the
	// decoder's memory; zstd --long uses 128 MiB at most by default.
	maxArchiveWindow = 128 << 20
)

// WithMaxInFlight bounds how many bytes of archive members a CSAF feed
// holds at once while they wait to be parsed (default
// [DefaultMaxInFlight]); it bounds the memory of a first sync whatever the
// archive holds. A member larger than the bound is read alone.
func WithMaxInFlight(n int64) Option {
	return func(cfg *config) { cfg.maxInFlight = max(0, n) }
}

// WithMaxIndexRows bounds the rows of a CSAF feed's changes.csv and
// deletions.csv (default [DefaultMaxIndexRows]). They are read as they
// stream, keeping one entry per document; more rows fail the Fetch with an
// error matching [ErrTooLarge].
func WithMaxIndexRows(n int) Option {
	return func(cfg *config) { cfg.maxIndexRows = max(0, n) }
}

func (cfg *config) inFlight() int64 {
	if cfg.maxInFlight > 0 {
		return cfg.maxInFlight
	}
	return DefaultMaxInFlight
}

func (cfg *config) indexRows() int {
	if cfg.maxIndexRows > 0 {
		return cfg.maxIndexRows
	}
	return DefaultMaxIndexRows
}

// CSAF is a Source reading a Red Hat style CSAF feed directory:
//
//   - the first Fetch (zero Cursor) downloads the archive named in
//     archive_latest.txt (a .tar.zst of every document), then the documents
//     changes.csv lists as changed since the archive was made, and
//     deletions.csv; with WithDocuments it fetches the listed documents
//     instead of the archive;
//   - later Fetches download changes.csv and deletions.csv with conditional
//     requests and fetch only documents changed after Cursor.Since.
//
// Documents are fetched WithConcurrency at a time; timeouts, connection
// errors and 5xx answers are retried with backoff (WithRetry); any other 4xx
// on an index file fails the Fetch with an *HTTPError. A document that is
// gone (404/410), larger than WithMaxDocumentSize or does not parse is
// reported in Batch.Skipped.
type CSAF struct {
	base string
	cfg  *config
	http *fetcher
}

var _ Source = (*CSAF)(nil)

// NewCSAF returns the feed at baseURL (DefaultCSAFURL when empty).
func NewCSAF(baseURL string, opts ...Option) *CSAF {
	if baseURL == "" {
		baseURL = DefaultCSAFURL
	}
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	cfg := newConfig(opts)
	return &CSAF{base: baseURL, cfg: cfg, http: &fetcher{cfg: cfg}}
}

// Name returns "csaf:" and the base URL.
func (c *CSAF) Name() string { return "csaf:" + c.base }

type change struct {
	path string
	at   time.Time
}

// Fetch returns the documents changed since cur (everything for a zero
// cursor).
func (c *CSAF) Fetch(ctx context.Context, cur Cursor) (*Batch, error) {
	next := Cursor{Since: cur.Since, Validators: map[string]Validator{}}
	for k, v := range cur.Validators {
		next.Validators[k] = v
	}
	b := &Batch{}
	first := cur.Since.IsZero()

	// Index files: on the first sync, fetch them unconditionally.
	val := func(u string) Validator {
		if first {
			return Validator{}
		}
		return cur.Validators[u]
	}
	changesURL, deletionsURL := c.base+"changes.csv", c.base+"deletions.csv"
	changes, changesVal, err := c.index(ctx, changesURL, val(changesURL), cur.Since)
	if err != nil {
		return nil, err
	}
	deletions, deletionsVal, err := c.index(ctx, deletionsURL, val(deletionsURL), cur.Since)
	if err != nil && !isStatus(err, http.StatusNotFound) { // a feed may have no deletions yet
		return nil, err
	}

	since := cur.Since
	if first {
		b.Replace = []string{c.Name()}
		if len(c.cfg.documents) > 0 {
			// Fetch the configured documents; later changes come from changes.csv.
			if err := c.fetchDocs(ctx, b, c.cfg.documents); err != nil {
				return nil, err
			}
			since = newest(changes, time.Time{})
			changes, deletions = nil, nil
		} else {
			at, err := c.archive(ctx, b)
			if err != nil {
				return nil, err
			}
			since = at
		}
	}

	// Entries at the cursor's own time are read again: a document changed
	// in the same second as the last one read may have been listed only
	// after the previous sync. Reading a document twice is harmless.
	var paths []string
	changedAt := map[string]time.Time{} // path -> newest change time
	for _, ch := range changes {
		if ch.at.Before(since) || !c.tracked(ch.path) {
			continue
		}
		if t, ok := changedAt[ch.path]; ok {
			if ch.at.After(t) {
				changedAt[ch.path] = ch.at
			}
			continue
		}
		changedAt[ch.path] = ch.at
		paths = append(paths, ch.path)
	}
	if err := c.fetchDocs(ctx, b, paths); err != nil {
		return nil, err
	}
	// A deletion removes the document unless it was published again
	// afterwards; deleted documents are also dropped from the batch.
	for _, d := range deletions {
		if d.at.Before(since) || !c.tracked(d.path) {
			continue
		}
		if t, ok := changedAt[d.path]; ok && t.After(d.at) {
			continue
		}
		if id := idFromPath(d.path); !slices.Contains(b.Deleted, id) {
			b.Deleted = append(b.Deleted, id)
		}
	}
	if len(b.Deleted) > 0 {
		b.Advisories = slices.DeleteFunc(b.Advisories, func(a Advisory) bool { return slices.Contains(b.Deleted, a.ID) })
		b.VEX = slices.DeleteFunc(b.VEX, func(v VEX) bool { return slices.Contains(b.Deleted, v.CVE) })
	}
	next.Since = newest(deletions, newest(changes, since))
	if changesVal != nil {
		next.Validators[changesURL] = *changesVal
	}
	if deletionsVal != nil {
		next.Validators[deletionsURL] = *deletionsVal
	}
	b.Cursor = next
	c.cfg.logger.InfoContext(ctx, "csaf feed synced", "source", c.Name(), "advisories", len(b.Advisories),
		"vex", len(b.VEX), "deleted", len(b.Deleted), "skipped", len(b.Skipped), "since", next.Since)
	return b, nil
}

func (c *CSAF) tracked(p string) bool {
	return len(c.cfg.documents) == 0 || slices.Contains(c.cfg.documents, p)
}

func isStatus(err error, code int) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == code
}

func newest(l []change, t time.Time) time.Time {
	for _, c := range l {
		if c.at.After(t) {
			t = c.at
		}
	}
	return t
}

// index reads changes.csv or deletions.csv as it streams, keeping one
// entry per path (its newest time) and dropping entries before since. A
// nil validator with a nil error means the file did not change (304).
func (c *CSAF) index(ctx context.Context, url string, v Validator, since time.Time) ([]change, *Validator, error) {
	var err error
	for range 2 { // a body cut short is tried again, as fetcher.get does
		var resp *http.Response
		var done context.CancelFunc
		resp, done, err = c.http.open(ctx, url, v, c.cfg.timeout)
		if errors.Is(err, errNotModified) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		var l []change
		l, err = readChanges(&limitedReader{r: resp.Body, n: c.cfg.maxBody}, since, c.cfg.indexRows())
		resp.Body.Close()
		done()
		if err == nil {
			nv := validatorOf(resp)
			return l, &nv, nil
		}
		var pe *ParseError
		if errors.As(err, &pe) || errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
			break
		}
		err = fmt.Errorf("reading body: %w", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, nil, cerr
	}
	return nil, nil, fmt.Errorf("advisory: %s: %w", url, err)
}

// limitedReader fails with ErrTooLarge once more than n bytes are read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, fmt.Errorf("%w (over the size limit)", ErrTooLarge)
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w (over the size limit)", ErrTooLarge)
	}
	return n, err
}

// readChanges reads `"2024/rhsa-2024_0010.json","2025-02-18T14:28:08+00:00"`
// rows one at a time, at most maxRows of them. It keeps the newest time of
// each path, in the order paths first appear, and drops rows before since.
func readChanges(r io.Reader, since time.Time, maxRows int) ([]change, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []change
	at := map[string]int{} // path -> index in out
	for rows := 0; ; rows++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &ParseError{Err: err}
			}
			return nil, err
		}
		if rows >= maxRows {
			return nil, fmt.Errorf("%w: more than %d rows", ErrTooLarge, maxRows)
		}
		if len(rec) < 2 || rec[0] == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(rec[1]))
		if err != nil {
			return nil, &ParseError{Err: fmt.Errorf("time of %s: %w", rec[0], err)}
		}
		t = t.UTC()
		if t.Before(since) {
			continue
		}
		p := strings.TrimSpace(rec[0])
		if i, ok := at[p]; ok {
			if t.After(out[i].at) {
				out[i].at = t
			}
			continue
		}
		p = strings.Clone(p) // rec is reused
		at[p] = len(out)
		out = append(out, change{path: p, at: t})
	}
}

// idFromPath turns "2024/rhsa-2024_0010.json" into "RHSA-2024:0010" and
// "2023/cve-2023-38545.json" into "CVE-2023-38545".
func idFromPath(p string) string {
	id := strings.ToUpper(strings.TrimSuffix(path.Base(p), ".json"))
	if strings.HasPrefix(id, "CVE-") {
		return id
	}
	return strings.Replace(id, "_", ":", 1)
}

// fetchDocs downloads and parses documents, WithConcurrency at a time, and
// adds them to b in the order given.
func (c *CSAF) fetchDocs(ctx context.Context, b *Batch, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	type result struct {
		doc Document
		err error // skipped document
	}
	results := make([]result, len(paths))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	meter := newMeter(c.cfg.progress, c.Name(), len(paths))
	var wg sync.WaitGroup
	for range min(c.cfg.concurrency, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				meter.step()
				url := c.base + strings.TrimPrefix(paths[i], "/")
				body, _, err := c.http.get(ctx, url, Validator{})
				switch {
				case isStatus(err, http.StatusNotFound) || isStatus(err, http.StatusGone) || errors.Is(err, ErrTooLarge):
					results[i].err = err
					continue
				case err != nil:
					cancel(err)
					continue
				}
				doc, err := parseCSAF(body, c.cfg.products())
				if err != nil {
					results[i].err = err
					continue
				}
				results[i].doc = doc
			}
		}()
	}
feed:
	for i := range paths {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	meter.finish()
	for i, r := range results {
		if r.err != nil {
			c.cfg.logger.WarnContext(ctx, "skipping document", "source", c.Name(), "doc", paths[i], "error", r.err)
			b.Skipped = append(b.Skipped, &DocError{Source: c.Name(), Doc: paths[i], Err: r.err})
			continue
		}
		batchAdd(b, c.Name(), r.doc)
	}
	return nil
}

var archiveDate = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)

// archive reads the full archive into b and returns the time its content
// is current to: the date in its name, else the newest member time.
func (c *CSAF) archive(ctx context.Context, b *Batch) (time.Time, error) {
	body, _, err := c.http.get(ctx, c.base+"archive_latest.txt", Validator{})
	if err != nil {
		return time.Time{}, err
	}
	name := strings.TrimSpace(string(body))
	if name == "" || strings.ContainsAny(name, "/\\\n") {
		return time.Time{}, &ParseError{Doc: c.base + "archive_latest.txt", Err: fmt.Errorf("bad archive name %q", name)}
	}
	resp, done, err := c.http.open(ctx, c.base+name, Validator{}, 0)
	if err != nil {
		return time.Time{}, err
	}
	defer done()
	defer resp.Body.Close()
	zr, err := zstd.NewReader(resp.Body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxArchiveWindow))
	if err != nil {
		return time.Time{}, fmt.Errorf("advisory: %s: %w", name, err)
	}
	defer zr.Close()

	type job struct {
		seq  int
		name string
		data []byte
	}
	type result struct {
		seq  int
		name string
		doc  Document
		err  error
	}
	// Members are read one at a time and parsed concurrently; the bytes
	// read and not yet parsed are bounded by inFlight.
	inFlight := semaphore.NewWeighted(c.cfg.inFlight())
	weight := func(size int64) int64 { return max(1, min(size, c.cfg.inFlight())) }
	jobs := make(chan job)
	results := make(chan result)
	var wg sync.WaitGroup
	for range c.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				doc, err := parseCSAF(j.data, c.cfg.products())
				inFlight.Release(weight(int64(len(j.data))))
				results <- result{seq: j.seq, name: j.name, doc: doc, err: err}
			}
		}()
	}
	var collected []result
	collectDone := make(chan struct{})
	meter := newMeter(c.cfg.progress, c.Name(), 0)
	go func() {
		for r := range results {
			collected = append(collected, r)
			meter.step()
		}
		close(collectDone)
	}()

	var newestMember time.Time
	readErr := func() error {
		defer close(jobs)
		tr := tar.NewReader(zr)
		for seq := 0; ; seq++ {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("advisory: %s: %w", name, err)
			}
			if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".json") {
				continue
			}
			if h.ModTime.After(newestMember) {
				newestMember = h.ModTime
			}
			if h.Size > c.cfg.maxBody {
				results <- result{seq: seq, name: h.Name, err: fmt.Errorf("%w (%d bytes, over %d)", ErrTooLarge, h.Size, c.cfg.maxBody)}
				continue
			}
			if err := inFlight.Acquire(ctx, weight(h.Size)); err != nil {
				return err
			}
			data := make([]byte, h.Size)
			if _, err := io.ReadFull(tr, data); err != nil {
				inFlight.Release(weight(h.Size))
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				return fmt.Errorf("advisory: %s: %s: %w", name, h.Name, err)
			}
			select {
			case jobs <- job{seq: seq, name: h.Name, data: data}:
			case <-ctx.Done():
				inFlight.Release(weight(h.Size))
				return ctx.Err()
			}
		}
	}()
	wg.Wait()
	close(results)
	<-collectDone
	if readErr != nil {
		return time.Time{}, readErr
	}
	meter.finish()
	slices.SortFunc(collected, func(a, b result) int { return cmp.Compare(a.seq, b.seq) })
	for _, r := range collected {
		if r.err != nil {
			c.cfg.logger.WarnContext(ctx, "skipping document", "source", c.Name(), "doc", r.name, "error", r.err)
			b.Skipped = append(b.Skipped, &DocError{Source: c.Name(), Doc: name + ":" + r.name, Err: r.err})
			continue
		}
		batchAdd(b, c.Name(), r.doc)
	}
	if d := archiveDate.FindString(name); d != "" {
		if t, err := time.Parse(time.DateOnly, d); err == nil {
			return t, nil
		}
	}
	return newestMember.UTC(), nil
}
