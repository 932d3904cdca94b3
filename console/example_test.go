package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/console"
	"github.com/openabs/abs/secret"
)

// Serve the console of an orchestrator and sign in with an API token.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "console-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := abs.OpenSQLite(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	o, err := abs.New(ctx, db, nil, abs.WithWorkDir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens, err := api.NewTokens(api.Token{Name: "ops", Role: api.Viewer, Value: secret.New("a-long-random-viewer-token-0123456789")})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(console.New(o, tokens))
	defer srv.Close()

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, token := range []string{"wrong", "a-long-random-viewer-token-0123456789"} {
		resp, err := noFollow.PostForm(srv.URL+"/signin", url.Values{"token": {token}})
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status, len(resp.Cookies()), "cookie")
	}
	// Output:
	// 401 Unauthorized 0 cookie
	// 303 See Other 1 cookie
}
