package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/console"
	"github.com/openabs/abs/secret"
)

// demoConsole serves the web console of the demo's orchestrator on addr
// (loopback, any port by default) with a new admin token, and prints its
// URL and the token. The returned function stops it.
func demoConsole(ctx context.Context, o *abs.Orchestrator, addr string, out io.Writer) (url string, stop func(), err error) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	tokens, err := api.NewTokens(api.Token{Name: "demo-admin", Role: api.Admin, Value: secret.New(token)})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("console: %w", err)
	}
	srv := &http.Server{Handler: console.New(o, tokens), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(out, "console:", err)
		}
	}()
	url = "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(out, "web console: %s  (sign in with token %s, admin, this run only)\n", url, token)
	return url, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
