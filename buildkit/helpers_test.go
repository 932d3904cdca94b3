package buildkit_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/rebuild"
)

// buildkitd returns the buildkitd binary (env ABS_BUILDKITD, or PATH) or
// skips the test. The daemons need root (runc, native snapshotter).
func buildkitd(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts buildkitd")
	}
	path := os.Getenv("ABS_BUILDKITD")
	if path == "" {
		p, err := exec.LookPath("buildkitd")
		if err != nil {
			t.Skip("buildkitd not found (set ABS_BUILDKITD or build it as .ci/run does)")
		}
		path = p
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed (apt-get install runc)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildkitd with the OCI worker runs as root here")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (apt-get install busybox-static)")
	}
	return path
}

// daemon is a buildkitd started by a test.
type daemon struct {
	buildkit.Daemon
	cmd *exec.Cmd
}

// kill sends SIGKILL to the daemon and everything it started.
func (d *daemon) kill() {
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
}

// startDaemon runs a private buildkitd on a unix socket or, with mtls, on
// a loopback TCP port with mutual TLS, and waits until it answers.
func startDaemon(t testing.TB, bin string, mtls bool) *daemon {
	t.Helper()
	root, err := os.MkdirTemp("", "bk-")
	require.NoError(t, err)
	d := &daemon{Daemon: buildkit.Daemon{MaxBuilds: 2}}
	args := []string{"--root", filepath.Join(root, "state"), "--oci-worker-binary", "runc",
		"--oci-worker-snapshotter", "native", "--containerd-worker=false", "--oci-worker-gc=false"}
	if mtls {
		tl := writeCerts(t, root)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		d.Address, d.TLS = "tcp://"+addr, &tl.client
		args = append(args, "--addr", d.Address, "--tlscacert", tl.ca, "--tlscert", tl.serverCert, "--tlskey", tl.serverKey)
	} else {
		d.Address = "unix://" + filepath.Join(root, "bk.sock")
		args = append(args, "--addr", d.Address)
	}
	logf, err := os.Create(filepath.Join(root, "daemon.log"))
	require.NoError(t, err)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, d.cmd.Start())
	exited := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		d.kill()
		<-exited
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log (tail):\n%s", d.Address, tail(string(b), 30))
		}
		unmountUnder(root)
		_ = os.RemoveAll(root)
	})
	pool, err := buildkit.NewPool([]buildkit.Daemon{d.Daemon})
	require.NoError(t, err)
	defer pool.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		l, err := pool.Acquire(ctx)
		if err == nil {
			_, err = l.Client().ListWorkers(ctx)
			l.Release()
		}
		cancel()
		if err == nil {
			return d
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("buildkitd exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd at %s did not answer: %v", d.Address, err)
		}
		time.Sleep(200 * time.Millisecond)
		pool.Close()
		pool, _ = buildkit.NewPool([]buildkit.Daemon{d.Daemon}, buildkit.WithHealthInterval(0))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type certs struct {
	ca, serverCert, serverKey string
	client                    buildkit.TLS
}

// writeCerts makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
func writeCerts(t testing.TB, dir string) certs {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		require.NoError(t, err)
		return der, k
	}
	sDER, sKey := leaf(2, "buildkitd", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cDER, cKey := leaf(3, "client", x509.ExtKeyUsageClientAuth, nil)
	c := certs{ca: write("ca.pem", "CERTIFICATE", caDER), serverCert: write("server.pem", "CERTIFICATE", sDER),
		serverKey: writeKey("server-key.pem", sKey)}
	c.client = buildkit.TLS{CACert: c.ca, Cert: write("client.pem", "CERTIFICATE", cDER), Key: writeKey("client-key.pem", cKey)}
	return c
}

// testRegistry is an in-memory registry on loopback that counts manifest
// pushes and blob uploads per repository.
type testRegistry struct {
	host string
	mu   sync.Mutex
	// manifests and uploads count PUTs of manifests and POSTs starting
	// blob uploads, by repository.
	manifests, uploads map[string]int
	denied             int // requests refused for missing or wrong credentials
}

func startRegistry(t testing.TB) *testRegistry { return startAuthRegistry(t, "", "") }

// startAuthRegistry is startRegistry requiring HTTP basic auth with user
// and password (none when user is empty).
func startAuthRegistry(t testing.TB, user, password string) *testRegistry {
	t.Helper()
	r := &testRegistry{manifests: map[string]int{}, uploads: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			r.mu.Lock()
			r.denied++
			r.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		p := strings.TrimPrefix(req.URL.Path, "/v2/")
		r.mu.Lock()
		if i := strings.Index(p, "/manifests/"); i > 0 && req.Method == http.MethodPut {
			r.manifests[p[:i]]++
		}
		if i := strings.Index(p, "/blobs/uploads"); i > 0 && req.Method == http.MethodPost {
			r.uploads[p[:i]]++
		}
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) count(m map[string]int, repo string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[repo]
}

// busyboxBase pushes an OCI image holding the static busybox (with the
// applets the tests' RUN steps use) to reg and returns its reference.
func busyboxBase(t testing.TB, reg string, opts ...remote.Option) (string, v1.Image) {
	t.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) {
		h.ModTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		require.NoError(t, tw.WriteHeader(h))
	}
	hdr(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	hdr(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	hdr(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	_, err = tw.Write(bin)
	require.NoError(t, err)
	for _, a := range []string{"sh", "cat", "echo", "mkdir", "sleep", "test", "true", "false"} {
		hdr(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	require.NoError(t, tw.Close())
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	require.NoError(t, err)
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer, History: v1.History{CreatedBy: "busybox"}})
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin"}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	ref := reg + "/base/busybox:1"
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img, append(opts, remote.WithContext(t.Context()))...))
	return ref, img
}

// checkout writes files into a new directory laid out as a rebuild
// checkout (Containerfile at the top).
func checkout(t testing.TB, files map[string]string) *rebuild.Checkout {
	t.Helper()
	dir := t.TempDir()
	for k, v := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, k)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644))
	}
	return &rebuild.Checkout{Dir: dir, ContextDir: dir, Containerfile: filepath.Join(dir, "Containerfile"), Commit: strings.Repeat("a", 40)}
}

// layerContains reports whether any layer of img holds needle in a file
// name or content.
func layerContains(t testing.TB, img v1.Image, needle string) bool {
	t.Helper()
	ls, err := img.Layers()
	require.NoError(t, err)
	for _, l := range ls {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		require.NoError(t, err)
		if bytes.Contains(b, []byte(needle)) {
			return true
		}
	}
	return false
}

// readFile returns the content of path in img's top-most layer holding it.
func readFile(t testing.TB, img v1.Image, path string) (string, bool) {
	t.Helper()
	ls, err := img.Layers()
	require.NoError(t, err)
	for i := len(ls) - 1; i >= 0; i-- {
		rc, err := ls[i].Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if strings.TrimPrefix(h.Name, "./") == path {
				b, err := io.ReadAll(tr)
				require.NoError(t, err)
				_ = rc.Close()
				return string(b), true
			}
		}
		_ = rc.Close()
	}
	return "", false
}

// unmountUnder detaches every mount below dir: a daemon killed during a
// RUN step leaves the step's root file system mounted.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
