package advisory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Source publishes advisories. It is the package's extension point: the
// Red Hat CSAF feed (CSAF), a local directory (Dir) and OSV records (OSV)
// implement it, Combine merges several, and callers may add their own.
//
// Fetch returns what changed since the cursor: the first call (zero
// Cursor) returns everything and lists the source in Batch.Replace. The
// caller keeps Batch.Cursor (it is JSON, see Cursor.Encode) and passes it
// to the next Fetch. A Fetch that fails returns an error and no cursor, so
// nothing is lost by retrying later with the old one.
type Source interface {
	// Name identifies the source; it keys the source's cursor inside a
	// combined cursor and is recorded in Advisory.Source.
	Name() string
	Fetch(ctx context.Context, cur Cursor) (*Batch, error)
}

// Cursor is how far a source has been read. It is a plain value: store it
// (Encode / ParseCursor) and pass it back to the next Fetch.
type Cursor struct {
	// Since is the time of the newest change already read.
	Since time.Time `json:"since,omitzero"`
	// Validators holds the ETag and Last-Modified of index files by URL,
	// for conditional requests.
	Validators map[string]Validator `json:"validators,omitempty"`
	// Sources holds the cursors of combined sources, by Source.Name.
	Sources map[string]Cursor `json:"sources,omitempty"`
}

// IsZero reports whether the cursor is the zero Cursor (nothing read yet).
func (c Cursor) IsZero() bool {
	return c.Since.IsZero() && len(c.Validators) == 0 && len(c.Sources) == 0
}

// Encode returns the cursor as JSON text, for storing.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // a Cursor always marshals
	return string(b)
}

// ParseCursor reads a cursor written by Encode; "" gives the zero Cursor.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if strings.TrimSpace(s) == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return Cursor{}, fmt.Errorf("advisory: cursor: %w", err)
	}
	return c, nil
}

// Batch is what one Fetch returns.
type Batch struct {
	// Advisories are new or changed advisories; each replaces any earlier
	// one with the same id.
	Advisories []Advisory
	// VEX are new or changed VEX documents, keyed by CVE.
	VEX []VEX
	// Deleted lists advisory ids (and VEX CVE ids) the source withdrew.
	Deleted []string
	// Replace names sources whose earlier content this batch replaces
	// entirely (their first sync, or a directory re-read).
	Replace []string
	// Skipped holds one *DocError per document that could not be fetched
	// or parsed; those documents are left out, the rest of the batch is good.
	Skipped []error
	// Cursor is the position to store and pass to the next Fetch.
	Cursor Cursor
}

// DocError is a document that was skipped.
type DocError struct {
	Source string
	Doc    string
	Err    error
}

// Error names the source, the document and the cause.
func (e *DocError) Error() string {
	return "advisory: " + e.Source + ": " + e.Doc + ": " + e.Err.Error()
}

// Unwrap returns the cause (a *ParseError or *HTTPError).
func (e *DocError) Unwrap() error { return e.Err }

type combined struct{ srcs []Source }

var _ Source = combined{}

// Combine merges sources into one. Each keeps its own cursor inside
// Cursor.Sources. When some sources fail, Fetch returns a batch from the
// others together with the joined errors; the failed ones keep their old
// cursor.
func Combine(srcs ...Source) Source { return combined{srcs: srcs} }

// Name lists the combined sources.
func (c combined) Name() string {
	names := make([]string, len(c.srcs))
	for i, s := range c.srcs {
		names[i] = s.Name()
	}
	return "combined(" + strings.Join(names, ",") + ")"
}

// Fetch fetches each source in turn with its own cursor.
func (c combined) Fetch(ctx context.Context, cur Cursor) (*Batch, error) {
	out := &Batch{Cursor: Cursor{Sources: map[string]Cursor{}}}
	maps.Copy(out.Cursor.Sources, cur.Sources)
	var errs []error
	for _, s := range c.srcs {
		b, err := s.Fetch(ctx, cur.Sources[s.Name()])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
			continue
		}
		out.Advisories = append(out.Advisories, b.Advisories...)
		out.VEX = append(out.VEX, b.VEX...)
		out.Deleted = append(out.Deleted, b.Deleted...)
		out.Replace = append(out.Replace, b.Replace...)
		out.Skipped = append(out.Skipped, b.Skipped...)
		out.Cursor.Sources[s.Name()] = b.Cursor
	}
	return out, errors.Join(errs...)
}

// Store keeps the current advisories of one or more sources in memory by
// applying batches. The orchestrator keeps the same state in its database;
// Store serves tools, tests and the examples. It is safe for concurrent use.
type Store struct {
	mu   sync.Mutex
	advs map[string]Advisory
	vex  map[string]VEX
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{advs: map[string]Advisory{}, vex: map[string]VEX{}}
}

