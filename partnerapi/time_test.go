package partnerapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/secret"
)

func TestParseTimeForms(t *testing.T) {
	for in, want := range map[string]string{
		"2025-01-02T03:04:05.123456+00:00": "2025-01-02T03:04:05.123456Z",
		"2025-01-02T03:04:05+02:00":        "2025-01-02T01:04:05Z",
		"2024-01-30T12:00:00Z":             "2024-01-30T12:00:00Z",
		"20160927T11:50:00.000+0000":       "2016-09-27T11:50:00Z",
		"20160927T11:50:00+0000":           "2016-09-27T11:50:00Z",
		"20160927T115000Z":                 "2016-09-27T11:50:00Z",
		"2016-09-27T11:50:00.000+0000":     "2016-09-27T11:50:00Z",
		"2024-01-30T12:00:00.123456":       "2024-01-30T12:00:00.123456Z",
		"2016-09-27":                       "2016-09-27T00:00:00Z",
		"20160927":                         "2016-09-27T00:00:00Z",
		" 2016-09-27 ":                     "2016-09-27T00:00:00Z",
	} {
		got, ok := partnerapi.ParseTime(in)
		if assert.True(t, ok, in) {
			assert.Equal(t, want, got.Format(time.RFC3339Nano), in)
		}
	}
	for _, in := range []string{"", "yesterday", "2016-13-45", "27/09/2016", "20160927T"} {
		_, ok := partnerapi.ParseTime(in)
		assert.False(t, ok, in)
	}
}

func TestTimeJSON(t *testing.T) {
	var v struct {
		A, B, C, D partnerapi.Time
		E          *partnerapi.Time
	}
	require.NoError(t, json.Unmarshal([]byte(`{"A":"20160927T11:50:00.000+0000","B":"not a date","C":null,"D":1474977000,"E":"2016-09-27"}`), &v))
	assert.Equal(t, time.Date(2016, 9, 27, 11, 50, 0, 0, time.UTC), v.A.Time)
	assert.Empty(t, v.A.Raw)
	assert.True(t, v.B.Time.IsZero())
	assert.Equal(t, "not a date", v.B.Raw)
	assert.False(t, v.B.IsZero(), "an unread value is not zero: it is kept")
	assert.True(t, v.C.IsZero())
	assert.Equal(t, "1474977000", v.D.Raw)
	require.NotNil(t, v.E)
	assert.Equal(t, "2016-09-27T00:00:00Z", v.E.String())
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"A":"2016-09-27T11:50:00Z","B":"not a date","C":null,"D":"1474977000","E":"2016-09-27T00:00:00Z"}`, string(b))
	assert.Equal(t, []partnerapi.OddField{{Path: "B", Raw: "not a date"}, {Path: "D", Raw: "1474977000"}}, partnerapi.OddFields(&v))
}

func FuzzTimeUnmarshal(f *testing.F) {
	for _, s := range []string{`"20160927T11:50:00.000+0000"`, `"2025-01-02T03:04:05.123456+00:00"`, `null`, `"x"`, `12`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v partnerapi.Time
		if json.Valid(b) {
			require.NoError(t, json.Unmarshal(b, &v), "a valid JSON value never fails a date")
		}
		_, err := json.Marshal(v)
		require.NoError(t, err)
	})
}

// TestVulnerabilitiesListingSurvivesOddFields serves a vulnerabilities page
// with the catalog's compact public_date, a date no form reads and a field
// of the wrong type: every record comes through, odd values are kept or
// left out, and the client's log reports each.
func TestVulnerabilitiesListingSurvivesOddFields(t *testing.T) {
	page := `{"data": [
	  {"_id": "v1", "cve_id": "CVE-2016-5195", "severity": "Important", "advisory_id": "RHSA-2016:2098", "advisory_type": "RHSA",
	   "public_date": "20160927T11:50:00.000+0000", "packages": [{"srpm_nevra": "kernel-0:3.10.0-327.36.3.el7.src", "rpm_nevra": ["kernel-0:3.10.0-327.36.3.el7.x86_64"]}]},
	  {"_id": "v2", "cve_id": "CVE-2099-0001", "severity": "Low", "public_date": "sometime in 2016"},
	  {"_id": "v3", "cve_id": "CVE-2099-0002", "severity": 3, "public_date": "2024-01-30T12:00:00+00:00"}
	], "page": 0, "page_size": 100, "total": 3}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/images/id/img1/vulnerabilities") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	var logs testutil.SyncBuffer
	c, err := partnerapi.New(secret.New("k"), partnerapi.WithBaseURL(srv.URL), partnerapi.WithHTTPClient(srv.Client()),
		partnerapi.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	vs, err := partnerapi.Collect(c.Vulnerabilities(t.Context(), "img1", nil))
	require.NoError(t, err)
	require.Len(t, vs, 3)
	assert.Equal(t, time.Date(2016, 9, 27, 11, 50, 0, 0, time.UTC), vs[0].PublicDate.Time)
	assert.Equal(t, "RHSA-2016:2098", vs[0].AdvisoryID)
	assert.Equal(t, []string{"kernel-0:3.10.0-327.36.3.el7.x86_64"}, vs[0].Packages[0].RPMNEVRA)
	assert.True(t, vs[1].PublicDate.Time.IsZero())
	assert.Equal(t, "sometime in 2016", vs[1].PublicDate.Raw)
	assert.Equal(t, "CVE-2099-0002", vs[2].CVEID)
	assert.Empty(t, vs[2].Severity, "a number where a string belongs is left out")
	assert.Equal(t, time.Date(2024, 1, 30, 12, 0, 0, 0, time.UTC), vs[2].PublicDate.Time)
	out := logs.String()
	assert.Contains(t, out, `field=public_date value="sometime in 2016"`)
	assert.Contains(t, out, "field=severity")
}

