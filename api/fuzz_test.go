package api_test

import (
	"net/http"
	"testing"

	abs "github.com/openabs/abs"
)

// FuzzBodies sends arbitrary bodies to the routes that decode one, as
// an editor of the project: every answer is a success or a client error
// (a problem document), never a server error or a panic.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{
		`{"auto_publish":true}`, `{"auto_rebuild":true,"version":1}`, `{"source":{"url":"ssh://git@h/r.git","trust_on_first_use":true}}`,
		`{"name":"x/y","repository":"registry.example/x/y","tags":["1"]}`, `{"token":"ghp_0123456789"}`, `{"private_key":"-----BEGIN"}`,
		`{"owners":null}`, `{"build_args":{"A":"\u0000"}}`, `[]`, `null`, `{"tags":[1]}`, "\xff", `{"version":-1}`,
	} {
		for route := range 4 {
			f.Add(uint8(route), []byte(s))
		}
	}
	e := newEnv(f, onSQLite)
	routes := [][2]string{
		{"PATCH", img(app)},
		{"POST", "/api/v1/projects/" + shopID + "/images"},
		{"PUT", img(app, "/token")},
		{"PATCH", "/api/v1/projects/" + shopID},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		e.t = t
		rt := routes[int(route)%len(routes)]
		a := e.do(rt[0], rt[1], tokEditorShop, body)
		if a.Status >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt[0], rt[1], body, a.Status, a.Body)
		}
		if a.Status >= 400 {
			a.problem(t)
		}
		if a.Status == http.StatusCreated {
			var im abs.Image
			a.json(t, &im)
			if res := e.do("DELETE", img(im.Name), tokEditorShop, nil); res.Status != http.StatusNoContent {
				t.Fatalf("cannot remove %q: %d", im.Name, res.Status)
			}
		}
	})
}
