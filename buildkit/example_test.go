package buildkit_test

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// A pool hands each build to the healthy daemon with the most free slots
// and skips a daemon whose health check fails.
func ExamplePool() {
	down := "unix:///run/buildkit/c.sock"
	pool, err := buildkit.NewPool([]buildkit.Daemon{
		{Address: "unix:///run/buildkit/a.sock", MaxBuilds: 1},
		{Address: "unix:///run/buildkit/b.sock", MaxBuilds: 2},
		{Address: down, MaxBuilds: 4},
	}, buildkit.WithHealthCheck(func(_ context.Context, addr string, _ *client.Client) error {
		if addr == down {
			return errors.New("connection refused")
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	ctx := context.Background()
	for range 3 {
		l, err := pool.Acquire(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println("build on", l.Address())
	}
	for _, s := range pool.Status() {
		fmt.Printf("%s: %d/%d healthy=%v\n", s.Address, s.InFlight, s.MaxBuilds, s.Healthy)
	}
	// Output:
	// build on unix:///run/buildkit/b.sock
	// build on unix:///run/buildkit/a.sock
	// build on unix:///run/buildkit/b.sock
	// unix:///run/buildkit/a.sock: 1/1 healthy=true
	// unix:///run/buildkit/b.sock: 2/2 healthy=true
	// unix:///run/buildkit/c.sock: 0/4 healthy=false
}

// A Builder is the rebuild.Builder of targets built on the pool; it needs
// running daemons, so this example does not run.
func ExampleBuilder() {
	pool, err := buildkit.NewPool([]buildkit.Daemon{
		{Address: "tcp://build1.example.com:1234", MaxBuilds: 4, TLS: &buildkit.TLS{
			CACert: "/etc/openabs/buildkit/ca.pem", Cert: "/etc/openabs/buildkit/cert.pem", Key: "/etc/openabs/buildkit/key.pem",
		}},
		{Address: "unix:///run/buildkit/buildkitd.sock", MaxBuilds: 2},
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	target := &rebuild.Target{
		Ref:       "registry.example.com/team/app:1.0",
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		Source:    &rebuild.GitSource{URL: "https://git.example.com/team/app.git", Branch: "main"},
		Builder: &buildkit.Builder{
			Pool:       pool,
			Repository: func(*rebuild.Request) string { return "staging.example.com/team/app" },
			Cache:      "staging.example.com/buildcache",
			Secrets:    map[string]rebuild.Secret{"token": secret.New("…")},
		},
	}
	out, err := rebuild.Run(context.Background(), target, nil, rebuild.WithStore(&rebuild.RegistryStore{}))
	if err != nil {
		var be *rebuild.BuildError
		if errors.As(err, &be) {
			fmt.Println(be.Tail)
		}
		return
	}
	defer out.Close()
	fmt.Println(out.Pinned)
}