// TestRealPayloadDates reads every date of the real catalog answers: none
// is left unread, and each "_date" field of the answer decodes to the
// instant it names.
func TestRealPayloadDates(t *testing.T) {
	dir := realdata(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	checked := 0
	for _, file := range files {
		name := filepath.Base(file)
		if strings.HasPrefix(name, "error.") {
			continue
		}
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		var decoded any
		if strings.HasPrefix(name, "rpm-manifest.") {
			var m partnerapi.RPMManifest
			require.NoError(t, json.Unmarshal(raw, &m))
			decoded = m
		} else {
			var p partnerapi.Page[partnerapi.Image]
			require.NoError(t, json.Unmarshal(raw, &p))
			decoded = p
		}
		assert.Empty(t, partnerapi.OddFields(decoded), name)
		// Every *_date string of the answer, re-read from the decoded value.
		var want, got any
		require.NoError(t, json.Unmarshal(raw, &want))
		b, err := json.Marshal(decoded)
		require.NoError(t, err)
		require.NoError(t, json.NewDecoder(bytes.NewReader(b)).Decode(&got))
		var walk func(w, g any, where string)
		walk = func(w, g any, where string) {
			switch w := w.(type) {
			case map[string]any:
				gm, _ := g.(map[string]any)
				for k, wv := range w {
					if s, ok := wv.(string); ok && strings.HasSuffix(k, "_date") {
						wt, ok := partnerapi.ParseTime(s)
						require.True(t, ok, "%s.%s: %q", where, k, s)
						gs, _ := gm[k].(string)
						gt, err := time.Parse(time.RFC3339Nano, gs)
						if assert.NoError(t, err, "%s.%s decoded", where, k) {
							assert.True(t, wt.Equal(gt), "%s.%s: %s vs %s", where, k, s, gs)
						}
						checked++
						continue
					}
					walk(wv, gm[k], where+"."+k)
				}
			case []any:
				gl, _ := g.([]any)
				for i := range w {
					if i < len(gl) {
						walk(w[i], gl[i], where)
					}
				}
			}
		}
		walk(want, got, name)
	}
	assert.Greater(t, checked, 10, "dates checked")
}
