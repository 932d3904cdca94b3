package rpmscan

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
)

// The walks below read each backend the way go-rpmdb v0.1.1 does, but with
// every offset, length and page chain bounded, so a damaged or hostile file
// cannot make them index out of range, loop forever or allocate more than
// the file holds. They parse each package header as they reach it.

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptRPMDB, fmt.Sprintf(format, args...))
}

// checkHeaderBlob bounds an rpm header blob the way rpm's hdrblobInit does
// before go-rpmdb allocates from its counts.
func checkHeaderBlob(b []byte) error {
	if len(b) < 8 {
		return corrupt("header blob of %d bytes", len(b))
	}
	il := int64(int32(binary.BigEndian.Uint32(b)))
	dl := int64(int32(binary.BigEndian.Uint32(b[4:])))
	if il < 1 || il > 0xffff {
		return corrupt("header index length %d", il)
	}
	if dl < 0 || dl > 0x0fffffff {
		return corrupt("header data length %d", dl)
	}
	if 8+16*il+dl > int64(len(b)) {
		return corrupt("header blob of %d bytes shorter than its counts (il=%d dl=%d)", len(b), il, dl)
	}
	// Every element of every tag takes at least one byte of data. go-rpmdb
	// loops count times over string arrays, so an absurd count would keep it
	// busy for billions of iterations.
	for i := range il {
		e := b[8+16*i:]
		if count := int64(binary.BigEndian.Uint32(e[12:])); count > dl {
			return corrupt("header tag %d: count %d exceeds data length %d", int32(binary.BigEndian.Uint32(e)), count, dl)
		}
	}
	return nil
}

// budget counts package headers against the scan's limits.
type budget struct {
	lim   limits
	n     int
	bytes int64
	pkgs  []Package // parsed so far
}

// add checks and parses one header blob.
func (b *budget) add(blob []byte) error {
	if err := checkHeaderBlob(blob); err != nil {
		return err
	}
	p, err := parseHeader(blob)
	if err != nil {
		return err
	}
	b.pkgs = append(b.pkgs, p)
	return nil
}

// header counts one header of size bytes; it fails before the header is
// read when a limit would be passed.
func (b *budget) header(size int64) error {
	b.n++
	if b.n > b.lim.packages {
		return fmt.Errorf("%w: more than %d", ErrTooManyPackages, b.lim.packages)
	}
	if size > maxHeaderSize {
		return fmt.Errorf("%w: one header of %d bytes > %d", ErrRPMDBTooLarge, size, maxHeaderSize)
	}
	b.bytes += size
	if b.bytes > b.lim.headerBytes {
		return fmt.Errorf("%w: over %d bytes of headers", ErrRPMDBTooLarge, b.lim.headerBytes)
	}
	return nil
}

// checkSQLiteSchema checks that Packages is a plain table with a blob
// column stored as data: a view (recursive or of huge zeroblobs), a
// virtual table or a generated column could make go-rpmdb's
// "SELECT blob FROM Packages" run for ever or produce unbounded data from
// a small file.
func checkSQLiteSchema(ctx context.Context, db *sql.DB) error {
	var typ, ddl string
	err := db.QueryRowContext(ctx,
		`SELECT type, coalesce(sql, '') FROM sqlite_schema WHERE name = 'Packages' COLLATE NOCASE`).Scan(&typ, &ddl)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return corrupt("no Packages table")
		}
		return corrupt("read schema: %v", err)
	}
	if typ != "table" || !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ddl)), "CREATE TABLE") {
		return corrupt("Packages is a %s, not a plain table", typ)
	}
	rows, err := db.QueryContext(ctx, `SELECT name, hidden FROM pragma_table_xinfo('Packages')`)
	if err != nil {
		return corrupt("read Packages columns: %v", err)
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var name string
		var hidden int
		if err := rows.Scan(&name, &hidden); err != nil {
			return corrupt("read Packages columns: %v", err)
		}
		name = strings.ToLower(name)
		if (name == "blob" || name == "hnum") && hidden != 0 {
			return corrupt("Packages.%s is a generated column", name)
		}
		found[name] = true
	}
	if err := rows.Err(); err != nil {
		return corrupt("read Packages columns: %v", err)
	}
	if !found["blob"] || !found["hnum"] {
		return corrupt("Packages lacks the hnum and blob columns")
	}
	return nil
}

