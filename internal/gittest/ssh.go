package gittest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/gliderlabs/ssh"
	"github.com/skeema/knownhosts"
	gossh "golang.org/x/crypto/ssh"
)

// SSHServer is a git server speaking the SSH transport on 127.0.0.1.
type SSHServer struct {
	// URL is the clone URL, ssh://git@127.0.0.1:PORT/repo.git.
	URL string
	// Addr is host:port of the listener.
	Addr string
	// KnownHosts is a known_hosts line for the server's host key,
	// "[127.0.0.1]:PORT ssh-ed25519 AAAA...".
	KnownHosts []byte
	// ClientKey is a key the server accepts.
	ClientKey *Key
	// HostKey is the server's host key.
	HostKey *Key

	mu         sync.Mutex
	authorized []gossh.PublicKey
}

// SSHOption configures StartSSH.
type SSHOption func(*SSHServer)

// WithAuthorizedKey makes the server accept pub in addition to ClientKey.
func WithAuthorizedKey(pub gossh.PublicKey) SSHOption {
	return func(s *SSHServer) { s.authorized = append(s.authorized, pub) }
}

// StartSSH serves repoDir over SSH on loopback until the test ends. Any
// repository path in the URL maps to repoDir. Only git-upload-pack (fetch
// and clone) is allowed; it runs the real git binary.
func StartSSH(t testing.TB, repoDir string, opts ...SSHOption) *SSHServer {
	t.Helper()
	gitBin := RequireGit(t)
	s := &SSHServer{ClientKey: NewKey(t), HostKey: NewKey(t)}
	s.authorized = append(s.authorized, s.ClientKey.Public)
	for _, o := range opts {
		o(s)
	}
	srv := &ssh.Server{
		PublicKeyHandler: func(_ ssh.Context, key ssh.PublicKey) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, k := range s.authorized {
				if ssh.KeysEqual(key, k) {
					return true
				}
			}
			return false
		},
		Handler: func(sess ssh.Session) {
			args := sess.Command()
			if len(args) == 0 || (args[0] != "git-upload-pack" && args[0] != "git upload-pack") {
				fmt.Fprintf(sess.Stderr(), "gittest: only git-upload-pack is served, got %q\n", sess.RawCommand())
				_ = sess.Exit(128)
				return
			}
			cmd := exec.CommandContext(sess.Context(), gitBin, "upload-pack", "--strict", repoDir)
			cmd.Stdin = sess
			cmd.Stdout = sess
			cmd.Stderr = sess.Stderr()
			for _, e := range sess.Environ() {
				if strings.HasPrefix(e, "GIT_PROTOCOL=") {
					cmd.Env = append(cmd.Environ(), e)
				}
			}
			code := 0
			if err := cmd.Run(); err != nil {
				code = 1
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
			}
			_ = sess.Exit(code)
		},
	}
	srv.AddHostKey(s.HostKey.Signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gittest: listen: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.Addr = ln.Addr().String()
	s.URL = "ssh://git@" + s.Addr + "/repo.git"
	s.KnownHosts = []byte(knownhosts.Line([]string{s.Addr}, s.HostKey.Public) + "\n")
	return s
}
