package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/secret"
)

// A portal mounts the API and calls it with a bearer token: here a viewer
// reads the projects and is refused a change.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "abs-api-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	reg := demo.StartRegistry()
	defer reg.Close()
	fleet, err := demo.Seed(ctx, reg.Host)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := demo.WriteAdvisories(filepath.Join(dir, "advisories"), now, demo.Advisories...); err != nil {
		fmt.Println(err)
		return
	}
	db, err := abs.OpenSQLite(ctx, filepath.Join(dir, "abs.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	project := abs.Project{ID: "p-shop", Name: "shop"}
	for _, a := range fleet.Apps {
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository})
	}
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(filepath.Join(dir, "advisories"))),
		abs.WithClock(func() time.Time { return now }))
	if err != nil {
		fmt.Println(err)
		return
	}

	tokens, err := api.NewTokens(
		api.Token{Name: "portal", Role: api.Admin, Value: secret.New("portal-token-0123456789")},
		api.Token{Name: "dashboard", Role: api.Viewer, Projects: []string{"p-shop"}, Value: secret.New("dashboard-token-0123456789")},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(api.New(o, tokens))
	defer srv.Close()

	call := func(method, path, token string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		fmt.Println(method, path, res.Status, res.Header.Get("Content-Type"))
	}
	call("GET", "/api/v1/projects", "")
	call("GET", "/api/v1/projects", "dashboard-token-0123456789")
	call("DELETE", "/api/v1/projects/p-shop", "dashboard-token-0123456789")
	call("GET", "/api/v1/images/demo%2Fapp", "dashboard-token-0123456789")
	// Output:
	// GET /api/v1/projects 401 Unauthorized application/problem+json
	// GET /api/v1/projects 200 OK application/json
	// DELETE /api/v1/projects/p-shop 403 Forbidden application/problem+json
	// GET /api/v1/images/demo%2Fapp 200 OK application/json
}
