package rebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
)

// Fingerprinter is an optional interface of a Builder: Fingerprint
// returns an opaque digest of the builder's configuration that can change
// a build's outcome (flags, output format, environment), so that a caller
// tracking attempts (the abs orchestrator) plans a rebuild again when the
// configuration was repaired. Equal configurations must give equal
// fingerprints, and a change that can change the result must change it.
//
// The fingerprint must not hold a credential in clear; a builder's
// registry Credentials are fingerprinted by the caller and are left out
// by Buildah and Command. Because Env values may carry secrets, the
// fingerprint is a hash, and callers should treat it as sensitive (fold
// it into their own digest rather than store or log it).
type Fingerprinter interface {
	Fingerprint() string
}

var (
	_ Fingerprinter = (*Buildah)(nil)
	_ Fingerprinter = (*Command)(nil)
)

// printer builds a fingerprint from length-prefixed fields, so that no
// two field lists give the same input.
type printer struct{ h hash.Hash }

func newPrinter(kind string) *printer {
	p := &printer{h: sha256.New()}
	p.field("kind", kind)
	return p
}

func (p *printer) field(k, v string) {
	p.h.Write([]byte(k))
	p.h.Write([]byte{0})
	p.h.Write([]byte(strconv.Itoa(len(v))))
	p.h.Write([]byte{0})
	p.h.Write([]byte(v))
}

func (p *printer) list(k string, vs []string) {
	p.field(k, strconv.Itoa(len(vs)))
	for _, v := range vs {
		p.field(k, v)
	}
}

func (p *printer) sum() string { return hex.EncodeToString(p.h.Sum(nil)) }

// Fingerprint digests the binary, isolation, storage driver, storage
// roots, pull policy, format, insecure settings, extra arguments and
// environment (keys and values) of b. Credentials and Options are not
// part of it.
func (b *Buildah) Fingerprint() string {
	if b == nil {
		return ""
	}
	p := newPrinter("buildah")
	p.field("path", b.Path)
	p.field("isolation", orDefault(b.Isolation, "chroot"))
	p.field("storage-driver", orDefault(b.StorageDriver, "vfs"))
	p.field("root", b.Root)
	p.field("runroot", b.RunRoot)
	p.field("pull", orDefault(b.Pull, "always"))
	p.field("format", orDefault(b.Format, "oci"))
	p.list("insecure-hosts", b.InsecureHosts)
	p.field("insecure-registries", strconv.FormatBool(b.InsecureRegistries))
	p.list("extra-args", b.ExtraArgs)
	p.list("env", b.Env)
	return p.sum()
}

// Fingerprint digests the argument templates, environment (keys and
// values), archive format, name and insecure hosts of c. Credentials and
// Options are not part of it.
func (c *Command) Fingerprint() string {
	if c == nil {
		return ""
	}
	p := newPrinter("command")
	p.field("name", c.Name())
	p.list("args", c.Args)
	p.list("env", c.Env)
	p.field("format", orDefault(c.Format, FormatOCI))
	p.list("insecure-hosts", c.InsecureHosts)
	return p.sum()
}
