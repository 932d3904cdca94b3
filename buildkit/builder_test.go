package buildkit_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

const token = "s3cr3t-t0ken-9f8e7d"

func newPool(t *testing.T, ds ...*daemon) *buildkit.Pool {
	t.Helper()
	return newPoolOpts(t, ds)
}

func newPoolOpts(t *testing.T, ds []*daemon, opts ...buildkit.Option) *buildkit.Pool {
	t.Helper()
	var cfg []buildkit.Daemon
	for _, d := range ds {
		cfg = append(cfg, d.Daemon)
	}
	p, err := buildkit.NewPool(cfg, append([]buildkit.Option{buildkit.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// appFiles is a Containerfile with a RUN step reading a build argument
// and a secret (and printing the secret, which the log must not show).
func appFiles(base string) map[string]string {
	return map[string]string{
		"Containerfile": "FROM " + base + "\n" +
			"ARG GREETING=unset\n" +
			"RUN --mount=type=secret,id=token sh -c 'echo \"token is $(cat /run/secrets/token)\"; mkdir -p /app; echo \"$GREETING\" > /app/greeting; test -s /run/secrets/token'\n" +
			"COPY hello.txt /app/hello.txt\n",
		"hello.txt": "hello from git\n",
	}
}

func TestBuildRunArgSecret(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, base := busyboxBase(t, reg.host)
	d := startDaemon(t, bin, false)
	b := &buildkit.Builder{
		Pool:          newPool(t, d),
		Repository:    func(*rebuild.Request) string { return reg.host + "/staging/app" },
		Secrets:       map[string]rebuild.Secret{"token": secret.New(token)},
		InsecureHosts: []string{reg.host},
		Logger:        slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	req := &rebuild.Request{
		Ref: reg.host + "/ns/app:1", Source: checkout(t, appFiles(baseRef)), WorkDir: t.TempDir(),
		BuildArgs:   map[string]string{"GREETING": "hi-there"},
		Labels:      map[string]string{rebuild.LabelRelease: "2"},
		Annotations: map[string]string{rebuild.AnnotationRevision: strings.Repeat("a", 40)},
	}
	start := time.Now()
	out, err := b.Solve(t.Context(), req)
	require.NoError(t, err)
	t.Logf("build: %s on %s, %d steps, %d cached", time.Since(start).Round(time.Millisecond), out.Daemon, out.Steps, out.Cached)

	assert.True(t, strings.HasPrefix(out.Ref, reg.host+"/staging/app@sha256:"), out.Ref)
	assert.Equal(t, 1, reg.count(reg.manifests, "staging/app"), "one push, by digest")
	got, ok := readFile(t, out.Image, "app/greeting")
	require.True(t, ok)
	assert.Equal(t, "hi-there\n", got, "build argument")
	got, ok = readFile(t, out.Image, "app/hello.txt")
	require.True(t, ok)
	assert.Equal(t, "hello from git\n", got, "context file")

	// The secret reached the RUN step (it printed it) but is in no layer
	// and the log shows the placeholder.
	assert.Contains(t, string(out.Log), "token is "+secret.Placeholder)
	assert.NotContains(t, string(out.Log), token)
	assert.False(t, layerContains(t, out.Image, token), "secret in a layer")
	cf, err := out.Image.RawConfigFile()
	require.NoError(t, err)
	assert.NotContains(t, string(cf), token)

	// Labels and annotations.
	c, err := out.Image.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "2", c.Config.Labels[rebuild.LabelRelease])
	m, err := out.Image.Manifest()
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("a", 40), m.Annotations[rebuild.AnnotationRevision])

	// The base's layers are its blobs, byte for byte, as pushed by the
	// daemon (no re-sharing needed).
	bm, err := base.Manifest()
	require.NoError(t, err)
	require.Greater(t, len(m.Layers), len(bm.Layers))
	for i := range bm.Layers {
		assert.Equal(t, bm.Layers[i].Digest, m.Layers[i].Digest, "layer %d", i)
	}
	assert.Equal(t, len(bm.Layers), out.SharedLayers)
	assert.False(t, out.Reshared)
	bd, err := base.Digest()
	require.NoError(t, err)
	assert.Equal(t, bd.String(), out.BaseDigest)
	assert.Equal(t, baseRef, out.BaseName)
	require.NoError(t, rebuild.CheckPullable(out.Image))

	// Through the rebuild.Builder interface, as rebuild.Run calls it.
	res, err := b.Build(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, bd.String(), res.BaseDigest)
	assert.NotContains(t, string(res.Log), token)
}

func TestBuildPinsParent(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, base := busyboxBase(t, reg.host)
	bd, err := base.Digest()
	require.NoError(t, err)
	d := startDaemon(t, bin, false)
	b := &buildkit.Builder{Pool: newPool(t, d), InsecureHosts: []string{reg.host}}
	// The Containerfile names a tag that does not exist; the pin points
	// it at the base's digest.
	src := checkout(t, map[string]string{"Containerfile": "FROM " + reg.host + "/base/busybox:missing\nRUN echo pinned > /pinned\n"})
	out, err := b.Solve(t.Context(), &rebuild.Request{
		Ref: reg.host + "/ns/child:1", Source: src, WorkDir: t.TempDir(),
		Pins: map[string]string{reg.host + "/base/busybox": rebuild.Repository(baseRef) + "@" + bd.String()},
	})
	require.NoError(t, err)
	assert.Equal(t, bd.String(), out.BaseDigest)
	assert.Equal(t, 1, out.SharedLayers)
	data, err := os.ReadFile(src.Containerfile)
	require.NoError(t, err)
	assert.Contains(t, string(data), ":missing", "the checkout is left alone")
}

func TestBuildCacheReuse(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, _ := busyboxBase(t, reg.host)
	// Two daemons with empty local caches: the second build runs on the
	// other daemon and can only reuse layers through the registry cache.
	d1, d2 := startDaemon(t, bin, false), startDaemon(t, bin, false)
	files := map[string]string{
		"Containerfile": "FROM " + baseRef + "\nRUN sleep 1 && mkdir -p /app && echo built > /app/step\nCOPY hello.txt /app/hello.txt\n",
		"hello.txt":     "hello\n",
	}
	build := func(d *daemon) *buildkit.Output {
		b := &buildkit.Builder{
			Pool:          newPool(t, d),
			Repository:    func(*rebuild.Request) string { return reg.host + "/staging/cached" },
			Cache:         reg.host + "/buildcache",
			InsecureHosts: []string{reg.host},
		}
		start := time.Now()
		out, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/cached:1", Source: checkout(t, files), WorkDir: t.TempDir()})
		require.NoError(t, err)
		t.Logf("build on %s: %s, %d steps, %d cached", d.Address, time.Since(start).Round(time.Millisecond), out.Steps, out.Cached)
		return out
	}
	first := build(d1)
	uploads := reg.count(reg.uploads, "staging/cached")
	second := build(d2)
	newUploads := reg.count(reg.uploads, "staging/cached") - uploads

	assert.Greater(t, second.Cached, first.Cached, "steps from the registry cache")
	cached := cachedSteps(string(second.Log))
	t.Logf("second build: cached steps %q, %d new blob uploads", cached, newUploads)
	assert.Contains(t, strings.Join(cached, "\n"), "RUN sleep 1", "the RUN step is not run again")
	l1, err := first.Image.Manifest()
	require.NoError(t, err)
	l2, err := second.Image.Manifest()
	require.NoError(t, err)
	require.Equal(t, len(l1.Layers), len(l2.Layers))
	for i := range l1.Layers {
		assert.Equal(t, l1.Layers[i].Digest, l2.Layers[i].Digest, "layer %d reused", i)
	}
	// At most the config is new; no layer blob is uploaded again.
	assert.LessOrEqual(t, newUploads, 1, "blob uploads in the second build")
	assert.Greater(t, reg.count(reg.manifests, "buildcache"), 0, "cache exported")
}

func TestBuildFailureNotRetried(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, _ := busyboxBase(t, reg.host)
	d1, d2 := startDaemon(t, bin, false), startDaemon(t, bin, false)
	pool := newPool(t, d1, d2)
	b := &buildkit.Builder{
		Pool: pool, InsecureHosts: []string{reg.host},
		Secrets: map[string]rebuild.Secret{"token": secret.New(token)},
	}
	src := checkout(t, map[string]string{"Containerfile": "FROM " + baseRef + "\n" +
		"RUN --mount=type=secret,id=token sh -c 'echo boom-marker; echo leaked $(cat /run/secrets/token); exit 3'\n"})
	_, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/bad:1", Source: src, WorkDir: t.TempDir()})
	var be *rebuild.BuildError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "buildkit", be.Builder)
	assert.Equal(t, 3, be.ExitCode)
	assert.Contains(t, be.Tail, "boom-marker")
	assert.Contains(t, be.Tail, "leaked "+secret.Placeholder)
	assert.NotContains(t, be.Tail, token)
	assert.NotContains(t, string(be.Log), token)
	assert.NotContains(t, err.Error(), token)
	builds := 0
	for _, s := range pool.Status() {
		builds += s.Builds
		assert.True(t, s.Healthy || !s.Checked, "%s stays healthy", s.Address)
	}
	assert.Equal(t, 1, builds, "a failing Containerfile is not retried")
	assert.Equal(t, 0, reg.count(reg.manifests, "ns/bad"))

	// A base on a registry nobody listens on: the error quotes a refused
	// connection, but it is the build's, not the daemon's.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	src = checkout(t, map[string]string{"Containerfile": "FROM " + closed + "/nothing:1\nRUN true\n"})
	_, err = b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/bad:1", Source: src, WorkDir: t.TempDir()})
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), closed)
	builds = 0
	for _, s := range pool.Status() {
		builds += s.Builds
		assert.True(t, s.Healthy || !s.Checked, "%s stays healthy", s.Address)
	}
	assert.Equal(t, 2, builds, "an unreachable base registry is not retried")
}