func checkSQLite(ctx context.Context, file string, lim limits) ([]Package, error) {
	b := &budget{lim: lim}
	err := sqlitePackages(ctx, file, b)
	return b.pkgs, err
}

func sqlitePackages(ctx context.Context, file string, b *budget) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return corrupt("open sqlite: %v", err)
	}
	defer db.Close()
	if err := checkSQLiteSchema(ctx, db); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return err
	}
	// First the sizes, which sqlite reads without loading the blobs, so
	// the limits hold before any header is read.
	err = sqliteRows(ctx, db, "SELECT typeof(blob), length(blob) FROM Packages", func(rows *sql.Rows) error {
		var typ string
		var n int64
		if err := rows.Scan(&typ, &n); err != nil {
			return corrupt("scan Packages row: %v", err)
		}
		if typ != "blob" {
			return corrupt("header is a %s, not a blob", typ)
		}
		return b.header(n)
	})
	if err != nil {
		return err
	}
	return sqliteRows(ctx, db, "SELECT blob FROM Packages", func(rows *sql.Rows) error {
		var blob sql.RawBytes // valid until the next row; not copied
		if err := rows.Scan(&blob); err != nil {
			return corrupt("scan Packages row: %v", err)
		}
		if blob == nil {
			return corrupt("NULL header blob")
		}
		return b.add(blob)
	})
}

// sqliteRows runs query and calls row for each row.
func sqliteRows(ctx context.Context, db *sql.DB, query string, row func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return corrupt("query Packages: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return corrupt("read Packages: %v", err)
	}
	return nil
}

// dbFile reads a database file in pieces, so a check holds no more than a
// page or one header in memory.
type dbFile struct {
	f    *os.File
	size int64
}

func openDBFile(file string) (*dbFile, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &dbFile{f: f, size: fi.Size()}, nil
}

// at fills buf from offset off; the caller has checked the range.
func (d *dbFile) at(buf []byte, off int64) error {
	if _, err := d.f.ReadAt(buf, off); err != nil {
		return corrupt("read at %d: %v", off, err)
	}
	return nil
}

var validBDBPageSizes = map[uint32]bool{512: true, 1024: true, 2048: true, 4096: true, 8192: true, 16384: true, 32768: true, 65536: true}

func checkBDB(ctx context.Context, file string, lim limits) ([]Package, error) {
	b := &budget{lim: lim}
	err := bdbPackages(ctx, file, b)
	return b.pkgs, err
}

