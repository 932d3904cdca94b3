package abs

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"os"
	"sort"
	"strconv"

	"github.com/openabs/abs/rebuild"
)

// inputs fingerprints everything besides the image digest and the cause
// that can change a rebuild's outcome: the base the image is built on
// now, the image's configuration (tags, build arguments, declared base),
// its source (URL, revision, the commit the revision names now, context,
// build file, host verification including the known_hosts file's
// content) and the credentials a rebuild uses (git token and keys, the
// builder's registry credentials, the registry credentials of reads,
// staging pushes and the publisher for the image's registry) and the
// builder's configuration (rebuild.Fingerprinter: Buildah's and Command's
// flags, format and environment, and a user builder's). It is part
// of the rebuild's id, so a change plans a new rebuild at once: a failed
// rebuild is tried again when its branch moved on or a password changed.
//
// Credentials enter only through a separate SHA-256 (their
// "generation"), folded into a truncated digest: neither the secret nor
// a hash of it alone is stored.
//
// inputs is the fingerprint without the plan-time lookups; the cycle
// replaces it with inputsAt once it resolved the source's commit
// (sourceCommits) and the registry credentials (credentialPrints).
func (o *Orchestrator) inputs(s *imageState) string { return o.inputsAt(s, "", "") }

// inputsAt is inputs with the commit the source's revision names now and
// the fingerprint of the registry credentials for the image.
func (o *Orchestrator) inputsAt(s *imageState, commit, registryCreds string) string {
	h := sha256.New()
	field := func(k, v string) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(v))))
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	img := s.img
	field("base", s.baseName)
	field("base-digest", s.baseDigest)
	field("base-now", s.baseNow)
	field("repository", img.Repository)
	field("tag", img.Tag)
	for _, t := range img.Tags {
		field("tags", t)
	}
	field("declared-base", img.Base)
	keys := make([]string, 0, len(img.BuildArgs))
	for k := range img.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field("arg:"+k, img.BuildArgs[k])
	}
	field("builder", strconv.FormatBool(o.builder != nil))
	field("rebaser", strconv.FormatBool(o.rebaser != nil))
	cred := sha256.New()
	if src := img.Source; src != nil {
		field("url", src.URL)
		field("branch", src.Branch)
		field("tag", src.Tag)
		field("commit", src.Commit)
		field("resolved-commit", commit)
		field("context", src.ContextDir)
		field("containerfile", src.Containerfile)
		field("user", src.Auth.Username)
		field("insecure-host-key", strconv.FormatBool(src.Auth.InsecureIgnoreHostKey))
		field("known-hosts", string(src.Auth.KnownHosts))
		if f := src.Auth.KnownHostsFile; f != "" {
			b, _ := os.ReadFile(f) // a missing file is an input too
			field("known-hosts-file", f+"\x00"+string(b))
		}
		field("ca", string(src.Auth.CABundle))
		credField(cred, "token", src.Auth.Token.Reveal())
		credField(cred, "ssh-key", src.Auth.SSHKey.Reveal())
		credField(cred, "passphrase", src.Auth.SSHKeyPassphrase.Reveal())
	}
	// The builders' configuration (flags, format, environment) enters
	// through the credential digest, since environment values may hold
	// secrets.
	if f, ok := o.builder.(rebuild.Fingerprinter); ok {
		credField(cred, "builder-config", o.builder.Name()+"\x00"+f.Fingerprint())
	}
	if f, ok := o.rebaser.(rebuild.Fingerprinter); ok {
		credField(cred, "rebaser-config", o.rebaser.Name()+"\x00"+f.Fingerprint())
	}
	var logins map[string]rebuild.Credential
	switch b := o.builder.(type) {
	case *rebuild.Buildah:
		logins = b.Credentials
		for _, host := range b.InsecureHosts {
			field("insecure-registry", host)
		}
	case *rebuild.Command:
		logins = b.Credentials
		for _, host := range b.InsecureHosts {
			field("insecure-registry", host)
		}
	}
	hosts := make([]string, 0, len(logins))
	for host := range logins {
		hosts = append(hosts, host)
	}
	sort.Strings(hosts)
	for _, host := range hosts {
		c := logins[host]
		credField(cred, "registry:"+host, c.Username+"\x00"+c.Password.Reveal())
	}
	credField(cred, "registry-credentials", registryCreds)
	field("credentials", string(cred.Sum(nil)))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func credField(h hash.Hash, k, v string) {
	h.Write([]byte(k))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(len(v))))
	h.Write([]byte{0})
	h.Write([]byte(v))
}