// Apply applies a batch with ApplyBatch.
func (s *Store) Apply(b *Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = ApplyBatch(context.Background(), memSink{s}, b) // memSink never fails
}

// Sink is where ApplyBatch keeps advisories and VEX documents: Store keeps
// them in memory, the orchestrator in its database. Implement it to keep
// them elsewhere; ApplyBatch holds the rules, a Sink only stores.
type Sink interface {
	// Updated returns the Updated time of the stored advisory id (or,
	// with vex set, of the VEX document of CVE id) and whether one is
	// stored.
	Updated(ctx context.Context, id string, vex bool) (time.Time, bool, error)
	// PutAdvisory stores a in place of any advisory with its id and
	// reports whether the stored content changed.
	PutAdvisory(ctx context.Context, a Advisory) (bool, error)
	// PutVEX stores v in place of any VEX document for its CVE and
	// reports whether the stored content changed.
	PutVEX(ctx context.Context, v VEX) (bool, error)
	// IDs returns the ids of the advisories and the CVEs of the VEX
	// documents stored from source.
	IDs(ctx context.Context, source string) (advisories, vex []string, err error)
	// Delete removes the advisory and the VEX document with id, and
	// reports whether either was stored.
	Delete(ctx context.Context, id string) (bool, error)
}

// Applied is what ApplyBatch changed.
type Applied struct {
	// Advisories are the ids of the advisories that are new or changed.
	Advisories []string
	// VEX are the CVEs of the VEX documents that are new or changed.
	VEX []string
	// Deleted counts the documents removed.
	Deleted int
}

// ApplyBatch applies a batch to s, the one implementation of these rules:
// what a replaced source (b.Replace) stored and the batch does not carry
// again is removed; each advisory and VEX document is stored unless the
// stored one was updated later (the newer Updated wins); then the
// withdrawn ids (b.Deleted) are removed.
func ApplyBatch(ctx context.Context, s Sink, b *Batch) (Applied, error) {
	var out Applied
	keep := map[string]bool{}
	for _, a := range b.Advisories {
		keep["a:"+a.ID] = true
	}
	for _, v := range b.VEX {
		keep["v:"+v.CVE] = true
	}
	del := func(id string) error {
		ok, err := s.Delete(ctx, id)
		if ok {
			out.Deleted++
		}
		return err
	}
	for _, src := range b.Replace {
		advs, vex, err := s.IDs(ctx, src)
		if err != nil {
			return out, err
		}
		for _, id := range advs {
			if !keep["a:"+id] {
				if err := del(id); err != nil {
					return out, err
				}
			}
		}
		for _, id := range vex {
			if !keep["v:"+id] {
				if err := del(id); err != nil {
					return out, err
				}
			}
		}
	}
	newer := func(id string, vex bool, t time.Time) (bool, error) {
		old, ok, err := s.Updated(ctx, id, vex)
		return ok && old.After(t), err
	}
	for _, a := range b.Advisories {
		if skip, err := newer(a.ID, false, a.Updated); err != nil || skip {
			if err != nil {
				return out, err
			}
			continue
		}
		changed, err := s.PutAdvisory(ctx, a)
		if err != nil {
			return out, err
		}
		if changed {
			out.Advisories = append(out.Advisories, a.ID)
		}
	}
	for _, v := range b.VEX {
		if skip, err := newer(v.CVE, true, v.Updated); err != nil || skip {
			if err != nil {
				return out, err
			}
			continue
		}
		changed, err := s.PutVEX(ctx, v)
		if err != nil {
			return out, err
		}
		if changed {
			out.VEX = append(out.VEX, v.CVE)
		}
	}
	for _, id := range b.Deleted {
		if err := del(id); err != nil {
			return out, err
		}
	}
	return out, nil
}

// memSink is Store as a Sink; the caller holds the Store's lock.
type memSink struct{ s *Store }

func (m memSink) Updated(_ context.Context, id string, vex bool) (time.Time, bool, error) {
	if vex {
		v, ok := m.s.vex[id]
		return v.Updated, ok, nil
	}
	a, ok := m.s.advs[id]
	return a.Updated, ok, nil
}

func (m memSink) PutAdvisory(_ context.Context, a Advisory) (bool, error) {
	m.s.advs[a.ID] = a
	return true, nil
}

func (m memSink) PutVEX(_ context.Context, v VEX) (bool, error) {
	m.s.vex[v.CVE] = v
	return true, nil
}

