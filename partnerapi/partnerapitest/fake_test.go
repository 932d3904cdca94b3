package partnerapitest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/secret"
)

func get(t *testing.T, srv *Server, path, key string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	resp, err := srv.HTTP.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return resp.StatusCode, out
}

func TestAuth(t *testing.T) {
	srv := Start(t, WithAPIKey("k1"))
	p, err := srv.AddProject(partnerapi.Project{Name: "p"})
	require.NoError(t, err)
	img, err := srv.AddImage(partnerapi.Image{CertProject: p.ID, Architecture: "amd64"})
	require.NoError(t, err)

	tests := []struct {
		path, key string
		status    int
	}{
		{"/projects/certification/id/" + p.ID, "k1", 200},
		{"/projects/certification/id/" + p.ID, "", 401},
		{"/projects/certification/id/" + p.ID, "wrong", 401},
		{"/images/id/" + img.ID, "", 200},
		{"/images/id/" + img.ID, "wrong", 401},
		{"/images/id/nope", "k1", 404},
		{"/nowhere", "k1", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.key, func(t *testing.T) {
			status, body := get(t, srv, tt.path, tt.key)
			assert.Equal(t, tt.status, status)
			if status >= 400 {
				assert.Equal(t, float64(status), body["status"])
				assert.Equal(t, "about:blank", body["type"])
				assert.NotEmpty(t, body["trace_id"])
				assert.NotEmpty(t, body["title"])
			}
			if status == 401 {
				assert.Equal(t, unauthorizedDetail, body["detail"])
			}
		})
	}
}

// TestUnauthorizedBodyMatchesReal compares the fake's 401 body with a real
// one: same fields, same title and detail.
func TestUnauthorizedBodyMatchesReal(t *testing.T) {
	root := os.Getenv("ABS_REALDATA")
	if root == "" {
		t.Skip("ABS_REALDATA is not set")
	}
	raw, err := os.ReadFile(filepath.Join(root, "pyxis", "error.401-unauthorized.json"))
	if os.IsNotExist(err) {
		t.Skip("no pyxis/error.401-unauthorized.json under ABS_REALDATA")
	}
	require.NoError(t, err)
	var real map[string]any
	require.NoError(t, json.Unmarshal(raw, &real))
	srv := Start(t)
	_, fake := get(t, srv, "/projects/certification/id/x", "")
	keys := func(m map[string]any) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	assert.Equal(t, keys(real), keys(fake))
	for _, k := range []string{"detail", "status", "title", "type"} {
		assert.Equal(t, real[k], fake[k], k)
	}
}

func TestPaginationAndSort(t *testing.T) {
	srv := Start(t)
	p, err := srv.AddProject(partnerapi.Project{Name: "p"})
	require.NoError(t, err)
	for _, arch := range []string{"s390x", "amd64", "ppc64le", "arm64", "amd64"} {
		_, err := srv.AddImage(partnerapi.Image{CertProject: p.ID, Architecture: arch})
		require.NoError(t, err)
	}
	base := "/projects/certification/id/" + p.ID + "/images"
	tests := []struct {
		query string
		want  []string
		total float64
	}{
		{"?page_size=2&page=0", []string{"s390x", "amd64"}, 5},
		{"?page_size=2&page=2", []string{"amd64"}, 5},
		{"?page_size=2&page=3", []string{}, 5},
		{"?sort_by=architecture[asc]", []string{"amd64", "amd64", "arm64", "ppc64le", "s390x"}, 5},
		{"?sort_by=architecture[desc]&page_size=2&page=1", []string{"arm64", "amd64"}, 5},
		{"?filter=architecture=out=(amd64,arm64)", []string{"s390x", "ppc64le"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := get(t, srv, base+tt.query, srv.APIKey())
			require.Equal(t, 200, status, body)
			got := []string{}
			for _, d := range body["data"].([]any) {
				got = append(got, d.(map[string]any)["architecture"].(string))
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.total, body["total"])
		})
	}
	for _, bad := range []string{"?page=-1", "?page_size=0", "?page_size=501", "?filter=architecture=like=x", "?filter=(a==b", "?sort_by=architecture"} {
		status, body := get(t, srv, base+bad, srv.APIKey())
		assert.Equal(t, 400, status, bad)
		assert.Contains(t, body["detail"], "Validation error", bad)
	}
}

