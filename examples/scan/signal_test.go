//go:build unix

package main

import (
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
)

// TestSignalsRemoveTempCopy runs the built program against a registry that
// stalls in the middle of the rpmdb layer, so the temporary rpmdb copy
// exists, then stops it with each signal: the copy must be gone when the
// program has exited.
func TestSignalsRemoveTempCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program")
	}
	bin := filepath.Join(t.TempDir(), "scan")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	db := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range db {
		db[i] = byte(rng.Uint32())
	}
	l, err := testutil.Layer(testutil.File("var/lib/rpm/Packages", db))
	require.NoError(t, err)
	img, err := testutil.Image(testutil.Config{}, l)
	require.NoError(t, err)
	layerDigest, err := l.Digest()
	require.NoError(t, err)

	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, layerDigest.String()) {
			reg.ServeHTTP(w, r)
			return
		}
		// Serve half of the layer, then stall until the client goes away.
		rc, err := l.Compressed()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rc.Close()
		buf := make([]byte, 1<<20)
		n, _ := rc.Read(buf)
		_, _ = w.Write(buf[:n])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	ref, err := name.ParseReference(u.Host + "/acme/app:1")
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img))

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(bin, ref.String())
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })

			copyStarted := func() bool {
				m, _ := filepath.Glob(filepath.Join(tmp, "rpmscan-*", "*", "Packages"))
				return len(m) > 0
			}
			require.Eventually(t, copyStarted, 15*time.Second, 10*time.Millisecond, "the scan never started copying the rpmdb")
			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err := <-done:
				assert.Error(t, err, "a cancelled scan exits non-zero")
			case <-time.After(15 * time.Second):
				t.Fatal("the program did not stop")
			}
			ents, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, ents, "temporary files left after %s", sig)
		})
	}
}
