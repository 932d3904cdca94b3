package buildkit_test

import (
	"context"
	"os/exec"
	"strconv"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/rebuild"
)

// BenchmarkPoolAcquire measures choosing a daemon among 8 and giving the
// slot back.
func BenchmarkPoolAcquire(b *testing.B) {
	var ds []buildkit.Daemon
	for i := range 8 {
		ds = append(ds, buildkit.Daemon{Address: "unix:///tmp/openabs-bench-" + strconv.Itoa(i) + ".sock", MaxBuilds: 4})
	}
	p, err := buildkit.NewPool(ds, buildkit.WithHealthCheck(func(context.Context, string, *client.Client) error { return nil }))
	require.NoError(b, err)
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l, err := p.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
}

// BenchmarkBuild builds a RUN + COPY image through a real buildkitd:
// "nocache" from scratch every time, "cache" with the registry cache
// (which a fresh daemon would import the same way), next to "buildah"
// building the same Containerfile.
func BenchmarkBuild(b *testing.B) {
	bin := buildkitd(b)
	reg := startRegistry(b)
	baseRef, _ := busyboxBase(b, reg.host)
	d := startDaemon(b, bin, false)
	pool, err := buildkit.NewPool([]buildkit.Daemon{d.Daemon})
	require.NoError(b, err)
	defer pool.Close()
	files := map[string]string{
		"Containerfile": "FROM " + baseRef + "\nRUN mkdir -p /app && echo built > /app/step\nCOPY hello.txt /app/hello.txt\n",
		"hello.txt":     "hello\n",
	}
	// Side by side: the same build with buildah (chroot isolation, vfs
	// storage, fresh base pull), as rebuild.Buildah runs it.
	b.Run("buildah", func(b *testing.B) {
		if _, err := exec.LookPath("buildah"); err != nil {
			b.Skip("buildah not installed")
		}
		bh := &rebuild.Buildah{InsecureHosts: []string{reg.host}}
		src := checkout(b, files)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bh.Build(b.Context(), &rebuild.Request{Ref: reg.host + "/ns/bench:1", Source: src, WorkDir: b.TempDir()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []string{"nocache", "cache"} {
		b.Run(mode, func(b *testing.B) {
			bk := &buildkit.Builder{Pool: pool, InsecureHosts: []string{reg.host}, Cache: reg.host + "/buildcache"}
			req := &rebuild.Request{Ref: reg.host + "/ns/bench:1", Source: checkout(b, files), WorkDir: b.TempDir(), NoCache: mode == "nocache"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bk.Solve(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
