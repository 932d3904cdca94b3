package publish_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/secret"
)

// backend starts one kind of test registry.
type backend struct {
	name  string
	start func(t testing.TB, opts ...regtest.Option) *regtest.Registry
}

var backends = []backend{
	{"inprocess", regtest.InProcess},
	{"distribution", regtest.Distribution},
}

func testImage(t testing.TB, seed int64) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2, random.WithSource(rand.NewSource(seed)))
	require.NoError(t, err)
	return img
}

func testIndex(t testing.TB, seed int64) v1.ImageIndex {
	t.Helper()
	idx, err := random.Index(256, 1, 3, random.WithSource(rand.NewSource(seed)))
	require.NoError(t, err)
	return idx
}

func digestOf(t testing.TB, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	require.NoError(t, err)
	return h.String()
}

// fastAttempts and fastRetry keep retries quick in tests.
const fastAttempts = 4

var fastRetry = publish.WithRetry(fastAttempts, time.Millisecond, 5*time.Millisecond)

// newPublisher returns a registry publisher for reg, logging to buf and t.
func newPublisher(t testing.TB, reg *regtest.Registry, logs *testutil.SyncBuffer, opts ...publish.Option) *publish.Registry {
	auth := publish.WithAnonymous()
	if reg.Username != "" {
		auth = publish.WithBasicAuth(reg.Username, secret.New(reg.Password))
	}
	base := []publish.Option{auth, publish.WithPlainHTTP(), fastRetry}
	if logs != nil {
		base = append(base, publish.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return publish.NewRegistry(append(base, opts...)...)
}

// tagDigest reads where repo:tag points, "" when it does not exist.
func tagDigest(t testing.TB, reg *regtest.Registry, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	auth := authn.Anonymous
	if reg.Username != "" {
		auth = &authn.Basic{Username: reg.Username, Password: reg.Password}
	}
	desc, err := remote.Head(r, remote.WithAuth(auth), remote.WithContext(context.Background()))
	if err != nil {
		if isNotFound(err) {
			return ""
		}
		require.NoError(t, err)
	}
	return desc.Digest.String()
}

// counter counts requests by method and path class and can fail some.
type counter struct {
	mu     sync.Mutex
	writes int
	fail   func(r *http.Request) int // status to fail with, 0 to pass
}

func (c *counter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.writes++
		}
		status := 0
		if c.fail != nil {
			status = c.fail(r)
		}
		c.mu.Unlock()
		if status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *counter) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
