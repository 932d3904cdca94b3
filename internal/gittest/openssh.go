package gittest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skeema/knownhosts"
	gossh "golang.org/x/crypto/ssh"
)

// OpenSSHServer is OpenSSH's sshd serving git on 127.0.0.1 as the current
// user: the client's "git-upload-pack '/path'" runs in the user's shell,
// so the URL's path is the repository's path on disk.
type OpenSSHServer struct {
	// URL is the clone URL, ssh://USER@127.0.0.1:PORT/abs/path/repo.git.
	URL string
	// Addr is host:port of the listener.
	Addr string
	// User is the login sshd accepts (the current user).
	User string
	// KnownHosts holds one known_hosts line per host key
	// ("[127.0.0.1]:PORT ssh-ed25519 AAAA…").
	KnownHosts []byte
	// HostKeys are the server's host keys by type: "ssh-ed25519",
	// "ecdsa-sha2-nistp256" and "ssh-rsa".
	HostKeys map[string]gossh.PublicKey
	// ClientKey is the key in AuthorizedKeysFile.
	ClientKey *Key
	// Dir holds the configuration, keys and sshd's log.
	Dir string

	log *lockedBuffer
}

// KnownHostsLine returns the known_hosts line of the host key of type
// keyType ("ssh-ed25519"), or nil when there is none.
func (s *OpenSSHServer) KnownHostsLine(keyType string) []byte {
	k, ok := s.HostKeys[keyType]
	if !ok {
		return nil
	}
	return []byte(knownhosts.Line([]string{s.Addr}, k) + "\n")
}

// Log returns what sshd wrote so far (-e: its log goes to stderr).
func (s *OpenSSHServer) Log() string { return s.log.String() }

// RequireOpenSSH skips the test when sshd or ssh-keygen is missing, and
// returns their paths.
func RequireOpenSSH(t testing.TB) (sshd, keygen string) {
	t.Helper()
	sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		if sshd, err = exec.LookPath("sshd"); err != nil {
			t.Skip("gittest: sshd not found (apt-get install openssh-server)")
		}
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("gittest: ssh-keygen not found (apt-get install openssh-client)")
	}
	return sshd, keygen
}

// StartOpenSSH runs `sshd -D -e -f CONFIG` on a loopback port until the
// test ends, with three host keys made by ssh-keygen (ed25519, ecdsa,
// rsa), public-key login only, for the current user with ClientKey, and
// serves repoDir through the user's shell and git-upload-pack. It skips
// the test when sshd, ssh-keygen or git is missing.
func StartOpenSSH(t testing.TB, repoDir string) *OpenSSHServer {
	t.Helper()
	RequireGit(t)
	sshd, keygen := RequireOpenSSH(t)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("gittest: current user: %v", err)
	}
	repoDir, err = filepath.Abs(repoDir)
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	if os.Geteuid() == 0 {
		// The privilege separation directory sshd insists on.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("gittest: %v", err)
		}
	}
	dir := t.TempDir()
	s := &OpenSSHServer{Dir: dir, User: u.Username, ClientKey: NewKey(t), HostKeys: map[string]gossh.PublicKey{}, log: &lockedBuffer{}}
	var hostKeyLines []string
	for _, kt := range []string{"ed25519", "ecdsa", "rsa"} {
		path := filepath.Join(dir, "ssh_host_"+kt+"_key")
		if out, err := exec.Command(keygen, "-q", "-t", kt, "-N", "", "-C", "", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("gittest: ssh-keygen -t %s: %v: %s", kt, err, out)
		}
		b, err := os.ReadFile(path + ".pub")
		if err != nil {
			t.Fatalf("gittest: %v", err)
		}
		pub, _, _, _, err := gossh.ParseAuthorizedKey(b)
		if err != nil {
			t.Fatalf("gittest: host key %s: %v", kt, err)
		}
		s.HostKeys[pub.Type()] = pub
		hostKeyLines = append(hostKeyLines, "HostKey "+path)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, gossh.MarshalAuthorizedKey(s.ClientKey.Public), 0o600); err != nil {
		t.Fatalf("gittest: %v", err)
	}

	// The port is chosen by listening on :0 and closing; another process
	// may take it in between, so a failed start is tried again.
	var lastErr error
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("gittest: %v", err)
		}
		cfg := filepath.Join(dir, "sshd_config")
		conf := strings.Join(append(hostKeyLines,
			"ListenAddress 127.0.0.1:"+strconv.Itoa(port),
			"PidFile "+filepath.Join(dir, "sshd.pid"),
			"AuthorizedKeysFile "+authorized,
			"AllowUsers "+u.Username,
			"PermitRootLogin prohibit-password",
			"PubkeyAuthentication yes",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"StrictModes no",
			"UsePAM no",
			"UseDNS no",
			"AcceptEnv GIT_PROTOCOL",
			"AllowTcpForwarding no",
			"X11Forwarding no",
			"PrintMotd no",
			"LogLevel VERBOSE",
		), "\n") + "\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatalf("gittest: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, sshd, "-D", "-e", "-f", cfg)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("gittest: start sshd: %v", err)
		}
		done := make(chan struct{})
		var exitErr error
		go func() { exitErr = cmd.Wait(); close(done) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = waitListening(addr, done, &exitErr); lastErr == nil {
			t.Cleanup(func() {
				cancel()
				<-done
			})
			s.Addr = addr
			s.URL = "ssh://" + u.Username + "@" + addr + repoDir
			for _, kt := range []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"} {
				s.KnownHosts = append(s.KnownHosts, s.KnownHostsLine(kt)...)
			}
			return s
		}
		cancel()
		<-done
	}
	t.Fatalf("gittest: sshd did not start: %v\n%s", lastErr, s.Log())
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections (up to 10 s) or the
// process ends.
func waitListening(addr string, exited <-chan struct{}, exitErr *error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited: %v", *exitErr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sshd not listening on %s", addr)
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and a
// test's reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