func bdbPackages(ctx context.Context, file string, b *budget) error {
	d, err := openDBFile(file)
	if err != nil {
		return err
	}
	defer d.f.Close()
	head := make([]byte, 512)
	if err := d.at(head[:min(512, d.size)], 0); err != nil {
		return err
	}
	meta, err := bdb.ParseHashMetadataPage(head)
	if err != nil {
		return corrupt("bdb metadata: %v", err)
	}
	ps := uint64(meta.PageSize)
	if !validBDBPageSizes[meta.PageSize] {
		return corrupt("bdb page size %d", meta.PageSize)
	}
	last := uint64(meta.LastPageNo)
	if (last+1)*ps > uint64(d.size) {
		return corrupt("bdb claims %d pages of %d bytes, file has %d bytes", last+1, ps, d.size)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if meta.Swapped {
		order = binary.BigEndian
	}
	main, over := newPageCache(d, ps, pageBlock), newPageCache(d, ps, overflowBlock)
	seen := make([]uint32, last+1) // chain id that last visited each page
	chain := uint32(0)
	var blob []byte // reused from header to header
	for pn := uint64(0); pn <= last; pn++ {
		if pn%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		page, err := main.page(pn)
		if err != nil {
			return err
		}
		hp := parseBDBPage(page, order)
		if hp.typ != bdb.HashUnsortedPageType && hp.typ != bdb.HashPageType {
			continue
		}
		ne := uint64(hp.entries)
		if ne%2 != 0 {
			return corrupt("bdb page %d: odd entry count %d", pn, ne)
		}
		if bdb.PageHeaderSize+ne*bdb.HashIndexEntrySize > min(ps, 0xffff) {
			return corrupt("bdb page %d: %d entries overflow the page", pn, ne)
		}
		index := page[bdb.PageHeaderSize : bdb.PageHeaderSize+ne*bdb.HashIndexEntrySize]
		// Entries come in key/value pairs; go-rpmdb reads the values.
		for i := 2; i+2 <= len(index); i += 4 {
			v := uint64(order.Uint16(index[i:]))
			if v >= ps {
				return corrupt("bdb page %d: entry offset %d beyond page", pn, v)
			}
			if page[v] != bdb.HashOffIndexPageType {
				continue
			}
			if v+bdb.HashOffPageSize > ps {
				return corrupt("bdb page %d: off-page entry at %d crosses the page end", pn, v)
			}
			// A HOFFPAGE entry: type, 3 bytes of padding, page number,
			// length (db_page.h).
			entryPage, entryLen := order.Uint32(page[v+4:]), order.Uint32(page[v+8:])
			if err := b.header(int64(entryLen)); err != nil {
				return err
			}
			chain++
			// The chain holds the header: room for all of it at once
			// (the length is bounded by the limits and the file).
			blob = slices.Grow(blob[:0], int(min(int64(entryLen), d.size)))
			for cur := uint64(entryPage); cur != 0; {
				if cur > last || cur*ps >= 1<<32 {
					return corrupt("bdb overflow page %d out of range", cur)
				}
				if seen[cur] == chain {
					return corrupt("bdb overflow chain loops at page %d", cur)
				}
				seen[cur] = chain
				op := main.cached(cur)
				if op == nil {
					if op, err = over.page(cur); err != nil {
						return err
					}
				}
				oh := parseBDBPage(op, order)
				if oh.typ != bdb.OverflowPageType {
					return corrupt("bdb page %d in a value chain is of type %d", cur, oh.typ)
				}
				if oh.next == 0 {
					end := bdb.PageHeaderSize + uint64(oh.free)
					if end > ps {
						return corrupt("bdb overflow page %d: free offset %d beyond page", cur, oh.free)
					}
					blob = append(blob, op[bdb.PageHeaderSize:end]...)
				} else {
					blob = append(blob, op[bdb.PageHeaderSize:]...)
				}
				// go-rpmdb reads the whole chain, whatever the entry's
				// length says, so the chain itself is bounded.
				if len(blob) > maxHeaderSize {
					return fmt.Errorf("%w: a header chain longer than %d bytes", ErrRPMDBTooLarge, maxHeaderSize)
				}
				cur = uint64(oh.next)
			}
			if err := b.add(blob); err != nil {
				return err
			}
		}
	}
	return nil
}

// bdbPage is the part of a Berkeley DB page header the walk reads.
type bdbPage struct {
	next    uint32 // next page of an overflow chain, 0 at its end
	entries uint16
	free    uint16 // high free byte offset
	typ     uint8
}

// parseBDBPage reads the header of a page of at least
// bdb.PageHeaderSize bytes, laid out as db_page.h's PAGE (what
// bdb.ParseHashPage decodes, without its allocations).
func parseBDBPage(p []byte, order binary.ByteOrder) bdbPage {
	return bdbPage{next: order.Uint32(p[16:]), entries: order.Uint16(p[20:]), free: order.Uint16(p[22:]), typ: p[25]}
}

// How many bytes a pageCache reads at once: the walk through the hash
// pages is sequential, while overflow chains run one or two pages before
// they jump (centos7-many: 5,163 steps to the next page, 2,866 jumps), so
// they read two 4 KiB pages at a time (BenchmarkReadRPMDB/bdb: 26.5 ms
// with 32 KiB blocks, 24.7 ms with 8 KiB, 26.8 ms with 4 KiB).
const (
	pageBlock     = 256 << 10
	overflowBlock = 8 << 10
)

// pageCache reads pages of a database file a block at a time, so a walk
// through consecutive pages makes one read per block, not per page.
type pageCache struct {
	d     *dbFile
	ps    uint64
	buf   []byte
	start uint64 // file offset of buf
}

func newPageCache(d *dbFile, ps uint64, block int) *pageCache {
	return &pageCache{d: d, ps: ps, buf: make([]byte, 0, max(uint64(block), ps))}
}

// cached returns page pn if it is in the cache.
func (c *pageCache) cached(pn uint64) []byte {
	off := pn * c.ps
	if off < c.start || off+c.ps > c.start+uint64(len(c.buf)) {
		return nil
	}
	return c.buf[off-c.start : off-c.start+c.ps]
}

// page returns page pn, valid until the next call; the caller has checked
// that the page lies inside the file.
func (c *pageCache) page(pn uint64) ([]byte, error) {
	off := pn * c.ps
	if off < c.start || off+c.ps > c.start+uint64(len(c.buf)) {
		n := min(uint64(cap(c.buf)), uint64(c.d.size)-off)
		n -= n % c.ps
		c.buf = c.buf[:n]
		if err := c.d.at(c.buf, int64(off)); err != nil {
			c.buf = c.buf[:0]
			return nil, err
		}
		c.start = off
	}
	return c.buf[off-c.start : off-c.start+c.ps], nil
}

const (
	ndbHeaderSize      = 32
	ndbSlotSize        = 16
	ndbSlotsPerPage    = 4096 / ndbSlotSize
	ndbBlobHeaderSize  = 16
	ndbMaxSlotPages    = 2048
	ndbSlotMagic       = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic       = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbSupportedFormat = 0
)

func checkNDB(ctx context.Context, file string, lim limits) ([]Package, error) {
	b := &budget{lim: lim}
	err := ndbPackages(ctx, file, b)
	return b.pkgs, err
}

func ndbPackages(ctx context.Context, file string, b *budget) error {
	d, err := openDBFile(file)
	if err != nil {
		return err
	}
	defer d.f.Close()
	if d.size < ndbHeaderSize {
		return corrupt("ndb header truncated")
	}
	head := make([]byte, ndbHeaderSize)
	if err := d.at(head, 0); err != nil {
		return err
	}
	le := binary.LittleEndian
	version, npages := le.Uint32(head[4:]), uint64(le.Uint32(head[12:]))
	if version != ndbSupportedFormat || npages == 0 || npages > ndbMaxSlotPages {
		return corrupt("ndb header: version %d, %d slot pages", version, npages)
	}
	nslots := npages*ndbSlotsPerPage - 2 // the header takes two slots
	size := uint64(d.size)
	if ndbHeaderSize+nslots*ndbSlotSize > size {
		return corrupt("ndb slot pages truncated")
	}
	slots := make([]byte, nslots*ndbSlotSize) // at most 8 MiB
	if err := d.at(slots, ndbHeaderSize); err != nil {
		return err
	}
	bh := make([]byte, ndbBlobHeaderSize)
	var blob []byte
	for i := range nslots {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s := slots[i*ndbSlotSize:]
		if le.Uint32(s) != ndbSlotMagic {
			return corrupt("ndb slot %d: bad magic", i)
		}
		pkg := le.Uint32(s[4:])
		if pkg == 0 {
			continue
		}
		off := uint64(le.Uint32(s[8:])) * ndbBlobHeaderSize
		if off+ndbBlobHeaderSize > size {
			return corrupt("ndb package %d: blob offset beyond file", pkg)
		}
		if err := d.at(bh, int64(off)); err != nil {
			return err
		}
		if le.Uint32(bh) != ndbBlobMagic || le.Uint32(bh[4:]) != pkg {
			return corrupt("ndb package %d: bad blob header", pkg)
		}
		n := uint64(le.Uint32(bh[12:]))
		if off+ndbBlobHeaderSize+n > size {
			return corrupt("ndb package %d: blob of %d bytes beyond file", pkg, n)
		}
		if err := b.header(int64(n)); err != nil {
			return err
		}
		if uint64(cap(blob)) < n {
			blob = make([]byte, n)
		}
		blob = blob[:n]
		if err := d.at(blob, int64(off+ndbBlobHeaderSize)); err != nil {
			return err
		}
		if err := b.add(blob); err != nil {
			return err
		}
	}
	return nil
}
