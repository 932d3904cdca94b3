// Package regtest starts container registries on loopback for tests: the
// in-process registry of go-containerregistry (pkg/registry) and Debian's
// docker-registry binary (CNCF distribution 2.x), both optionally behind
// HTTP basic authentication.
//
//	reg := regtest.InProcess(t)                         // always available
//	reg := regtest.Distribution(t, regtest.WithBasicAuth("u", "p")) // skips without the binary
//	ref := reg.Repo("team/app") + ":1.0-1"
//
// Both listen on 127.0.0.1 and speak plain HTTP. Everything they start is
// stopped, and every directory they create is removed, by t.Cleanup.
package regtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/crypto/bcrypt"
)

// BinaryEnv names the environment variable that overrides the path of the
// docker-registry binary used by Distribution.
const BinaryEnv = "ABS_DOCKER_REGISTRY"

// DefaultBinary is the docker-registry binary Distribution looks for on
// $PATH (Debian package docker-registry).
const DefaultBinary = "docker-registry"

// Registry is a running registry on loopback.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of an image reference.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Dir is the storage directory of a Distribution registry ("" for
	// an in-process one).
	Dir string
	// Username and Password are the accepted basic credentials, empty
	// when the registry is anonymous.
	Username, Password string
}

// Repo returns the reference of repository name on this registry, e.g.
// "127.0.0.1:5000/team/app".
func (r *Registry) Repo(name string) string { return r.Host + "/" + name }

// Option configures a test registry.
type Option func(*config)

type config struct {
	user, pass string
	wrap       func(http.Handler) http.Handler
}

// WithBasicAuth makes the registry require HTTP basic authentication with
// exactly these credentials (htpasswd with bcrypt for Distribution).
func WithBasicAuth(username, password string) Option {
	return func(c *config) { c.user, c.pass = username, password }
}

// WithMiddleware wraps the handler of an in-process registry, to inject
// faults or count requests. Distribution ignores it.
func WithMiddleware(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrap = wrap }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// InProcess serves go-containerregistry's in-memory registry on a loopback
// httptest server.
func InProcess(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	c := newConfig(opts)
	var h http.Handler = registry.New(registry.Logger(nopLogger()))
	if c.user != "" {
		h = basicAuth(h, c.user, c.pass)
	}
	if c.wrap != nil {
		h = c.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Registry{
		Host:     srv.Listener.Addr().String(),
		URL:      srv.URL,
		Username: c.user,
		Password: c.pass,
	}
}

func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="regtest"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Binary returns the path of the docker-registry binary, or "" when it is
// not installed.
func Binary() string {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	p, err := exec.LookPath(DefaultBinary)
	if err != nil {
		return ""
	}
	return p
}

// Distribution starts Debian's docker-registry on a free loopback port with
// a temporary filesystem storage directory. The test is skipped when the
// binary is absent (Debian package docker-registry; override the path
// with $ABS_DOCKER_REGISTRY).
func Distribution(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skipf("regtest: %s not found on $PATH (apt-get install docker-registry, or set %s)", DefaultBinary, BinaryEnv)
	}
	c := newConfig(opts)
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o700); err != nil {
		t.Fatalf("regtest: %v", err)
	}
	auth := ""
	if c.user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(c.pass), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("regtest: bcrypt: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", c.user, hash), 0o600); err != nil {
			t.Fatalf("regtest: %v", err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: regtest\n    path: %s\n", htpasswd)
	}
	// A port picked by the kernel can be taken again before the registry
	// binds it; try a few times.
	var lastErr error
	for range 5 {
		r, err := startDistribution(t, bin, dir, storage, auth)
		if err == nil {
			r.Username, r.Password = c.user, c.pass
			return r
		}
		lastErr = err
	}
	t.Fatalf("regtest: docker-registry did not start: %v", lastErr)
	return nil
}

func startDistribution(t testing.TB, bin, dir, storage, auth string) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
%s`, storage, host, hex.EncodeToString(secret), auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	var out lockedBuffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	url := "http://" + host
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("exited: %v: %s", err, out.String())
		default:
		}
		resp, err := client.Get(url + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("not ready after 15s: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(stop)
	return &Registry{Host: host, URL: url, Dir: storage}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
