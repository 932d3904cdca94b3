package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// served is every method and path the handler serves, as the OpenAPI
// document names them (relative to its server URL /api/v1).
func served() []string {
	out := []string{"GET /openapi.json", "POST /advisories"}
	for _, rt := range routes {
		out = append(out, rt.method+" "+rt.path)
	}
	slices.Sort(out)
	return out
}

func documented(t *testing.T) []string {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openAPI, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Equal(t, Prefix, doc.Servers[0].URL)
	var out []string
	for path, ops := range doc.Paths {
		for m, op := range ops {
			var o struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			require.NoError(t, json.Unmarshal(op, &o), path)
			assert.NotEmpty(t, o.OperationID, "%s %s", m, path)
			assert.NotEmpty(t, o.Responses, "%s %s", m, path)
			out = append(out, strings.ToUpper(m)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIMatchesRoutes checks that the document lists exactly the
// routes the handler serves, and that the handler routes every documented
// operation (no 405, no catch-all 404) and refuses the methods the
// document does not list at those paths.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, srv := documented(t), served()
	require.Equal(t, srv, doc, "the OpenAPI document and the served routes differ")

	h := New(nil, nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	byPath := map[string][]string{}
	for _, op := range doc {
		m, p, _ := strings.Cut(op, " ")
		byPath[p] = append(byPath[p], m)
	}
	fill := strings.NewReplacer("{id}", "x", "{name}", "demo%2Fapp")
	for path, methods := range byPath {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			req, err := http.NewRequest(m, ts.URL+Prefix+fill.Replace(path), nil)
			require.NoError(t, err)
			res, err := ts.Client().Do(req)
			require.NoError(t, err)
			var p Problem
			_ = json.NewDecoder(res.Body).Decode(&p)
			res.Body.Close()
			if slices.Contains(methods, m) {
				assert.NotEqual(t, http.StatusMethodNotAllowed, res.StatusCode, "%s %s", m, path)
				assert.NotEqual(t, "no such resource", p.Detail, "%s %s", m, path)
				continue
			}
			assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "%s %s is not documented but answered", m, path)
		}
	}
}