func TestMultiPlatform(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	d := startDaemon(t, bin, false)
	b := &buildkit.Builder{Pool: newPool(t, d), InsecureHosts: []string{reg.host}, Platforms: []string{"linux/amd64", "linux/arm64"}}
	src := checkout(t, map[string]string{"Containerfile": "FROM scratch\nCOPY hello.txt /hello.txt\n", "hello.txt": "hi\n"})
	out, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/multi:1", Source: src, WorkDir: t.TempDir()})
	require.NoError(t, err)
	require.NotNil(t, out.Index)
	im, err := out.Index.IndexManifest()
	require.NoError(t, err)
	var plats []string
	for _, m := range im.Manifests {
		if m.Platform != nil {
			plats = append(plats, m.Platform.String())
		}
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, plats)
	c, err := out.Image.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "amd64", c.Architecture, "Image is the first platform's")
	require.NoError(t, rebuild.CheckPullableIndex(out.Index))

	// rebuild asks for one platform of a multi-platform image at a time.
	arm := v1.Platform{OS: "linux", Architecture: "arm64"}
	one, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/multi:1", Source: src, WorkDir: t.TempDir(), Platform: &arm})
	require.NoError(t, err)
	assert.Nil(t, one.Index, "one platform, one manifest")
	c, err = one.Image.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "arm64", c.Architecture)
}

