package partnerapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/secret"
)

// realdata returns $ABS_REALDATA/pyxis, or skips the test.
func realdata(t *testing.T) string {
	t.Helper()
	root := os.Getenv("ABS_REALDATA")
	if root == "" {
		t.Skip("ABS_REALDATA is not set; skipping tests against real catalog answers")
	}
	dir := filepath.Join(root, "pyxis")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("ABS_REALDATA has no pyxis folder: %v", err)
	}
	return dir
}

// The fields the pipeline needs; each must survive decoding.
var (
	imageFields = []string{"_id", "docker_image_digest", "architecture", "certified", "content_sets",
		"cpe_ids", "freshness_grades", "repositories", "image_id", "parsed_data", "creation_date"}
	gradeFields     = []string{"grade", "start_date", "end_date", "creation_date"}
	imageRepoFields = []string{"registry", "repository", "published", "tags", "push_date", "published_date",
		"manifest_list_digest", "manifest_schema2_digest"}
	tagFields      = []string{"name", "added_date"}
	rpmFields      = []string{"name", "version", "release", "architecture", "nvra", "srpm_name", "srpm_nevra", "gpg", "summary"}
	manifestFields = []string{"_id", "image_id", "rpms"}
)

// normalize makes two JSON documents comparable: dates become one
// canonical UTC form, since the catalog writes "+00:00" and microseconds
// where Go writes "Z".
func normalize(v any) any {
	switch v := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC().Format(time.RFC3339Nano)
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = normalize(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	}
	return v
}

func generic(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return normalize(out)
}

func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// subset checks that every value in got equals the one at the same place
// in want (decoding dropped fields but changed none), and that the named
// fields of want survived.
func subset(t checker, where string, want, got any, named map[string][]string) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.Truef(t, ok, "%s: want an object, got %T", where, got) {
			return
		}
		for k, gv := range g {
			wv, ok := w[k]
			if !ok {
				assert.Truef(t, empty(gv) || gv == false || gv == float64(0), "%s.%s: decoding invented %v", where, k, gv)
				continue
			}
			subset(t, where+"."+k, wv, gv, named)
		}
		key := where[strings.LastIndexByte(where, '.')+1:]
		key = strings.TrimRight(key, "[]0123456789")
		for _, f := range named[key] {
			if wv, ok := w[f]; ok && !empty(wv) {
				_, kept := g[f]
				assert.Truef(t, kept, "%s: field %s was lost", where, f)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			assert.Truef(t, empty(w), "%s: want a list, got %T", where, got)
			return
		}
		if !assert.Lenf(t, g, len(w), "%s: list length", where) {
			return
		}
		for i := range w {
			subset(t, where+"["+strconv.Itoa(i)+"]", w[i], g[i], named)
		}
	default:
		assert.Equalf(t, want, got, "%s", where)
	}
}

// checker is the part of *testing.T that subset uses.
type checker interface {
	assert.TestingT
	Helper()
}

