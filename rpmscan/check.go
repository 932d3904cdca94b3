package rpmscan

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
)

// The checks below walk each backend the way go-rpmdb v0.1.1 does, but with
// every offset, length and page chain bounded. A file that passes cannot make
// go-rpmdb's reader goroutine index out of range, loop forever or allocate
// more than the file holds.

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

func checkSQLite(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return corrupt("open sqlite: %v", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT blob FROM Packages")
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return corrupt("query Packages: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return corrupt("scan Packages row: %v", err)
		}
		if blob == nil {
			return corrupt("NULL header blob")
		}
		if err := checkHeaderBlob(blob); err != nil {
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

var validBDBPageSizes = map[uint32]bool{512: true, 1024: true, 2048: true, 4096: true, 8192: true, 16384: true, 32768: true, 65536: true}

func checkBDB(ctx context.Context, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	head := make([]byte, 512)
	copy(head, data)
	meta, err := bdb.ParseHashMetadataPage(head)
	if err != nil {
		return corrupt("bdb metadata: %v", err)
	}
	ps := uint64(meta.PageSize)
	if !validBDBPageSizes[meta.PageSize] {
		return corrupt("bdb page size %d", meta.PageSize)
	}
	last := uint64(meta.LastPageNo)
	if (last+1)*ps > uint64(len(data)) {
		return corrupt("bdb claims %d pages of %d bytes, file has %d bytes", last+1, ps, len(data))
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if meta.Swapped {
		order = binary.BigEndian
	}
	seen := make([]uint32, last+1) // chain id that last visited each page
	chain := uint32(0)
	for pn := uint64(0); pn <= last; pn++ {
		if pn%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		page := data[pn*ps : (pn+1)*ps]
		hp, err := bdb.ParseHashPage(page, meta.Swapped)
		if err != nil {
			return corrupt("bdb page %d: %v", pn, err)
		}
		if hp.PageType != bdb.HashUnsortedPageType && hp.PageType != bdb.HashPageType {
			continue
		}
		ne := uint64(hp.NumEntries)
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
			entry, err := bdb.ParseHashOffPageEntry(page[v:v+bdb.HashOffPageSize], meta.Swapped)
			if err != nil {
				return corrupt("bdb page %d: %v", pn, err)
			}
			chain++
			var blob []byte
			for cur := uint64(entry.PageNo); cur != 0; {
				if cur > last || cur*ps >= 1<<32 {
					return corrupt("bdb overflow page %d out of range", cur)
				}
				if seen[cur] == chain {
					return corrupt("bdb overflow chain loops at page %d", cur)
				}
				seen[cur] = chain
				op := data[cur*ps : (cur+1)*ps]
				oh, err := bdb.ParseHashPage(op, meta.Swapped)
				if err != nil {
					return corrupt("bdb overflow page %d: %v", cur, err)
				}
				if oh.PageType != bdb.OverflowPageType {
					return corrupt("bdb page %d in a value chain is of type %d", cur, oh.PageType)
				}
				if oh.NextPageNo == 0 {
					end := bdb.PageHeaderSize + uint64(oh.FreeAreaOffset)
					if end > ps {
						return corrupt("bdb overflow page %d: free offset %d beyond page", cur, oh.FreeAreaOffset)
					}
					blob = append(blob, op[bdb.PageHeaderSize:end]...)
				} else {
					blob = append(blob, op[bdb.PageHeaderSize:]...)
				}
				cur = uint64(oh.NextPageNo)
			}
			if err := checkHeaderBlob(blob); err != nil {
				return err
			}
		}
	}
	return nil
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

func checkNDB(ctx context.Context, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if len(data) < ndbHeaderSize {
		return corrupt("ndb header truncated")
	}
	le := binary.LittleEndian
	version, npages := le.Uint32(data[4:]), uint64(le.Uint32(data[12:]))
	if version != ndbSupportedFormat || npages == 0 || npages > ndbMaxSlotPages {
		return corrupt("ndb header: version %d, %d slot pages", version, npages)
	}
	nslots := npages*ndbSlotsPerPage - 2 // the header takes two slots
	if ndbHeaderSize+nslots*ndbSlotSize > uint64(len(data)) {
		return corrupt("ndb slot pages truncated")
	}
	size := uint64(len(data))
	for i := range nslots {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s := data[ndbHeaderSize+i*ndbSlotSize:]
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
		bh := data[off:]
		if le.Uint32(bh) != ndbBlobMagic || le.Uint32(bh[4:]) != pkg {
			return corrupt("ndb package %d: bad blob header", pkg)
		}
		n := uint64(le.Uint32(bh[12:]))
		if off+ndbBlobHeaderSize+n > size {
			return corrupt("ndb package %d: blob of %d bytes beyond file", pkg, n)
		}
		if err := checkHeaderBlob(data[off+ndbBlobHeaderSize : off+ndbBlobHeaderSize+n]); err != nil {
			return err
		}
	}
	return nil
}
