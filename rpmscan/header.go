package rpmscan

import (
	"bytes"
	"encoding/binary"
)

// rpm header tags and types the inventory reads (rpmtag.h).
const (
	tagName            = 1000
	tagVersion         = 1001
	tagRelease         = 1002
	tagEpoch           = 1003
	tagVendor          = 1011
	tagArch            = 1022
	tagSourceRPM       = 1044
	tagModularityLabel = 5096

	typeInt32  = 4
	typeString = 6
)

// parseHeader reads the fields of a Package from an rpm header blob that
// checkHeaderBlob accepted. It reads only the eight tags it reports, in
// place, instead of decoding every tag (file lists, dependencies...) as
// go-rpmdb's ListPackages does: that decoding made almost all of a scan's
// allocations. Values are read the way go-rpmdb reads them (strings up to
// their NUL, "(none)" as empty for the vendor and the source rpm, a
// missing epoch as 0), which TestScanGoRPMDBTestdata checks on every
// database go-rpmdb ships. A tag the inventory reads must have its
// type and lie inside the data; a header without a name is corrupt.
func parseHeader(b []byte) (Package, error) {
	be := binary.BigEndian
	il := int64(be.Uint32(b))
	dl := int64(be.Uint32(b[4:]))
	store := b[8+16*il : 8+16*il+dl]
	var p Package
	named := false
	for i := range il {
		e := b[8+16*i:]
		tag, typ := be.Uint32(e), be.Uint32(e[4:])
		off := int64(int32(be.Uint32(e[8:])))
		var dst *string
		switch tag {
		case tagName:
			dst, named = &p.Name, true
		case tagVersion:
			dst = &p.Version
		case tagRelease:
			dst = &p.Release
		case tagArch:
			dst = &p.Arch
		case tagSourceRPM:
			dst = &p.SourceRPM
		case tagVendor:
			dst = &p.Vendor
		case tagModularityLabel:
			dst = &p.Module
		case tagEpoch:
			if typ != typeInt32 {
				return Package{}, corrupt("header tag %d: type %d, want int32", tag, typ)
			}
			if off < 0 || off+4 > dl {
				return Package{}, corrupt("header tag %d: offset %d outside %d bytes of data", tag, off, dl)
			}
			p.Epoch = int(int32(be.Uint32(store[off:])))
			continue
		default:
			continue
		}
		if typ != typeString {
			return Package{}, corrupt("header tag %d: type %d, want a string", tag, typ)
		}
		if off < 0 || off >= dl {
			return Package{}, corrupt("header tag %d: offset %d outside %d bytes of data", tag, off, dl)
		}
		n := bytes.IndexByte(store[off:], 0)
		if n < 0 {
			return Package{}, corrupt("header tag %d: string without its NUL", tag)
		}
		*dst = string(store[off : off+int64(n)])
	}
	if !named {
		return Package{}, corrupt("header without a package name")
	}
	if p.Vendor == "(none)" {
		p.Vendor = ""
	}
	if p.SourceRPM == "(none)" {
		p.SourceRPM = ""
	}
	return p, nil
}
