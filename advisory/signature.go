package advisory

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
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
	if major, _, _ := strings.Cut(inv.OS.VersionID, "."); !isNumber(major) {
		field(elMajor(inv.Packages)) // applicableTo falls back to it
	}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		if len(ix.names[p.Name]) == 0 && len(ix.unfixed[p.Name]) == 0 {
			continue
		}
		field(p.Name)
		field(strconv.Itoa(p.Epoch))
		field(p.Version)
		field(p.Release)
		field(p.Arch)
		field(p.Module)
	}
	if inv.Base != nil {
		writeBase(h, inv)
	}
	var s Signature
	h.Sum(s[:0])
	return s
}

// writeBase adds to h what the base-image rules read: the base, the
// content manifests and the architecture label.
func writeBase(h hash.Hash, inv *rpmscan.Inventory) {
	doc, _ := json.Marshal(struct {
		Base      *rpmscan.BaseImage
		BuildInfo []rpmscan.BuildInfo
		Arch      string
	}{inv.Base, inv.BuildInfo, inv.Image.Labels["architecture"]})
	h.Write([]byte{0})
	_, _ = h.Write(doc)
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
