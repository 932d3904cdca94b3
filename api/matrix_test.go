package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The five kinds of token of the role matrix, in its column order.
var matrixTokens = []struct{ name, tok string }{
	{"viewer", tokViewer}, {"scoped viewer", tokMatrixRO}, {"editor", tokEditor},
	{"scoped editor", tokMatrixDev}, {"admin", tokAdmin},
}

// roleMatrix sends every route with each kind of token and checks the
// status: what each role may do, and 403 for the rest. The routes act on
// a project of its own whose image is on a registry nobody answers at,
// so what they start (a rebuild, a cycle) does no real work; a DELETE
// that succeeds is undone before the next request.
func roleMatrix(t *testing.T, e *env) {
	const mImg = "m/app"
	ensure := func() {
		t.Helper()
		if e.do("GET", "/api/v1/projects/"+matrixID, tokAdmin, nil).Status == http.StatusNotFound {
			a := e.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": matrixID, "name": "matrix"})
			require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
		}
		if e.do("GET", img(mImg), tokAdmin, nil).Status == http.StatusNotFound {
			a := e.do("POST", "/api/v1/projects/"+matrixID+"/images", tokAdmin,
				map[string]any{"name": mImg, "repository": "127.0.0.1:1/m/app", "build_service": true})
			require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
		}
	}
	ensure()
	a := e.do("GET", "/api/v1/cycles?page_size=1", tokAdmin, nil)
	var cs struct{ Data []struct{ ID string } }
	a.json(t, &cs)
	require.NotEmpty(t, cs.Data)
	cycle := cs.Data[0].ID

	const (
		ok, created, accepted, noContent, no = http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent, http.StatusForbidden
	)
	n := 0
	routes := []struct {
		method, path string
		body         func() any
		// want is the status of viewer, scoped viewer, editor, scoped
		// editor and admin.
		want [5]int
	}{
		{"GET", "/api/v1/projects", nil, [5]int{ok, ok, ok, ok, ok}},
		{"POST", "/api/v1/projects", func() any { n++; return map[string]any{"id": fmt.Sprintf("p-new-%d", n), "name": "x"} },
			[5]int{no, no, no, no, created}},
		{"GET", "/api/v1/projects/" + matrixID, nil, [5]int{ok, ok, ok, ok, ok}},
		{"PATCH", "/api/v1/projects/" + matrixID, func() any { return map[string]any{"name": "matrix"} }, [5]int{no, no, ok, ok, ok}},
		{"DELETE", "/api/v1/projects/" + matrixID, nil, [5]int{no, no, no, no, noContent}},
		{"GET", "/api/v1/projects/" + matrixID + "/images", nil, [5]int{ok, ok, ok, ok, ok}},
		{"POST", "/api/v1/projects/" + matrixID + "/images",
			func() any {
				n++
				return map[string]any{"name": fmt.Sprintf("m/new-%d", n), "repository": "127.0.0.1:1/m/new"}
			},
			[5]int{no, no, created, created, created}},
		{"GET", img(mImg), nil, [5]int{ok, ok, ok, ok, ok}},
		{"PATCH", img(mImg), func() any { return map[string]any{"auto_publish": false} }, [5]int{no, no, ok, ok, ok}},
		{"DELETE", img(mImg), nil, [5]int{no, no, noContent, noContent, noContent}},
		{"PUT", img(mImg, "/ssh-key"), func() any { return map[string]any{"private_key": sshKey(t)} }, [5]int{no, no, ok, ok, ok}},
		{"PUT", img(mImg, "/token"), func() any { return map[string]any{"token": "ghp_0123456789abcdef"} }, [5]int{no, no, ok, ok, ok}},
		{"GET", img(mImg, "/rebuilds"), nil, [5]int{ok, ok, ok, ok, ok}},
		{"POST", img(mImg, "/rebuild"), nil, [5]int{no, no, accepted, accepted, accepted}},
		{"POST", img(mImg, "/retry"), nil, [5]int{no, no, accepted, accepted, accepted}},
		{"GET", "/api/v1/plan", nil, [5]int{ok, ok, ok, ok, ok}},
		{"GET", "/api/v1/cycles", nil, [5]int{ok, ok, ok, ok, ok}},
		{"POST", "/api/v1/cycles", nil, [5]int{no, no, accepted, no, accepted}},
		{"GET", "/api/v1/cycles/" + cycle, nil, [5]int{ok, ok, ok, ok, ok}},
		{"GET", "/api/v1/audit", nil, [5]int{no, no, no, no, ok}},
		{"GET", "/metrics", nil, [5]int{ok, ok, ok, ok, ok}},
	}
	require.Len(t, routes, len(protected), "the matrix has every route that needs a token")
	for _, rt := range routes {
		for i, tk := range matrixTokens {
			ensure()
			var body any
			if rt.body != nil {
				body = rt.body()
			}
			a := e.do(rt.method, rt.path, tk.tok, body)
			assert.Equal(t, rt.want[i], a.Status, "%s %s as %s: %s", rt.method, rt.path, tk.name, a.Body)
			if a.Status == no {
				a.problem(t)
			}
		}
	}
	for i := 1; i <= n; i++ { // what the matrix created
		e.do("DELETE", fmt.Sprintf("/api/v1/projects/p-new-%d", i), tokAdmin, nil)
	}
	a = e.do("DELETE", "/api/v1/projects/"+matrixID, tokAdmin, nil)
	require.Equal(t, http.StatusNoContent, a.Status, string(a.Body))
}