func TestRequestsProgressAndConflict(t *testing.T) {
	srv := Start(t)
	p, err := srv.AddProject(partnerapi.Project{Name: "p", Container: partnerapi.ProjectContainer{BuildService: true}})
	require.NoError(t, err)
	img, err := srv.AddImage(partnerapi.Image{CertProject: p.ID, Architecture: "amd64",
		Repositories: []partnerapi.ImageRepository{{Registry: "r.example", Repository: "a/b", Published: true}}})
	require.NoError(t, err)
	c := srv.Client(t)
	ctx := t.Context()

	srv.SetRequestOutcome(partnerapi.StatusFailed, "signature check failed")
	req, err := c.CreateImageRequest(ctx, p.ID, partnerapi.ImageRequest{ImageID: img.ID, Operation: partnerapi.OperationUnpublish})
	require.NoError(t, err)
	var seen []partnerapi.Status
	for range 3 {
		r, err := c.ImageRequest(ctx, req.ID)
		require.NoError(t, err)
		seen = append(seen, r.Status)
	}
	assert.Equal(t, []partnerapi.Status{partnerapi.StatusInProgress, partnerapi.StatusFailed, partnerapi.StatusFailed}, seen)
	got, _ := srv.Image(img.ID)
	assert.True(t, got.Repositories[0].Published, "a failed unpublish changes nothing")

	_, err = c.WaitImageRequest(ctx, req.ID)
	require.ErrorIs(t, err, partnerapi.ErrRequestFailed)
	assert.Contains(t, err.Error(), "signature check failed")

	srv.SetRequestOutcome(partnerapi.StatusCompleted, "")
	req, err = c.CreateImageRequest(ctx, p.ID, partnerapi.ImageRequest{ImageID: img.ID, Operation: partnerapi.OperationUnpublish})
	require.NoError(t, err, "a finished request does not block a new one")
	_, err = c.WaitImageRequest(ctx, req.ID)
	require.NoError(t, err)
	got, _ = srv.Image(img.ID)
	assert.False(t, got.Repositories[0].Published)

	_, err = c.CreateImageRequest(ctx, p.ID, partnerapi.ImageRequest{ImageID: "nope", Operation: partnerapi.OperationPublish})
	var apiErr *partnerapi.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 400, apiErr.Status)

	s, err := c.CreateScanRequest(ctx, p.ID, partnerapi.ScanRequest{PullSpec: "quay.io/acme/widget@sha256:aa"})
	require.NoError(t, err)
	assert.Equal(t, partnerapi.StatusPending, s.Status)
	_, err = c.CreateScanRequest(ctx, p.ID, partnerapi.ScanRequest{PullSpec: "quay.io/acme/widget@sha256:aa"})
	require.ErrorIs(t, err, partnerapi.ErrConflict)

	b, err := c.CreateBuildRequest(ctx, p.ID, partnerapi.BuildRequest{Tag: "1.5"})
	require.NoError(t, err)
	assert.Equal(t, "1.5", b.Tag)
	_, err = c.CreateBuildRequest(ctx, p.ID, partnerapi.BuildRequest{Tag: "1.5"})
	require.ErrorIs(t, err, partnerapi.ErrConflict)
	assert.Len(t, srv.ScanRequests(), 1)
	assert.Len(t, srv.BuildRequests(), 1)
	assert.Len(t, srv.ImageRequests(), 2)
}

func TestSeedDuplicates(t *testing.T) {
	f := New()
	p, err := f.AddProject(partnerapi.Project{ID: "p1"})
	require.NoError(t, err)
	_, err = f.AddProject(p)
	assert.ErrorIs(t, err, ErrDuplicate)
	img := partnerapi.Image{CertProject: "p1", DockerImageDigest: "sha256:aa", Architecture: "amd64"}
	_, err = f.AddImage(img)
	require.NoError(t, err)
	_, err = f.AddImage(img)
	assert.ErrorIs(t, err, ErrDuplicate)
	img.Architecture = "arm64"
	_, err = f.AddImage(img)
	assert.NoError(t, err, "another architecture of the same digest is another image")
	_, err = f.AddRepository(partnerapi.Repository{Registry: "r", Repository: "a/b"})
	require.NoError(t, err)
	_, err = f.AddRepository(partnerapi.Repository{Registry: "r", Repository: "a/b"})
	assert.ErrorIs(t, err, ErrDuplicate)
	assert.Error(t, f.SetRPMManifest("nope", nil))
	assert.Error(t, f.SetVulnerabilities("nope", nil))
}

func TestMountedOnOwnServer(t *testing.T) {
	f := New()
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	c, err := partnerapi.New(secret.New(f.APIKey()), partnerapi.WithBaseURL(ts.URL+BasePath), partnerapi.WithHTTPClient(ts.Client()))
	require.NoError(t, err)
	_, err = c.Project(t.Context(), "missing")
	assert.ErrorIs(t, err, partnerapi.ErrNotFound)
}

// FuzzFilterRoundTrip checks the client's filter builder against the fake's
// parser: whatever the value, Eq and In produce an expression that parses
// back to exactly that value, so input can never change the expression.
func FuzzFilterRoundTrip(f *testing.F) {
	f.Add("repositories.tags.name", "1.0")
	f.Add("docker_image_digest", "sha256:abc")
	f.Add("name", `a"b\c;d,e(f)g h=i!j~k<l>m'n`)
	f.Add("name", "")
	f.Add("a.b", "==")
	f.Fuzz(func(t *testing.T, field, value string) {
		for _, flt := range []partnerapi.Filter{
			partnerapi.Eq(field, value),
			partnerapi.In(field, value, "x"),
			partnerapi.And(partnerapi.Ne(field, value), partnerapi.Or(partnerapi.Eq("a", value), partnerapi.Eq("b", "c"))),
		} {
			if flt.Err() != nil {
				require.ErrorIs(t, flt.Err(), partnerapi.ErrInvalidFilter)
				return
			}
			n, err := parseRSQL(flt.String())
			require.NoError(t, err, flt.String())
			switch n := n.(type) {
			case cmpNode:
				assert.Equal(t, strings.Split(field, "."), n.path)
				assert.Equal(t, value, n.args[0])
			case andNode:
				require.Len(t, n, 2)
				assert.Equal(t, value, n[0].(cmpNode).args[0])
				or := n[1].(orNode)
				require.Len(t, or, 2)
				assert.Equal(t, value, or[0].(cmpNode).args[0])
			}
		}
	})
}
