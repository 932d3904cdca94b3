package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openabs/abs/rpmscan"
)

// packageChunk is how many packages one statement inserts or looks up:
// well under SQLite's and PostgreSQL's limits on bound parameters.
const packageChunk = 400

// packageKey is the key of a package's document in abs_package.
func packageKey(doc []byte) string {
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:16])
}

// putLayer stores an rpmdb layer's packages: each distinct package once
// in abs_package, the layer as its packages' ids in order.
func putLayer(ctx context.Context, q Querier, layer string, pkgs []rpmscan.Package, now time.Time) error {
	keys := make([]string, len(pkgs))
	docs := map[string]string{}
	for i, p := range pkgs {
		doc, err := json.Marshal(p)
		if err != nil {
			return err
		}
		keys[i] = packageKey(doc)
		docs[keys[i]] = string(doc)
	}
	ids, err := packageIDs(ctx, q, docs)
	if err != nil {
		return err
	}
	seq := make([]int64, len(keys))
	for i, k := range keys {
		seq[i] = ids[k]
	}
	_, err = q.Exec(ctx, `INSERT INTO abs_layer (digest, packages, pkg_ids, scanned_at) VALUES ($1, '', $2, $3)
		ON CONFLICT (digest) DO NOTHING`, layer, encodeIDs(seq), nanos(now))
	return err
}

// packageIDs returns the ids of the package documents (by key), inserting
// the ones not stored yet.
func packageIDs(ctx context.Context, q Querier, docs map[string]string) (map[string]int64, error) {
	keys := slices.Sorted(maps.Keys(docs))
	ids := make(map[string]int64, len(keys))
	for start := 0; start < len(keys); start += packageChunk {
		chunk := keys[start:min(start+packageChunk, len(keys))]
		var ins strings.Builder
		args := make([]any, 0, 2*len(chunk))
		for i, k := range chunk {
			if i > 0 {
				ins.WriteString(", ")
			}
			fmt.Fprintf(&ins, "($%d, $%d)", 2*i+1, 2*i+2)
			args = append(args, k, docs[k])
		}
		if _, err := q.Exec(ctx, `INSERT INTO abs_package (key, doc) VALUES `+ins.String()+`
			ON CONFLICT (key) DO NOTHING`, args...); err != nil {
			return nil, err
		}
		keyArgs := make([]any, len(chunk))
		for i, k := range chunk {
			keyArgs[i] = k
		}
		rows, err := q.Query(ctx, `SELECT id, key FROM abs_package WHERE key IN (`+placeholders(1, len(chunk))+`)`, keyArgs...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var k string
			if err := rows.Scan(&id, &k); err != nil {
				rows.Close()
				return nil, err
			}
			ids[k] = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, k := range keys {
		if _, ok := ids[k]; !ok {
			return nil, fmt.Errorf("store: package %s was not stored", k)
		}
	}
	return ids, nil
}

// encodeIDs spells package ids as base64 of their unsigned varints: about
// three bytes a package, a portable TEXT on both dialects.
func encodeIDs(ids []int64) string {
	buf := make([]byte, 0, 3*len(ids))
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, uint64(id))
	}
	return base64.RawStdEncoding.EncodeToString(buf)
}

// errIDs is returned for a pkg_ids value that does not decode.
var errIDs = errors.New("store: malformed package ids")

// decodeIDs is encodeIDs reversed. Package ids fit in 32 bits: a larger
// one is malformed, there are not that many packages.
func decodeIDs(s string) ([]uint32, error) {
	buf, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, errIDs
	}
	n := 0
	for _, b := range buf {
		if b < 0x80 {
			n++ // the last byte of a varint
		}
	}
	out := make([]uint32, 0, n)
	for len(buf) > 0 {
		v, k := binary.Uvarint(buf)
		if k <= 0 || v > math.MaxUint32 {
			return nil, errIDs
		}
		out = append(out, uint32(v))
		buf = buf[k:]
	}
	return out, nil
}

