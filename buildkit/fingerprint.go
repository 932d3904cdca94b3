package buildkit

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/openabs/abs/rebuild"
)

var _ rebuild.Fingerprinter = (*Builder)(nil)

// Fingerprint digests the settings of b that can change a build's
// result: Platforms, InsecureHosts, Cache, MaxAttempts and the ids of
// Secrets (not their values). The Pool's daemons, Credentials, Options,
// Repository and Logger are not part of it.
func (b *Builder) Fingerprint() string {
	if b == nil {
		return ""
	}
	h := sha256.New()
	field := func(k, v string) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(v))))
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	list := func(k string, vs []string) {
		field(k, strconv.Itoa(len(vs)))
		for _, v := range vs {
			field(k, v)
		}
	}
	list("platforms", b.Platforms)
	list("insecure-hosts", b.InsecureHosts)
	field("cache", b.Cache)
	field("max-attempts", strconv.Itoa(b.MaxAttempts))
	ids := make([]string, 0, len(b.Secrets))
	for id := range b.Secrets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	list("secrets", ids)
	return hex.EncodeToString(h.Sum(nil))
}
