package advisory

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/openabs/abs/rpmscan"
)

// Signature is a digest of what [Index.Match] and [Index.Unfixed] read
// from an inventory.
type Signature [sha256.Size]byte

// Signature returns the digest of everything in inv that Match and
// Unfixed of this index read: the OS and content sets (the products that
// apply), the packages with a name the index holds fixes or VEX entries
// for, in order, and the image's base and architecture. Inventories with
// the same signature get the same findings and unfixed CVEs from this
// index, so a fleet of images over a few bases is matched once per
// distinct signature: an image that added packages no advisory names
// shares its base's. A signature compares only within one index.
func (ix *Index) Signature(inv *rpmscan.Inventory) Signature {
	h := sha256.New()
	field := func(s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		_, _ = h.Write([]byte(s))
	}
	field(inv.OS.ID)
	field(inv.OS.VersionID)
	field(inv.OS.CPEName)
	field(strconv.Itoa(len(inv.ContentSets)))
	for _, cs := range inv.ContentSets {
		field(cs)
	}
	if NeedsAllPackages(inv) {
		field(elMajor(inv.Packages)) // applicableTo falls back to it
	}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		if !ix.Relevant(p.Name) {
			continue
		}
		field(p.Name)
		field(strconv.Itoa(p.Epoch))
		field(p.Version)
		field(p.Release)
		field(p.Arch)
		field(p.Module)
	}
	field(BaseKey(inv))
	var s Signature
	h.Sum(s[:0])
	return s
}

// Relevant reports whether the index holds fixes or VEX entries for
// packages called name. Match, Unfixed and Signature read only those
// packages, except that an inventory whose OS version names no major
// release is placed by the releases of all its packages; a caller holding
// many inventories can thus tell which share a signature before asking
// for it.
func (ix *Index) Relevant(name string) bool {
	return len(ix.names[name]) > 0 || len(ix.unfixed[name]) > 0
}

// NeedsAllPackages reports whether Signature reads the releases of all
// the inventory's packages, not only the relevant ones: when its OS
// version names no major release.
func NeedsAllPackages(inv *rpmscan.Inventory) bool {
	major, _, _ := strings.Cut(inv.OS.VersionID, ".")
	return !isNumber(major)
}

// BaseKey spells what the base-image rules read from an inventory: its
// base, its content manifests and its architecture label. It is empty for
// an inventory without a base, and equal for inventories the rules cannot
// tell apart.
func BaseKey(inv *rpmscan.Inventory) string {
	if inv.Base == nil {
		return ""
	}
	doc, _ := json.Marshal(struct {
		Base      *rpmscan.BaseImage
		BuildInfo []rpmscan.BuildInfo
		Arch      string
	}{inv.Base, inv.BuildInfo, inv.Image.Labels["architecture"]})
	return string(doc)
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