// LayerPackages returns the packages stored for an rpmdb layer key, or
// ErrNotFound.
func LayerPackages(ctx context.Context, q Querier, layer string) ([]rpmscan.Package, error) {
	var doc, enc string
	if err := q.QueryRow(ctx, `SELECT packages, pkg_ids FROM abs_layer WHERE digest = $1`, layer).Scan(&doc, &enc); err != nil {
		return nil, err
	}
	if doc != "" {
		return decodePackages(layer, doc)
	}
	ids, err := decodeIDs(enc)
	if err != nil {
		return nil, fmt.Errorf("store: layer %s: %w", layer, err)
	}
	byID, err := PackagesByID(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	out := make([]rpmscan.Package, len(ids))
	for i, id := range ids {
		p, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("store: layer %s: package %d is missing", layer, id)
		}
		out[i] = p
	}
	return out, nil
}

// decodePackages reads a layer stored before migration 7: its packages as
// one JSON array.
func decodePackages(layer, doc string) ([]rpmscan.Package, error) {
	var pk []rpmscan.Package
	if err := json.Unmarshal([]byte(doc), &pk); err != nil {
		return nil, fmt.Errorf("store: layer %s: %w", layer, err)
	}
	return pk, nil
}

// PackagesByID reads stored packages by id (missing ids are left out).
func PackagesByID(ctx context.Context, q Querier, ids []uint32) (map[uint32]rpmscan.Package, error) {
	uniq := map[uint32]bool{}
	var args []any
	for _, id := range ids {
		if !uniq[id] {
			uniq[id] = true
			args = append(args, id)
		}
	}
	out := make(map[uint32]rpmscan.Package, len(args))
	for start := 0; start < len(args); start += packageChunk {
		chunk := args[start:min(start+packageChunk, len(args))]
		rows, err := q.Query(ctx, `SELECT id, doc FROM abs_package WHERE id IN (`+placeholders(1, len(chunk))+`)`, chunk...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var doc string
			var p rpmscan.Package
			if err := rows.Scan(&id, &doc); err == nil {
				err = json.Unmarshal([]byte(doc), &p)
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: package %d: %w", id, err)
			}
			out[uint32(id)] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FleetData is the managed fleet as stored: what the orchestrator keeps
// in memory to find affected images and regrade without a query per
// image. Packages are held once each; layers name them by index.
type FleetData struct {
	// Managed maps every managed name (and platform key, see
	// PlatformKey) to its current digest.
	Managed map[string]string
	// Images are the stored records of the managed digests.
	Images map[string]*ImageRecord
	// Packages are the distinct packages of the managed images' layers.
	Packages []rpmscan.Package
	// Layers maps each of those layers to its packages, as indexes into
	// Packages in the layer's order.
	Layers map[string][]uint32
	// StoreIDs maps stored package ids (see FleetLayers) to Packages:
	// StoreIDs[id] is 1 + the package's index, 0 for ids not read.
	// Packages of layers stored before migration 7 have no id.
	StoreIDs []uint32
}

// LoadFleet reads the managed fleet: the managed names, the records of
// their digests (not of older digests), and the packages of those
// records' layers, each distinct package decoded once. Records are
// decoded on every processor while the database streams them.
func LoadFleet(ctx context.Context, q Querier) (*FleetData, error) {
	f := &FleetData{Layers: map[string][]uint32{}}
	managed, layers, wait, err := managedImages(ctx, q)
	if err != nil {
		return nil, err
	}
	f.Managed = managed
	// The records decode while the layers and packages are read.
	if err := loadLayers(ctx, q, f, layers); err != nil {
		_, _ = wait()
		return nil, err
	}
	if f.Images, err = wait(); err != nil {
		return nil, err
	}
	return f, nil
}

// loadLayers reads the packages of the layers into f.
func loadLayers(ctx context.Context, q Querier, f *FleetData, layers []string) error {
	// The layers, by their stored package ids; the ids are then mapped
	// to dense indexes into f.Packages as their packages are read.
	stored, legacy, err := FleetLayers(ctx, q, layers)
	if err != nil {
		return err
	}
	intern := map[rpmscan.Package]uint32{}
	add := func(p rpmscan.Package) uint32 {
		n, ok := intern[p]
		if !ok {
			n = uint32(len(f.Packages))
			f.Packages = append(f.Packages, p)
			intern[p] = n
		}
		return n
	}
	for d, pk := range legacy {
		seq := make([]uint32, len(pk))
		for i, p := range pk {
			seq[i] = add(p)
		}
		f.Layers[d] = seq
	}
	var maxID int64
	for _, ids := range stored {
		for _, id := range ids {
			maxID = max(maxID, int64(id))
		}
	}
	if len(stored) == 0 {
		return nil
	}
	var top int64
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM abs_package`).Scan(&top); err != nil {
		return err
	}
	if maxID > top {
		return fmt.Errorf("store: package %d is missing", maxID)
	}
	// dense[id] is 1 + the package's index in f.Packages; 0 while it is
	// not read, and for ids no layer lists.
	dense := make([]uint32, maxID+1)
	const wanted = ^uint32(0)
	distinct := 0
	for _, ids := range stored {
		for _, id := range ids {
			if dense[id] != wanted {
				dense[id] = wanted
				distinct++
			}
		}
	}
	f.Packages = slices.Grow(f.Packages, distinct)
	if len(intern) == 0 {
		intern = make(map[rpmscan.Package]uint32, distinct)
	}
	rows, err := q.Query(ctx, `SELECT id, doc FROM abs_package WHERE id <= $1`, maxID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var doc string
		if err := rows.Scan(&id, &doc); err != nil {
			rows.Close()
			return err
		}
		if id < 0 || id > maxID || dense[id] != wanted {
			continue
		}
		var p rpmscan.Package
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			rows.Close()
			return fmt.Errorf("store: package %d: %w", id, err)
		}
		dense[id] = add(p) + 1
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return err
	}
	for d, ids := range stored {
		seq := make([]uint32, len(ids))
		for i, id := range ids {
			n := dense[id]
			if n == 0 || n == wanted {
				return fmt.Errorf("store: layer %s: package %d is missing", d, id)
			}
			seq[i] = n - 1
		}
		f.Layers[d] = seq
	}
	f.StoreIDs = dense
	return nil
}

// FleetLayers reads the given layers (missing ones are left out): the
// stored package ids of each layer stored since migration 7, in the
// layer's order (see PackagesByID), and the packages of each layer stored
// before it.
func FleetLayers(ctx context.Context, q Querier, layers []string) (ids map[string][]uint32, legacy map[string][]rpmscan.Package, err error) {
	ids, legacy = map[string][]uint32{}, map[string][]rpmscan.Package{}
	for start := 0; start < len(layers); start += packageChunk {
		chunk := layers[start:min(start+packageChunk, len(layers))]
		args := make([]any, len(chunk))
		for i, l := range chunk {
			args[i] = l
		}
		rows, err := q.Query(ctx, `SELECT digest, packages, pkg_ids FROM abs_layer WHERE digest IN (`+placeholders(1, len(chunk))+`)`, args...)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var d, doc, enc string
			if err := rows.Scan(&d, &doc, &enc); err != nil {
				rows.Close()
				return nil, nil, err
			}
			if doc != "" { // stored before migration 7
				pk, err := decodePackages(d, doc)
				if err != nil {
					rows.Close()
					return nil, nil, err
				}
				legacy[d] = pk
				continue
			}
			seq, err := decodeIDs(enc)
			if err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("store: layer %s: %w", d, err)
			}
			ids[d] = seq
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return ids, legacy, nil
}

// ManagedRevision is a managed name, its digest and the revision of the
// digest's stored record (ImageRecord.Rev; -1 when none is stored).
type ManagedRevision struct {
	Name, Digest string
	Rev          int64
}

// FleetRevisions reads every managed name, in order, with its digest and
// the revision of the digest's record: enough for a reader holding
// records to tell which it must read again. Both are narrow reads: the
// managed rows, and the revisions from their own index.
func FleetRevisions(ctx context.Context, q Querier) ([]ManagedRevision, error) {
	rows, err := q.Query(ctx, `SELECT name, digest FROM abs_managed`)
	if err != nil {
		return nil, err
	}
	var out []ManagedRevision
	for rows.Next() {
		r := ManagedRevision{Rev: -1}
		if err := rows.Scan(&r.Name, &r.Digest); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	query, total, err := managedRecordsQuery(ctx, q, `digest, rev`, len(out))
	if err != nil {
		return nil, err
	}
	if rows, err = q.Query(ctx, query); err != nil {
		return nil, err
	}
	defer rows.Close()
	revs := make(map[string]int64, min(total, 2*len(out)))
	for rows.Next() {
		var d string
		var rev int64
		if err := rows.Scan(&d, &rev); err != nil {
			return nil, err
		}
		revs[d] = rev
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if rev, ok := revs[out[i].Digest]; ok {
			out[i].Rev = rev
		}
	}
	slices.SortFunc(out, func(a, b ManagedRevision) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// managedRecordsQuery returns a query for cols of abs_image that yields at
// least the records of the managed digests (about digests of them; the
// caller filters), and how many records the table holds. Plain queries:
// PostgreSQL answers the semi-join from one hash of the digests, where a
// join of both tables spills its wide rows to disk; and while the table
// holds not many more records than the fleet (older digests of rebuilt
// images), reading all of it in order is faster still (SQLite: 255 ms
// against 834 ms for 175,000 records).
func managedRecordsQuery(ctx context.Context, q Querier, cols string, digests int) (string, int, error) {
	var total int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM abs_image`).Scan(&total); err != nil {
		return "", 0, err
	}
	query := `SELECT ` + cols + ` FROM abs_image`
	if total > 2*digests {
		query += ` WHERE digest IN (SELECT digest FROM abs_managed)`
	}
	return query, total, nil
}

// FleetRecords reads the records of the given digests (missing ones are
// left out), in chunks the databases' parameter limits allow.
func FleetRecords(ctx context.Context, q Querier, digests []string) (map[string]ImageRecord, error) {
	out := make(map[string]ImageRecord, len(digests))
	for start := 0; start < len(digests); start += packageChunk {
		recs, err := Images(ctx, q, digests[start:min(start+packageChunk, len(digests))])
		if err != nil {
			return nil, err
		}
		maps.Copy(out, recs)
	}
	return out, nil
}

// managedImages reads the managed names and streams the records of
// their digests to decoders on every processor; it returns once the rows
// are read, with the layers they name, so that the caller reads the
// layers while the records are decoded. wait returns the decoded records;
// it must be called.
func managedImages(ctx context.Context, q Querier) (managed map[string]string, layers []string, wait func() (map[string]*ImageRecord, error), err error) {
	type row struct {
		digest, layer, doc string
		rev                int64
	}
	type decoded struct {
		digest string
		rec    ImageRecord
	}
	const batch = 512
	g, gctx := errgroup.WithContext(ctx)
	workers := runtime.GOMAXPROCS(0)
	work := make(chan []row, workers)
	parts := make([][][]decoded, workers) // worker -> its batches
	for w := range workers {
		g.Go(func() error {
			for rs := range work {
				ds := make([]decoded, len(rs))
				for i, r := range rs {
					ds[i] = decoded{digest: r.digest, rec: ImageRecord{Layer: r.layer, Rev: r.rev}}
					if err := json.Unmarshal([]byte(r.doc), &ds[i].rec.Inventory); err != nil {
						return fmt.Errorf("store: image %s: %w", r.digest, err)
					}
				}
				parts[w] = append(parts[w], ds)
			}
			return nil
		})
	}
	wait = func() (map[string]*ImageRecord, error) {
		if err := g.Wait(); err != nil {
			return nil, err
		}
		n := 0
		for _, p := range parts {
			for _, ds := range p {
				n += len(ds)
			}
		}
		out := make(map[string]*ImageRecord, n)
		for _, p := range parts {
			for _, ds := range p {
				for i := range ds {
					out[ds[i].digest] = &ds[i].rec
				}
			}
		}
		return out, nil
	}
	stream := func() error {
		defer close(work)
		var err error
		if managed, err = Managed(gctx, q); err != nil {
			return err
		}
		digests := make(map[string]bool, len(managed))
		for _, d := range managed {
			digests[d] = true
		}
		query, _, err := managedRecordsQuery(gctx, q, `digest, rpmdb_layer, inventory, rev`, len(digests))
		if err != nil {
			return err
		}
		rows, err := q.Query(gctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		need := map[string]bool{}
		rs := make([]row, 0, batch)
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.digest, &r.layer, &r.doc, &r.rev); err != nil {
				return err
			}
			if !digests[r.digest] {
				continue
			}
			need[r.layer] = true
			if rs = append(rs, r); len(rs) == batch {
				select {
				case work <- rs:
				case <-gctx.Done():
					return gctx.Err()
				}
				rs = make([]row, 0, batch)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(rs) > 0 {
			select {
			case work <- rs:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		layers = slices.Sorted(maps.Keys(need))
		return nil
	}
	if err := stream(); err != nil {
		if _, werr := wait(); werr != nil && !errors.Is(werr, context.Canceled) {
			return nil, nil, nil, werr
		}
		return nil, nil, nil, err
	}
	return managed, layers, wait, nil
}
