package abs

import (
	"fmt"
	"net/url"
	"strings"
)

// WithLocalSources lets projects created or changed at runtime (through
// CreateProject, CreateImage, UpdateImage and so the REST API and the
// console) name a file:// or http:// git source. It is off by default: a
// file:// URL lets anyone who may edit a project build any repository the
// server can read, and http:// sends a token in clear. Projects given to
// New (the operator's configuration) may always use them.
func WithLocalSources() Option { return func(o *Orchestrator) { o.localSources = true } }

// runtimeSource refuses, unless WithLocalSources is given, the source
// URLs a project editor must not choose: file:// (and a bare path) and
// http://.
func (o *Orchestrator) runtimeSource(s *SourceSpec) error {
	if s == nil || o.localSources || scpLikeRE.MatchString(s.URL) {
		return nil
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return invalid("source.url", "not an https://, ssh:// or user@host:path git URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "file", "":
		return invalid("source.url", "file:// sources are refused at runtime (the server's own files); an operator allows them with WithLocalSources")
	case "http":
		return invalid("source.url", "http:// sends credentials in clear; use https:// (an operator allows http with WithLocalSources)")
	}
	return nil
}

// sourceHost returns the host (with port) a git URL names, "" for a local
// one.
func sourceHost(raw string) string {
	if m := scpLikeRE.FindStringSubmatch(raw); m != nil {
		rest := raw
		if i := strings.Index(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		if i := strings.Index(rest, ":"); i >= 0 {
			rest = rest[:i]
		}
		return strings.ToLower(rest)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// movedHost reports whether an update moves an image's source to another
// host, and says so for the audit log and the change's notes.
func movedHost(name string, old, next *SourceSpec) (string, bool) {
	if old == nil || next == nil {
		return "", false
	}
	a, b := sourceHost(old.URL), sourceHost(next.URL)
	if a == b {
		return "", false
	}
	return fmt.Sprintf("image %s: the source moved from host %q to %q, so its stored credential was dropped (set it again with SetSSHKey or SetToken)", name, a, b), true
}
