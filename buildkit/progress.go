package buildkit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/grpcerrors"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/grpc/codes"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// progress turns BuildKit's status stream into a plain text log in the
// style of `buildctl --progress=plain`, keeping the last rebuild.MaxLog
// bytes, and counts steps and cached steps.
type progress struct {
	mu     sync.Mutex
	scrub  func(string) string
	ids    map[digest.Digest]int
	done   map[digest.Digest]bool
	cached map[digest.Digest]bool
	buf    bytes.Buffer
	// partial holds an unterminated log line per vertex.
	partial map[digest.Digest]string
}

func newProgress(scrub func(string) string) *progress {
	return &progress{scrub: scrub, ids: map[digest.Digest]int{}, done: map[digest.Digest]bool{},
		cached: map[digest.Digest]bool{}, partial: map[digest.Digest]string{}}
}

func (p *progress) id(d digest.Digest, name string) int {
	n, ok := p.ids[d]
	if !ok {
		n = len(p.ids) + 1
		p.ids[d] = n
		fmt.Fprintf(&p.buf, "#%d %s\n", n, name)
	}
	return n
}

func (p *progress) add(st *client.SolveStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range st.Vertexes {
		n := p.id(v.Digest, v.Name)
		if v.Cached && !p.cached[v.Digest] {
			p.cached[v.Digest] = true
			fmt.Fprintf(&p.buf, "#%d CACHED\n", n)
		}
		if v.Error != "" && !p.done[v.Digest] {
			p.done[v.Digest] = true
			fmt.Fprintf(&p.buf, "#%d ERROR: %s\n", n, v.Error)
		} else if v.Completed != nil && !p.done[v.Digest] {
			p.done[v.Digest] = true
			d := ""
			if v.Started != nil {
				d = fmt.Sprintf(" %.1fs", v.Completed.Sub(*v.Started).Seconds())
			}
			fmt.Fprintf(&p.buf, "#%d DONE%s\n", n, d)
		}
	}
	for _, l := range st.Logs {
		n := p.id(l.Vertex, "")
		text := p.partial[l.Vertex] + string(l.Data)
		lines := strings.Split(text, "\n")
		p.partial[l.Vertex] = lines[len(lines)-1]
		for _, line := range lines[:len(lines)-1] {
			fmt.Fprintf(&p.buf, "#%d %s\n", n, strings.TrimRight(line, "\r"))
		}
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(&p.buf, "WARNING: %s\n", w.Short)
	}
	if over := p.buf.Len() - 2*rebuild.MaxLog; over > 0 {
		p.buf.Next(over)
		dropPartialLine(&p.buf)
	}
}

// dropPartialLine removes the bytes up to the first newline of b.
func dropPartialLine(b *bytes.Buffer) {
	if i := bytes.IndexByte(b.Bytes(), '\n'); i >= 0 {
		b.Next(i + 1)
	}
}

// result returns the scrubbed log and the step counts.
func (p *progress) result() ([]byte, int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for d, rest := range p.partial {
		if rest != "" {
			fmt.Fprintf(&p.buf, "#%d %s\n", p.ids[d], rest)
			p.partial[d] = ""
		}
	}
	out := []byte(p.scrub(p.buf.String()))
	if len(out) > rebuild.MaxLog {
		// Cut at a line boundary, so that no fragment of a scrubbed
		// value is left at the start.
		out = out[len(out)-rebuild.MaxLog:]
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out, len(p.ids), len(p.cached)
}

// secretValues returns every form in which the secrets and credentials
// could appear in output: the values, and base64 of the values and of
// "user:password".
func secretValues(secrets map[string]rebuild.Secret, creds map[string]rebuild.Credential) []string {
	var out []string
	add := func(v string) {
		if v == "" {
			return
		}
		out = append(out, v)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString([]byte(v)))
		}
	}
	for _, s := range secrets {
		add(s.Reveal())
	}
	for _, c := range creds {
		if p := c.Password.Reveal(); p != "" {
			add(p)
			add(c.Username + ":" + p)
		}
	}
	return out
}

// scrub replaces every occurrence of the values (and of their lines
// longer than 8 bytes, so that a fragment of a multi-line key is caught)
// with the placeholder.
func scrub(msg string, values []string) string {
	for _, v := range values {
		msg = strings.ReplaceAll(msg, v, secret.Placeholder)
		for line := range strings.Lines(v) {
			if line = strings.TrimSpace(line); len(line) > 8 {
				msg = strings.ReplaceAll(msg, line, secret.Placeholder)
			}
		}
	}
	return msg
}

func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// connectionError reports whether err says the connection to the daemon
// failed, rather than the build.
func connectionError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errDaemonLost) {
		return true
	}
	// An answer of the daemon carries its status: only Unavailable
	// speaks of the connection. A build error may well quote a
	// "connection refused" from a registry the daemon could not reach.
	if st, ok := grpcerrors.AsGRPCStatus(err); ok && st != nil && st.Code() != codes.OK {
		return st.Code() == codes.Unavailable
	}
	var ne *net.OpError
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "transport is closing", "error reading from server", "broken pipe", "connection error"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// keychain resolves Credentials for go-containerregistry.
type keychain map[string]rebuild.Credential

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	want := normHost(r.RegistryStr())
	for h, c := range k {
		if normHost(h) == want {
			return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password.Reveal()}), nil
		}
	}
	return authn.Anonymous, nil
}
