// Package buildkit builds container images on remote buildkitd daemons
// through BuildKit's Go client. Builder is a rebuild.Builder: it sends the
// git checkout (build context and Containerfile) to a daemon with the
// Dockerfile frontend, passes build arguments, labels and BuildKit
// secrets, builds one or more platforms, and pushes the result by digest
// straight to a staging registry, keeping the base image's layers as the
// same blobs. With Builder.Cache, BuildKit's layer cache is imported from
// and exported to the registry (mode=max), so that the next rebuild of the
// image, on any daemon, reuses its layers.
//
// A Pool spreads builds over daemons (unix sockets, or TCP with mutual
// TLS): it picks the healthy daemon with the most free slots (a daemon
// runs at most Daemon.MaxBuilds builds at once), checks health with a
// cheap ListWorkers call, and when a daemon dies mid-build (its
// connection drops, or it stops answering the checks made while the build
// runs) the Builder retries the build on another daemon. A build that
// fails on a healthy daemon is not retried: it returns a
// *rebuild.BuildError whose Tail is the end of the build log, with
// secrets and credentials scrubbed. Registry credentials reach the
// daemons through the build's session, never through their
// configuration.
//
// The package is opt-in: it is the only one of the module that links
// BuildKit. A program imports it and hands a Builder to its targets:
//
//	pool, err := buildkit.NewPool([]buildkit.Daemon{
//		{Address: "tcp://build1:1234", MaxBuilds: 4, TLS: &buildkit.TLS{CACert: "ca.pem", Cert: "cert.pem", Key: "key.pem"}},
//		{Address: "unix:///run/buildkit/buildkitd.sock", MaxBuilds: 2},
//	})
//	if err != nil { ... }
//	defer pool.Close()
//	target.Builder = &buildkit.Builder{
//		Pool:       pool,
//		Repository: func(*rebuild.Request) string { return "staging.example.com/rebuilt/app" },
//		Cache:      "staging.example.com/buildcache",
//		Secrets:    map[string]rebuild.Secret{"token": secret.New(token)},
//	}
//
// The daemons run buildkitd, for example with the OCI worker:
//
//	buildkitd --addr tcp://0.0.0.0:1234 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem \
//		--oci-worker-binary runc --oci-worker-snapshotter native --containerd-worker=false
package buildkit