// recorder counts failures, to show that subset can fail.
type recorder struct{ failures []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

func TestSubsetDetectsLoss(t *testing.T) {
	want := map[string]any{"data": []any{map[string]any{"_id": "a", "architecture": "amd64", "certified": true}}}
	tests := []struct {
		name string
		got  any
		fail bool
	}{
		{"same", want, false},
		{"named field lost", map[string]any{"data": []any{map[string]any{"_id": "a", "certified": true}}}, true},
		{"value changed", map[string]any{"data": []any{map[string]any{"_id": "b", "architecture": "amd64", "certified": true}}}, true},
		{"element lost", map[string]any{"data": []any{}}, true},
		{"field invented", map[string]any{"data": []any{map[string]any{"_id": "a", "architecture": "amd64", "certified": true, "x": "y"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			subset(&r, "page", want, tt.got, named)
			assert.Equal(t, tt.fail, len(r.failures) > 0, r.failures)
		})
	}
}

var named = map[string][]string{
	"data":             imageFields,
	"freshness_grades": gradeFields,
	"repositories":     imageRepoFields,
	"tags":             tagFields,
	"rpms":             rpmFields,
	"manifest":         manifestFields,
}

func checkImagePage(t *testing.T, raw []byte) partnerapi.Page[partnerapi.Image] {
	t.Helper()
	var page partnerapi.Page[partnerapi.Image]
	require.NoError(t, json.Unmarshal(raw, &page))
	var want map[string]any
	require.NoError(t, json.Unmarshal(raw, &want))
	require.NotEmpty(t, page.Data)
	assert.Equal(t, want["total"], float64(page.Total))
	assert.Equal(t, want["page_size"], float64(page.PageSize))
	subset(t, "page.data", normalize(want["data"]), generic(t, page.Data), named)
	return page
}

func checkManifest(t *testing.T, raw []byte) partnerapi.RPMManifest {
	t.Helper()
	var m partnerapi.RPMManifest
	require.NoError(t, json.Unmarshal(raw, &m))
	var want any
	require.NoError(t, json.Unmarshal(raw, &want))
	subset(t, "manifest", normalize(want), generic(t, m), named)
	return m
}

func TestDecodeFixtures(t *testing.T) {
	raw, err := os.ReadFile("testdata/images-page.json")
	require.NoError(t, err)
	page := checkImagePage(t, raw)
	img := page.Data[0]
	assert.Equal(t, "sha256:1111111111111111111111111111111111111111111111111111111111111111", img.DockerImageDigest)
	require.Len(t, img.FreshnessGrades, 2)
	require.NotNil(t, img.FreshnessGrades[0].EndDate)
	assert.Nil(t, img.FreshnessGrades[1].EndDate)
	assert.Equal(t, "A", img.GradeAt(time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, "C", img.GradeAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, "", img.GradeAt(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, []string{"1.4", "latest"}, []string{img.Repositories[0].Tags[0].Name, img.Repositories[0].Tags[1].Name})
	v, ok := img.ParsedData.Label("version")
	assert.True(t, ok)
	assert.Equal(t, "1.4", v)

	raw, err = os.ReadFile("testdata/rpm-manifest.json")
	require.NoError(t, err)
	m := checkManifest(t, raw)
	assert.Len(t, m.RPMs, 3)
}

func TestDecodeRealPayloads(t *testing.T) {
	dir := realdata(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			switch {
			case strings.HasPrefix(name, "error."):
				checkRealError(t, name, raw)
			case strings.HasPrefix(name, "rpm-manifest."):
				m := checkManifest(t, raw)
				var want struct{ RPMs []json.RawMessage }
				require.NoError(t, json.Unmarshal(raw, &want))
				assert.Len(t, m.RPMs, len(want.RPMs))
				for _, r := range m.RPMs {
					assert.NotEmpty(t, r.Name)
					assert.NotEmpty(t, r.NVRA)
				}
			default:
				page := checkImagePage(t, raw)
				for _, img := range page.Data {
					assert.NotEmpty(t, img.ID)
					assert.NotEmpty(t, img.Architecture)
				}
			}
		})
	}
}

func TestRealGradesWithAndWithoutEndDate(t *testing.T) {
	dir := realdata(t)
	var closed, open, tags, contentSets int
	files, _ := filepath.Glob(filepath.Join(dir, "containerImage.*.json"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		var page partnerapi.Page[partnerapi.Image]
		require.NoError(t, json.Unmarshal(raw, &page))
		for _, img := range page.Data {
			for i, g := range img.FreshnessGrades {
				if g.EndDate == nil {
					open++
					assert.Equal(t, len(img.FreshnessGrades)-1, i, "only the last grade is open")
				} else {
					closed++
					assert.True(t, g.EndDate.After(g.StartDate.Time))
				}
			}
			contentSets += len(img.ContentSets)
			assert.NotEmpty(t, img.Repositories)
			for _, r := range img.Repositories {
				tags += len(r.Tags)
			}
		}
	}
	assert.Positive(t, closed, "grades with end_date")
	assert.Positive(t, open, "grades without end_date")
	assert.Positive(t, tags, "repository tags")
	assert.Positive(t, contentSets, "content sets")
}

// checkRealError parses a real error body both directly and through the
// client, served with the status its name gives.
func checkRealError(t *testing.T, name string, raw []byte) {
	t.Helper()
	status, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "error."), "-", 2)[0])
	require.NoError(t, err, "file name carries the status")
	var want struct {
		Type, Title, Detail string
		Status              int
		TraceID             string `json:"trace_id"`
	}
	require.NoError(t, json.Unmarshal(raw, &want))

	check := func(t *testing.T, e *partnerapi.Error) {
		assert.Equal(t, status, e.Status)
		assert.Equal(t, want.Status, e.Status)
		assert.Equal(t, want.Type, e.Type)
		assert.Equal(t, want.Title, e.Title)
		assert.Equal(t, want.Detail, e.Detail)
		assert.Equal(t, want.TraceID, e.TraceID)
		assert.Contains(t, e.Error(), want.TraceID)
	}
	check(t, partnerapi.ParseError(status, raw))

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(raw)
	}))
	t.Cleanup(ts.Close)
	c, err := partnerapi.New(secret.New("k"), partnerapi.WithBaseURL(ts.URL), partnerapi.WithHTTPClient(ts.Client()))
	require.NoError(t, err)
	_, err = c.Image(t.Context(), "x")
	var e *partnerapi.Error
	require.ErrorAs(t, err, &e)
	check(t, e)
	if status == http.StatusUnauthorized {
		assert.ErrorIs(t, err, partnerapi.ErrUnauthorized)
	}
	assert.NotErrorIs(t, err, partnerapi.ErrNotFound)
}

func TestErrorFixtures(t *testing.T) {
	tests := []struct {
		file     string
		status   int
		sentinel error
		title    string
		detail   string
		trace    string
	}{
		{"error-404.json", 404, partnerapi.ErrNotFound, "Not Found", "The requested URL was not found", "0x00000000000000000000000000000404"},
		{"error-409.json", 409, partnerapi.ErrConflict, "Conflict", "An open publish request", "0x00000000000000000000000000000409"},
		{"error-400-list.json", 400, nil, "Bad Request", `["container.auto_rebuild: requires container.auto_publish"]`, "0x00000000000000000000000000000400"},
		{"error-502.html", 502, nil, "Bad Gateway", "<html><body><h1>502 Bad Gateway</h1></body></html>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			e := partnerapi.ParseError(tt.status, raw)
			assert.Equal(t, tt.status, e.Status)
			assert.Equal(t, tt.title, e.Title)
			assert.True(t, strings.HasPrefix(e.Detail, tt.detail), e.Detail)
			assert.Equal(t, tt.trace, e.TraceID)
			for _, s := range []error{partnerapi.ErrNotFound, partnerapi.ErrConflict, partnerapi.ErrUnauthorized} {
				assert.Equal(t, s == tt.sentinel, e.Is(s), fmt.Sprint(s))
			}
		})
	}
}