func (m memSink) IDs(_ context.Context, source string) (advs, vex []string, _ error) {
	for id, a := range m.s.advs {
		if a.Source == source {
			advs = append(advs, id)
		}
	}
	for id, v := range m.s.vex {
		if v.Source == source {
			vex = append(vex, id)
		}
	}
	return advs, vex, nil
}

func (m memSink) Delete(_ context.Context, id string) (bool, error) {
	_, a := m.s.advs[id]
	_, v := m.s.vex[id]
	delete(m.s.advs, id)
	delete(m.s.vex, id)
	return a || v, nil
}

// Advisories returns the stored advisories sorted by id.
func (s *Store) Advisories() []Advisory {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.advs))
	slices.SortFunc(out, func(a, b Advisory) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// VEX returns the stored VEX documents sorted by CVE.
func (s *Store) VEX() []VEX {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.vex))
	slices.SortFunc(out, func(a, b VEX) int { return cmp.Compare(a.CVE, b.CVE) })
	return out
}

// Index builds an Index of everything stored (VEX documents included).
func (s *Store) Index(opts ...IndexOption) *Index {
	return NewIndex(s.Advisories(), append([]IndexOption{WithVEX(s.VEX())}, opts...)...)
}

// Open returns the source for a location:
//   - "http://…" or "https://…": a CSAF feed (NewCSAF), e.g. DefaultCSAFURL
//     or Red Hat's VEX feed;
//   - "osv+https://…" or "osv:DIR": OSV records (NewOSV);
//   - anything else: a local directory or file of documents (NewDir).
func Open(location string, opts ...Option) (Source, error) {
	switch {
	case strings.HasPrefix(location, "osv+"):
		return NewOSV(strings.TrimPrefix(location, "osv+"), opts...), nil
	case strings.HasPrefix(location, "osv:"):
		return NewOSV(strings.TrimPrefix(location, "osv:"), opts...), nil
	case isURL(location):
		return NewCSAF(location, opts...), nil
	}
	if _, err := os.Stat(location); err != nil {
		return nil, fmt.Errorf("advisory: source %q: %w", location, err)
	}
	return NewDir(location, opts...), nil
}

// Load fetches each location once (see Open) and returns a Store of what
// they hold, with the documents that were skipped. It is the one-call setup
// for tools such as examples/scan:
//
//	st, skipped, err := advisory.Load(ctx, []string{"./csaf", advisory.DefaultCSAFURL})
//	repo, err := advisory.LoadRepoCPE(ctx, advisory.DefaultRepoCPEURL)
//	ix := st.Index(advisory.WithRepoCPE(repo))
//	findings := ix.Match(inventory)
func Load(ctx context.Context, locations []string, opts ...Option) (*Store, []error, error) {
	srcs := make([]Source, 0, len(locations))
	for _, l := range locations {
		s, err := Open(l, opts...)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, s)
	}
	b, err := Combine(srcs...).Fetch(ctx, Cursor{})
	if err != nil {
		return nil, nil, err
	}
	st := NewStore()
	st.Apply(b)
	return st, b.Skipped, nil
}

// LoadIndex is the one-call setup of a tool that matches images once: it
// Loads the advisory locations, loads Red Hat's repository-to-CPE map from
// repoToCPE (a file or URL, see LoadRepoCPE; "" leaves it out, and images
// are then matched by their RHEL major), and returns the Index of
// everything loaded with the documents that were skipped. The options
// apply to both loads.
//
//	ix, skipped, err := advisory.LoadIndex(ctx, []string{advisory.DefaultCSAFURL}, advisory.DefaultRepoCPEURL)
//	findings := ix.Match(inventory)
func LoadIndex(ctx context.Context, locations []string, repoToCPE string, opts ...Option) (*Index, []error, error) {
	st, skipped, err := Load(ctx, locations, opts...)
	if err != nil {
		return nil, nil, err
	}
	var ixOpts []IndexOption
	if repoToCPE != "" {
		repo, err := LoadRepoCPE(ctx, repoToCPE, opts...)
		if err != nil {
			return nil, nil, err
		}
		ixOpts = append(ixOpts, WithRepoCPE(repo))
	}
	return st.Index(ixOpts...), skipped, nil
}

// batchAdd files a parsed document into a batch.
func batchAdd(b *Batch, src string, doc Document) {
	switch {
	case doc.Advisory != nil:
		doc.Advisory.Source = src
		b.Advisories = append(b.Advisories, *doc.Advisory)
	case doc.VEX != nil:
		doc.VEX.Source = src
		b.VEX = append(b.VEX, *doc.VEX)
	}
}
