package advisory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RepoCPE maps Red Hat repository ids (the content sets an image was built
// from, e.g. "rhel-9-for-x86_64-appstream-rpms") to the CPEs of the
// products they carry, as published in Red Hat's repository-to-cpe.json.
// It is read-only once loaded and safe for concurrent use.
type RepoCPE struct {
	repos   map[string][]string
	updated time.Time
}

// DefaultRepoCPEURL is where Red Hat publishes the repository-to-CPE map.
const DefaultRepoCPEURL = "https://security.access.redhat.com/data/metrics/repository-to-cpe.json"

// NewRepoCPE builds a map from repository id to CPEs; useful in tests and
// for images from other sources.
func NewRepoCPE(m map[string][]string) *RepoCPE {
	c := &RepoCPE{repos: make(map[string][]string, len(m))}
	for k, v := range m {
		c.repos[k] = slices.Clone(v)
	}
	return c
}

// ParseRepoCPE reads repository-to-cpe.json:
// {"data": {"<repo id>": {"cpes": [...], "repo_relative_urls": [...]}}, "last_updated": "…"}.
func ParseRepoCPE(r io.Reader) (*RepoCPE, error) {
	var doc struct {
		Data map[string]struct {
			CPEs []string `json:"cpes"`
		} `json:"data"`
		LastUpdated string `json:"last_updated"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, &ParseError{Doc: "repository-to-cpe.json", Err: err}
	}
	if doc.Data == nil {
		return nil, &ParseError{Doc: "repository-to-cpe.json", Err: errors.New(`no "data" object`)}
	}
	c := &RepoCPE{repos: make(map[string][]string, len(doc.Data))}
	for k, v := range doc.Data {
		c.repos[k] = v.CPEs
	}
	c.updated, _ = time.Parse(time.RFC3339, doc.LastUpdated)
	return c, nil
}

// LoadRepoCPE reads repository-to-cpe.json from a local file or an http(s)
// URL. With WithCacheDir, a downloaded copy is kept with its ETag and
// Last-Modified, later loads send a conditional request, and the cached
// copy is used when the server answers 304 or cannot be reached.
func LoadRepoCPE(ctx context.Context, location string, opts ...Option) (*RepoCPE, error) {
	if !isURL(location) {
		f, err := os.Open(location)
		if err != nil {
			return nil, fmt.Errorf("advisory: repository-to-cpe: %w", err)
		}
		defer f.Close()
		return ParseRepoCPE(f)
	}
	cfg := newConfig(opts)
	var cache, meta string
	var v validator
	if cfg.cacheDir != "" {
		if err := os.MkdirAll(cfg.cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("advisory: repository-to-cpe cache: %w", err)
		}
		cache = filepath.Join(cfg.cacheDir, "repository-to-cpe.json")
		meta = cache + ".validator"
		if b, err := os.ReadFile(meta); err == nil {
			_ = json.Unmarshal(b, &v)
		}
		if _, err := os.Stat(cache); err != nil {
			v = validator{}
		}
	}
	h := &fetcher{cfg: cfg}
	body, nv, err := h.get(ctx, location, v)
	switch {
	case errors.Is(err, errNotModified):
		f, err := os.Open(cache)
		if err != nil {
			return nil, fmt.Errorf("advisory: repository-to-cpe cache: %w", err)
		}
		defer f.Close()
		return ParseRepoCPE(f)
	case err != nil && cache != "":
		if f, ferr := os.Open(cache); ferr == nil {
			defer f.Close()
			cfg.logger.WarnContext(ctx, "using cached repository-to-cpe.json", "url", location, "error", err)
			return ParseRepoCPE(f)
		}
		return nil, err
	case err != nil:
		return nil, err
	}
	m, err := ParseRepoCPE(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if cache != "" {
		if err := writeFileAtomic(cache, body); err == nil {
			b, _ := json.Marshal(nv)
			_ = writeFileAtomic(meta, b)
		}
	}
	return m, nil
}

func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// CPEs returns the CPEs of a repository id, or nil when it is unknown.
func (c *RepoCPE) CPEs(repo string) []string {
	if c == nil {
		return nil
	}
	return c.repos[repo]
}

// Len returns the number of repositories known.
func (c *RepoCPE) Len() int {
	if c == nil {
		return 0
	}
	return len(c.repos)
}

// Updated returns the map's last_updated time, if it had one.
func (c *RepoCPE) Updated() time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.updated
}

// cpeKey reduces a CPE (2.2 URI "cpe:/o:redhat:enterprise_linux:9::baseos"
// or 2.3 "cpe:2.3:o:redhat:enterprise_linux:9:*:…") to its first five
// segments without the "cpe" prefix, "o:redhat:enterprise_linux:9": the part
// (/o or /a) is kept and the channel specifier ("::baseos") dropped, as Red
// Hat's guidance for scanning vendors says. ok is false when the string is
// not a CPE with a part, vendor, product and version.
func cpeKey(s string) (key string, ok bool) {
	var f []string
	switch {
	case strings.HasPrefix(s, "cpe:/"):
		f = strings.SplitN(s[len("cpe:/"):], ":", 5)
	case strings.HasPrefix(s, "cpe:2.3:"):
		f = strings.SplitN(s[len("cpe:2.3:"):], ":", 5)
	default:
		return "", false
	}
	if len(f) < 4 || f[0] == "" || f[1] == "" || f[2] == "" || f[3] == "" || f[3] == "*" || f[3] == "-" {
		return "", false
	}
	return strings.ToLower(f[0] + ":" + f[1] + ":" + f[2] + ":" + f[3]), true
}

// keyString turns a key back into a CPE 2.2 URI.
func keyString(key string) string { return "cpe:/" + key }

// majorKey returns the major-only form of a key whose version has a minor
// part ("a:redhat:openshift:4.16" gives "a:redhat:openshift:4"), and ""
// otherwise.
func majorKey(key string) string {
	i := strings.LastIndexByte(key, ':')
	ver := key[i+1:]
	if j := strings.IndexByte(ver, '.'); j > 0 {
		return key[:i+1] + ver[:j]
	}
	return ""
}

// mainStreamKey returns the main RHEL stream of an extended-support
// (EUS, AUS, E4S, TUS) key, keeping the part: "a:redhat:rhel_eus:9.2" gives
// "a:redhat:enterprise_linux:9", since main streams up to RHEL 9 carry the
// major only, and "o:redhat:enterprise_linux_eus:10.2" gives
// "o:redhat:enterprise_linux:10.2", since from RHEL 10 on they carry the
// minor too. It returns "" for keys of other products.
func mainStreamKey(key string) string {
	f := strings.Split(key, ":")
	if len(f) != 4 || f[1] != "redhat" {
		return ""
	}
	major, _, _ := strings.Cut(f[3], ".")
	switch f[2] {
	case "rhel_eus", "rhel_aus", "rhel_e4s", "rhel_tus", "rhel_eus_long_life":
		if n, err := strconv.Atoi(major); err == nil && n >= 10 {
			return f[0] + ":redhat:enterprise_linux:" + f[3]
		}
		return f[0] + ":redhat:enterprise_linux:" + major
	case "enterprise_linux_eus", "enterprise_linux_aus", "enterprise_linux_e4s", "enterprise_linux_tus":
		return f[0] + ":redhat:enterprise_linux:" + f[3]
	}
	return ""
}

// reach is one product key an image CPE leads to, and the rule that leads
// there.
type reach struct {
	key  string
	rule MatchRule
}

// imageKeys lists the product keys an image CPE is checked against, best
// rule first: the CPE itself (MatchContentSet), its major-only form when it
// has a minor (MatchMajorVersion: unfixed entries carry the major only),
// and for an extended-support stream its main stream and that stream's
// major-only form (MatchMainStream, which the Index applies only to CVEs
// without a fix for the image's own stream). CPEMatch and the Index both
// decide through it.
func imageKeys(key string) []reach {
	out := []reach{{key, MatchContentSet}}
	if mk := majorKey(key); mk != "" {
		out = append(out, reach{mk, MatchMajorVersion})
	}
	if ms := mainStreamKey(key); ms != "" {
		out = append(out, reach{ms, MatchMainStream})
		if mk := majorKey(ms); mk != "" {
			out = append(out, reach{mk, MatchMainStream})
		}
	}
	return out
}

// CPEMatch reports whether an advisory's product CPE applies to an image
// CPE (one of those its content sets map to) the way Red Hat tells scanning
// vendors to match them: the first five segments (cpe, part, vendor,
// product, version) agree, so the part (/o or /a) must agree and the
// channel specifier ("::appstream") is ignored; and a product CPE with a
// major-only version ("cpe:/a:redhat:openshift:4", as unfixed entries carry
// it) applies to an image CPE of that major with a minor
// ("cpe:/a:redhat:openshift:4.16::el9"). The relation is not symmetric: a
// major-only image CPE does not cover product CPEs with a minor.
//
// An extended-support image CPE ("cpe:/o:redhat:rhel_eus:9.2::baseos")
// does not match its main stream here: the Index checks the main stream
// only for a CVE that is unfixed or has no fix for the image's own stream
// (see MatchMainStream). CPEMatch and the Index decide through one
// implementation.
func CPEMatch(image, product string) bool {
	ki, ok1 := cpeKey(image)
	kp, ok2 := cpeKey(product)
	if !ok1 || !ok2 {
		return false
	}
	for _, r := range imageKeys(ki) {
		if r.key == kp && r.rule != MatchMainStream {
			return true
		}
	}
	return false
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