// TestPoolFailoverHung freezes the daemon running a build (SIGSTOP: the
// connection stays open but nothing answers) and checks that the watch
// abandons it and the build finishes on the other daemon, pushed once.
func TestPoolFailoverHung(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, _ := busyboxBase(t, reg.host)
	victim, survivor := startDaemon(t, bin, false), startDaemon(t, bin, false)
	pool := newPoolOpts(t, []*daemon{victim, survivor},
		buildkit.WithWatchInterval(300*time.Millisecond), buildkit.WithHealthTimeout(500*time.Millisecond))
	marker := fmt.Sprintf("hung-marker-%d", time.Now().UnixNano())
	b := &buildkit.Builder{
		Pool:          pool,
		Repository:    func(*rebuild.Request) string { return reg.host + "/staging/hung" },
		InsecureHosts: []string{reg.host},
	}
	src := checkout(t, map[string]string{"Containerfile": "FROM " + baseRef + "\n" +
		"RUN sh -c 'echo " + marker + "; sleep 2; echo done > /done'\n"})
	frozen := make(chan time.Time, 1)
	go func() {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if running(marker) {
				_ = victim.cmd.Process.Signal(syscall.SIGSTOP)
				frozen <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		close(frozen)
	}()
	out, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/hung:1", Source: src, WorkDir: t.TempDir()})
	require.NoError(t, err)
	at, ok := <-frozen
	require.True(t, ok, "the RUN step never started on the victim")
	t.Logf("hung daemon: build finished %s after the freeze; attempts: %v", time.Since(at).Round(time.Millisecond), out.Attempts)
	require.Len(t, out.Attempts, 2)
	assert.Equal(t, victim.Address, out.Attempts[0].Daemon)
	assert.ErrorContains(t, out.Attempts[0].Err, "stopped answering")
	assert.Equal(t, survivor.Address, out.Daemon)
	assert.Equal(t, 1, reg.count(reg.manifests, "staging/hung"), "exactly one push")
	assert.False(t, pool.Status()[0].Healthy)
}

// TestPoolFailover kills the daemon running a build (SIGKILL, mid-RUN)
// and checks that the build finishes on the other daemon, reached over
// mutual TLS, with exactly one push.
func TestPoolFailover(t *testing.T) {
	bin := buildkitd(t)
	reg := startRegistry(t)
	baseRef, base := busyboxBase(t, reg.host)
	victim, survivor := startDaemon(t, bin, false), startDaemon(t, bin, true)
	pool := newPool(t, victim, survivor)
	marker := fmt.Sprintf("failover-marker-%d", time.Now().UnixNano())
	b := &buildkit.Builder{
		Pool:          pool,
		Repository:    func(*rebuild.Request) string { return reg.host + "/staging/failover" },
		InsecureHosts: []string{reg.host},
		Logger:        slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	src := checkout(t, map[string]string{"Containerfile": "FROM " + baseRef + "\n" +
		"RUN sh -c 'echo " + marker + "; sleep 3; echo done > /done'\n"})

	killed := make(chan time.Time, 1)
	go func() {
		// Kill the victim once its RUN step is running.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if running(marker) {
				victim.kill()
				killed <- time.Now()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		close(killed)
	}()
	out, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/failover:1", Source: src, WorkDir: t.TempDir()})
	require.NoError(t, err)
	at, ok := <-killed
	require.True(t, ok, "the RUN step never started on the victim")
	t.Logf("failover: build finished %s after the kill; attempts: %v", time.Since(at).Round(time.Millisecond), out.Attempts)

	require.Len(t, out.Attempts, 2)
	assert.Equal(t, victim.Address, out.Attempts[0].Daemon)
	assert.Error(t, out.Attempts[0].Err)
	assert.Equal(t, survivor.Address, out.Daemon)
	assert.Equal(t, 1, reg.count(reg.manifests, "staging/failover"), "exactly one push")
	got, ok := readFile(t, out.Image, "done")
	require.True(t, ok)
	assert.Equal(t, "done\n", got)
	bm, err := base.Manifest()
	require.NoError(t, err)
	m, err := out.Image.Manifest()
	require.NoError(t, err)
	assert.Equal(t, bm.Layers[0].Digest, m.Layers[0].Digest)

	st := pool.Status()
	assert.False(t, st[0].Healthy, "the killed daemon is marked down")
	assert.True(t, st[1].Healthy)
	assert.Equal(t, 0, st[0].InFlight+st[1].InFlight)

	// The next build skips the dead daemon.
	out2, err := b.Solve(t.Context(), &rebuild.Request{Ref: reg.host + "/ns/failover:1", Source: src, WorkDir: t.TempDir()})
	require.NoError(t, err)
	assert.Len(t, out2.Attempts, 1)
	assert.Equal(t, survivor.Address, out2.Daemon)
}

// running reports whether a process whose command line holds marker runs.
func running(marker string) bool {
	ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err == nil && strings.Contains(string(b), marker) && !strings.Contains(string(b), "buildkit.test") {
			return true
		}
	}
	return false
}

// cachedSteps returns the names of the steps a plain progress log marks
// CACHED.
func cachedSteps(log string) []string {
	names := map[string]string{}
	var out []string
	for _, line := range strings.Split(log, "\n") {
		id, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(id, "#") {
			continue
		}
		if rest == "CACHED" {
			out = append(out, names[id])
		} else if _, seen := names[id]; !seen {
			names[id] = rest
		}
	}
	return out
}

// TestBuildCredentials builds against a registry that requires basic
// auth: the daemon pulls the base, pushes the image and the cache with
// Credentials handed over through the session, and the password appears
// in no log or error.
func TestBuildCredentials(t *testing.T) {
	bin := buildkitd(t)
	const password = "pa55-w0rd-registry-42"
	reg := startAuthRegistry(t, "builder", password)
	auth := remote.WithAuth(&authn.Basic{Username: "builder", Password: password})
	baseRef, _ := busyboxBase(t, reg.host, auth)
	d := startDaemon(t, bin, false)
	creds := map[string]rebuild.Credential{reg.host: {Username: "builder", Password: secret.New(password)}}
	src := checkout(t, map[string]string{"Containerfile": "FROM " + baseRef + "\nRUN echo ok > /ok\n"})
	req := &rebuild.Request{Ref: reg.host + "/ns/private:1", Source: src, WorkDir: t.TempDir()}

	b := &buildkit.Builder{Pool: newPool(t, d), InsecureHosts: []string{reg.host}, Cache: reg.host + "/buildcache"}
	_, err := b.Solve(t.Context(), req)
	require.Error(t, err, "no credentials")
	assert.Positive(t, reg.denied)

	b.Credentials = creds
	out, err := b.Solve(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, 1, out.SharedLayers)
	assert.Equal(t, 1, reg.count(reg.manifests, "ns/private"))
	assert.Positive(t, reg.count(reg.manifests, "buildcache"))
	assert.NotContains(t, string(out.Log), password)

	b.Credentials = map[string]rebuild.Credential{reg.host: {Username: "builder", Password: secret.New("wrong-" + password)}}
	_, err = b.Solve(t.Context(), req)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), password)
	var be *rebuild.BuildError
	if errors.As(err, &be) {
		assert.NotContains(t, string(be.Log), password)
	}
}
