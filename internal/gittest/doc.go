// Package gittest starts real git servers on loopback for tests: an SSH
// server (gliderlabs/ssh in front of the git binary's upload-pack),
// OpenSSH's sshd with three host keys (StartOpenSSH) and a smart-HTTP
// server over TLS (git http-backend through net/http/cgi).
//
// Typical use:
//
//	repo := gittest.NewRepo(t, map[string]string{"Containerfile": "FROM scratch\n"})
//	srv := gittest.StartSSH(t, repo.Dir)
//	// clone srv.URL with srv.ClientKey, verifying against srv.KnownHosts
//	web := gittest.StartHTTP(t, repo.Dir, gittest.WithToken("s3cret"))
//	// clone web.URL with web.CA as the CA bundle and the token as password
//
// The servers need the git binary; every helper calls t.Skip when it is
// missing. Everything is torn down with t.Cleanup.
package gittest
