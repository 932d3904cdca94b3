package api_test

import (
	"context"
	"time"

	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/openabs/abs/demo"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
)

const app = "demo/app" // a managed image of project p-shop; its name holds a '/'

func TestAPIOnSQLite(t *testing.T)   { testAPI(t, onSQLite) }
func TestAPIOnPostgres(t *testing.T) { testAPI(t, onPostgres) }

// testAPI drives every endpoint with each role over a real listener.
func testAPI(t *testing.T, kind dbKind) {
	e := newEnv(t, kind)
	t.Run("no token", func(t *testing.T) { e.t = t; noToken(t, e) })
	t.Run("read", func(t *testing.T) { e.t = t; reads(t, e) })
	t.Run("roles", func(t *testing.T) { e.t = t; roles(t, e) })
	t.Run("role matrix", func(t *testing.T) { e.t = t; roleMatrix(t, e) })
	t.Run("abuse", func(t *testing.T) { e.t = t; abuse(t, e) })
	t.Run("projects", func(t *testing.T) { e.t = t; projects(t, e) })
	t.Run("concurrent patches", func(t *testing.T) { e.t = t; concurrentPatches(t, e) })
	t.Run("cycles", func(t *testing.T) { e.t = t; cycles(t, e) })
	t.Run("metrics", func(t *testing.T) { e.t = t; metrics(t, e) })
}

// protected is every route that needs a token, with a path that exists.
var protected = [][2]string{
	{"GET", "/api/v1/projects"}, {"POST", "/api/v1/projects"},
	{"GET", "/api/v1/projects/" + shopID}, {"PATCH", "/api/v1/projects/" + shopID}, {"DELETE", "/api/v1/projects/" + shopID},
	{"GET", "/api/v1/projects/" + shopID + "/images"}, {"POST", "/api/v1/projects/" + shopID + "/images"},
	{"GET", img(app)}, {"PATCH", img(app)}, {"DELETE", img(app)},
	{"PUT", img(app, "/ssh-key")}, {"PUT", img(app, "/token")},
	{"GET", img(app, "/rebuilds")}, {"POST", img(app, "/rebuild")}, {"POST", img(app, "/retry")},
	{"GET", "/api/v1/plan"}, {"GET", "/api/v1/cycles"}, {"POST", "/api/v1/cycles"}, {"GET", "/api/v1/cycles/x"},
	{"GET", "/api/v1/audit"}, {"GET", "/metrics"},
}

func noToken(t *testing.T, e *env) {
	for _, rt := range protected {
		for _, tok := range []string{"", "not-a-token-but-long-enough", tokAdmin + "x"} {
			a := e.do(rt[0], rt[1], tok, `{}`)
			require.Equal(t, http.StatusUnauthorized, a.Status, "%s %s", rt[0], rt[1])
			assert.Equal(t, `Bearer realm="openabs"`, a.Header.Get("WWW-Authenticate"))
			a.problem(t)
		}
	}
	// The scheme is case-insensitive.
	for _, scheme := range []string{"bearer", "BEARER", "BeArEr"} {
		a := e.do("GET", "/api/v1/projects", "", nil, "Authorization", scheme+" "+tokViewer)
		assert.Equal(t, http.StatusOK, a.Status, scheme)
	}
	// Not a bearer scheme at all.
	a := e.do("GET", "/api/v1/projects", "", nil, "Authorization", "Basic "+tokAdmin)
	assert.Equal(t, http.StatusUnauthorized, a.Status)
	// The project is untouched by the refused DELETE and PATCH.
	a = e.do("GET", "/api/v1/projects/"+shopID, tokAdmin, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var p abs.Project
	a.json(t, &p)
	assert.Equal(t, "shop", p.Name)
	assert.Len(t, p.Images, 2)
	// The OpenAPI document needs no token.
	assert.Equal(t, http.StatusOK, e.do("GET", "/api/v1/openapi.json", "", nil).Status)
}

func reads(t *testing.T, e *env) {
	for _, tok := range []string{tokViewer, tokEditorShop, tokEditor, tokAdmin} {
		a := e.do("GET", img(app), tok, nil)
		require.Equal(t, http.StatusOK, a.Status, string(a.Body))
		var st abs.ImageStatus
		a.json(t, &st)
		assert.Equal(t, app, st.Image.Name)
		assert.Equal(t, "A", st.Grade, "rebased onto the fixed base")
		assert.True(t, strings.HasPrefix(st.Digest, "sha256:"), st.Digest)
		require.Len(t, st.Platforms, 1)
		assert.Equal(t, st.Digest, st.Platforms[0].Digest)
		require.NotEmpty(t, st.Timeline)
		assert.Nil(t, st.Timeline[len(st.Timeline)-1].Until, "the last step is open")
		require.NotNil(t, st.LastRebuild)
		assert.Equal(t, abs.RebuildPublished, st.LastRebuild.State)
		assert.NotEmpty(t, a.Header.Get("ETag"))
		assert.Equal(t, []string{"CVE-2099-7777"}, st.Unfixed, "the VEX says curl has no fix yet")
		assert.Empty(t, st.Findings)
		assert.Nil(t, st.NextDrop, "grade A with nothing unapplied drops no further")
	}
	a := e.do("GET", img(app, "/rebuilds"), tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var rb struct {
		Data     []abs.RebuildReport
		Page     int `json:"page"`
		PageSize int `json:"page_size"`
		Total    int `json:"total"`
	}
	a.json(t, &rb)
	require.Len(t, rb.Data, 1)
	assert.Equal(t, 1, rb.Total)
	assert.Equal(t, abs.RebuildPublished, rb.Data[0].State)
	assert.Equal(t, abs.ReasonAffected, rb.Data[0].Reason)
	assert.NotEmpty(t, rb.Data[0].NewDigest)
	assert.NotEqual(t, rb.Data[0].OldDigest, rb.Data[0].NewDigest)

	a = e.do("GET", "/api/v1/projects", tokViewerOther, nil)
	require.Equal(t, http.StatusOK, a.Status)
	var ps struct{ Data []abs.Project }
	a.json(t, &ps)
	assert.Empty(t, ps.Data, "a token scoped to another project lists none of shop")
	a = e.do("GET", "/api/v1/projects", tokViewer, nil)
	a.json(t, &ps)
	assert.Len(t, ps.Data, 1)

	a = e.do("GET", "/api/v1/plan", tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var rep abs.Report
	a.json(t, &rep)
	assert.Equal(t, abs.CycleDryRun, rep.State)
	assert.Len(t, rep.Images, 2)
	a = e.do("GET", "/api/v1/plan", tokViewerOther, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	a.json(t, &rep)
	assert.Empty(t, rep.Images, "a scoped token sees only its projects' images")
	readFindings(t, e)
}

// roles checks that a token outside its role or projects gets 403 and
// changes nothing.
func roles(t *testing.T, e *env) {
	before := e.do("GET", img(app), tokAdmin, nil)
	require.Equal(t, http.StatusOK, before.Status)
	var st0 abs.ImageStatus
	before.json(t, &st0)
	cycles0 := total(t, e, "/api/v1/cycles")
	// What each role may do is the role matrix (matrix_test.go); here,
	// tokens scoped to another project are refused on shop and change
	// nothing.
	forbidden := []struct {
		tok, method, path string
		body              any
	}{
		{tokEditorOther, "GET", img(app), nil},
		{tokEditorOther, "PATCH", img(app), `{"auto_publish":false}`},
		{tokEditorOther, "DELETE", img(app), nil},
		{tokEditorOther, "PUT", img(app, "/ssh-key"), `{"private_key":"x"}`},
		{tokEditorOther, "POST", img(app, "/rebuild"), nil},
		{tokEditorOther, "POST", img(app, "/retry"), nil},
		{tokEditorOther, "GET", img(app, "/rebuilds"), nil},
		{tokEditorOther, "GET", "/api/v1/projects/" + shopID, nil},
		{tokEditorOther, "GET", "/api/v1/projects/" + shopID + "/images", nil},
		{tokEditorOther, "PATCH", "/api/v1/projects/" + shopID, `{"name":"x"}`},
		{tokEditorOther, "POST", "/api/v1/cycles", nil},
		{tokViewerOther, "GET", img(app), nil},
	}
	for _, c := range forbidden {
		a := e.do(c.method, c.path, c.tok, c.body)
		require.Equal(t, http.StatusForbidden, a.Status, "%s %s with %s: %s", c.method, c.path, c.tok, a.Body)
		a.problem(t)
	}
	after := e.do("GET", img(app), tokAdmin, nil)
	var st1 abs.ImageStatus
	after.json(t, &st1)
	assert.Equal(t, st0.Image, st1.Image, "nothing changed")
	assert.Equal(t, cycles0, total(t, e, "/api/v1/cycles"), "no cycle started")

	// The editor scoped to shop may change it; the answer says what the
	// change implied.
	a := e.do("PATCH", img(app), tokEditorShop, map[string]any{"auto_rebuild": false, "auto_publish": false})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	a = e.do("PATCH", img(app), tokEditorShop, map[string]any{"auto_rebuild": true})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var ch struct {
		abs.Image
		Notes []string
	}
	a.json(t, &ch)
	assert.True(t, ch.AutoPublish, "auto-rebuild turns auto-publish on")
	assert.NotEmpty(t, ch.Notes)
	assert.Equal(t, fmt.Sprintf(`"%d"`, ch.Version), a.Header.Get("ETag"))

	// A manual rebuild runs in a cycle of its own.
	a = e.do("POST", img(app, "/rebuild"), tokEditorShop, nil)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var started struct{ Cycle string }
	a.json(t, &started)
	assert.Equal(t, "/api/v1/cycles/"+started.Cycle, a.Header.Get("Location"))
	rep := e.waitCycle(started.Cycle)
	i := slices.IndexFunc(rep.Plan, func(s abs.PlanStep) bool { return s.Image == app })
	require.GreaterOrEqual(t, i, 0, "the manual rebuild is planned though nothing affects the image: %+v", rep.Plan)
	assert.Equal(t, abs.ReasonManual, rep.Plan[i].Reason)
	assert.Equal(t, 2, total(t, e, img(app, "/rebuilds")))

	a = e.do("POST", img(app, "/retry"), tokEditorShop, nil)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var retried struct{ Cycle string }
	a.json(t, &retried)
	e.waitCycle(retried.Cycle)
	a = e.do("POST", "/api/v1/cycles", tokEditor, nil)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var cycle struct{ Cycle string }
	a.json(t, &cycle)
	e.waitCycle(cycle.Cycle)
	a = e.do("POST", "/api/v1/advisories", pushSecret, `{"advisory":"RHSA-2099:9003"}`)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var pushed struct{ Cycle string }
	a.json(t, &pushed)
	e.waitCycle(pushed.Cycle)

	// Each of them is in the audit log, with who asked.
	a = e.do("GET", "/api/v1/audit?page_size=50", tokAdmin, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var log struct{ Data []abs.AuditEntry }
	a.json(t, &log)
	has := func(actor, action, target, detail string) {
		t.Helper()
		assert.True(t, slices.ContainsFunc(log.Data, func(en abs.AuditEntry) bool {
			return en.Actor == actor && en.Action == action && en.Target == target && strings.Contains(en.Detail, detail)
		}), "audit has %s %s %s (%s): %+v", actor, action, target, detail, log.Data)
	}
	has("shop-dev", "rebuild", app, started.Cycle)
	has("shop-dev", "retry", app, retried.Cycle)
	has("ops", "start-cycle", cycle.Cycle, "cause api")
	has("advisory-push", "trigger", pushed.Cycle, "RHSA-2099:9003")
}

func total(t *testing.T, e *env, path string) int {
	t.Helper()
	a := e.do("GET", path, tokAdmin, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var p struct{ Total int }
	a.json(t, &p)
	return p.Total
}

func abuse(t *testing.T, e *env) {
	big := `{"name":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
	a := e.do("PATCH", "/api/v1/projects/"+shopID, tokAdmin, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.Status)
	a.problem(t)
	a = e.do("PUT", img(app, "/ssh-key"), tokAdmin, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.Status)

	for _, body := range []string{`{"auto_publish":true,"admin":true}`, `{"version":1,"credential":{}}`, `{"auto_publish":"yes"}`,
		`{"auto_publish":true}{}`, `{`, `[]`} {
		a = e.do("PATCH", img(app), tokAdmin, body)
		assert.Equal(t, http.StatusBadRequest, a.Status, body)
		a.problem(t)
	}
	a = e.do("POST", "/api/v1/projects", tokAdmin, `{"id":"p-x","owner":"typo"}`)
	assert.Equal(t, http.StatusBadRequest, a.Status)
	assert.Contains(t, a.problem(t).Detail, `"owner"`)
	a = e.do("PATCH", img(app), tokAdmin, `{"auto_publish":true}`, "Content-Type", "text/plain")
	assert.Equal(t, http.StatusUnsupportedMediaType, a.Status)

	for _, path := range []string{"/api/v1/projects/a%20b", "/api/v1/projects/a%2F..%2Fb", img("a b"), img("x\x01y"), img("%zz")} {
		a = e.do("GET", path, tokAdmin, nil)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, a.Status, path)
		if a.Status == http.StatusNotFound {
			assert.NotEqual(t, "no such resource", a.problem(t).Detail, path)
		}
	}
	a = e.do("GET", img("a b"), tokAdmin, nil)
	assert.Equal(t, http.StatusBadRequest, a.Status)
	a = e.do("POST", "/api/v1/projects", tokAdmin, `{"id":"bad id"}`)
	assert.Equal(t, http.StatusBadRequest, a.Status)
	a = e.do("GET", img("no/such-image"), tokAdmin, nil)
	assert.Equal(t, http.StatusNotFound, a.Status)
	a = e.do("GET", "/api/v1/cycles/no-such-cycle", tokAdmin, nil)
	assert.Equal(t, http.StatusNotFound, a.Status)
	for _, q := range []string{"page=-1", "page=x", "page_size=0", "page_size=501"} {
		a = e.do("GET", "/api/v1/cycles?"+q, tokAdmin, nil)
		assert.Equal(t, http.StatusBadRequest, a.Status, q)
	}
	a = e.do("PUT", "/api/v1/cycles", tokAdmin, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, a.Status)
	assert.Contains(t, a.Header.Get("Allow"), "GET")
	a.problem(t)
	a = e.do("PATCH", img(app), tokAdmin, `{"auto_publish":true}`, "If-Match", `"999999"`)
	assert.Equal(t, http.StatusConflict, a.Status, string(a.Body))
	a = e.do("PATCH", img(app), tokAdmin, `{"auto_publish":true}`, "If-Match", `garbage`)
	assert.Equal(t, http.StatusBadRequest, a.Status)
}

// sshKey returns a fresh ed25519 private key in OpenSSH PEM form.
func sshKey(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	return string(pem.EncodeToMemory(blk))
}

func projects(t *testing.T, e *env) {
	a := e.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": "p-other", "name": "other", "owners": []string{"o@example.com"},
		"images": []map[string]any{{"name": "other/svc", "repository": "registry.example/other/svc", "auto_rebuild": true}}})
	require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
	assert.Equal(t, "/api/v1/projects/p-other", a.Header.Get("Location"))
	a = e.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": "p-other"})
	assert.Equal(t, http.StatusConflict, a.Status, string(a.Body))

	// The token scoped to p-other now sees it, and only it.
	a = e.do("GET", "/api/v1/projects", tokViewerOther, nil)
	var ps struct {
		Data  []abs.Project
		Total int
	}
	a.json(t, &ps)
	require.Len(t, ps.Data, 1, string(a.Body))
	assert.Equal(t, "p-other", ps.Data[0].ID)

	a = e.do("POST", "/api/v1/projects/p-other/images", tokEditorOther, map[string]any{"name": "other/web", "repository": "registry.example/other/web",
		"source": map[string]any{"url": "ssh://git@127.0.0.1:2222/web.git", "branch": "main"}, "build_service": true})
	require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
	assert.Equal(t, "/api/v1/images/other%2Fweb", a.Header.Get("Location"))
	a = e.do("GET", "/api/v1/projects/p-other/images?page_size=1", tokViewerOther, nil)
	require.Equal(t, http.StatusOK, a.Status)
	var is struct {
		Data     []abs.Image
		Page     int `json:"page"`
		PageSize int `json:"page_size"`
		Total    int `json:"total"`
	}
	a.json(t, &is)
	assert.Len(t, is.Data, 1)
	assert.Equal(t, 2, is.Total)
	assert.Equal(t, 1, is.PageSize)

	// Write-only secrets: the answer is a fingerprint.
	key := sshKey(t)
	a = e.do("PUT", img("other/web", "/ssh-key"), tokEditorOther, map[string]string{"private_key": key})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var c abs.Credential
	a.json(t, &c)
	assert.Equal(t, abs.CredentialSSHKey, c.Kind)
	assert.True(t, strings.HasPrefix(c.Fingerprint, "SHA256:"), c.Fingerprint)
	a = e.do("PUT", img("other/web", "/ssh-key"), tokEditorOther, map[string]string{"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"})
	assert.Equal(t, http.StatusBadRequest, a.Status, string(a.Body))
	assert.NotContains(t, string(a.Body), "not a key")
	a = e.do("PUT", img("other/web", "/token"), tokEditorOther, map[string]string{"token": "ghp_secret_token_0123456789"})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	a = e.do("GET", img("other/web"), tokViewerOther, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var st abs.ImageStatus
	a.json(t, &st)
	require.NotNil(t, st.Image.Credential)
	assert.NotEmpty(t, st.Image.Credential.Fingerprint)
	a = e.do("GET", "/api/v1/projects/p-other", tokAdmin, nil)
	require.Equal(t, http.StatusOK, a.Status)

	a = e.do("PATCH", "/api/v1/projects/p-other", tokEditorOther, map[string]any{"name": "Other"})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	a = e.do("DELETE", img("other/svc"), tokEditorOther, nil)
	require.Equal(t, http.StatusNoContent, a.Status, string(a.Body))
	a = e.do("GET", img("other/svc"), tokAdmin, nil)
	assert.Equal(t, http.StatusNotFound, a.Status)

	// Audit: who, what, when; admin only.
	a = e.do("GET", "/api/v1/audit?page_size=100", tokAdmin, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var au struct {
		Data  []abs.AuditEntry
		Total int
	}
	a.json(t, &au)
	actors := map[string]bool{}
	for _, en := range au.Data {
		actors[en.Actor] = true
	}
	assert.True(t, actors["root"] && actors["other-dev"] && actors["shop-dev"], "%v", actors)

	a = e.do("DELETE", "/api/v1/projects/p-other", tokAdmin, nil)
	require.Equal(t, http.StatusNoContent, a.Status, string(a.Body))
	a = e.do("GET", "/api/v1/projects/p-other", tokAdmin, nil)
	assert.Equal(t, http.StatusNotFound, a.Status)

	// The key (or any line of it), the token and the tokens themselves
	// are in no answer.
	e.mu.Lock()
	all := strings.Join(e.bodies, "\n")
	e.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(key), "\n")[1:] {
		if len(line) > 8 && !strings.HasPrefix(line, "-----") {
			require.NotContains(t, all, line)
		}
	}
	for _, s := range []string{"ghp_secret_token_0123456789", tokAdmin, tokEditorOther} {
		require.NotContains(t, all, s)
	}
	log := e.logText()
	require.NotContains(t, log, "ghp_secret_token_0123456789")
	require.NotContains(t, log, strings.Split(key, "\n")[1])
}

// concurrentPatches flips distinct settings of one image from many
// clients at once: every accepted change is in the final state (no lost
// switch), with and without If-Match.
func concurrentPatches(t *testing.T, e *env) {
	a := e.do("PATCH", img(app), tokAdmin, map[string]any{"auto_rebuild": false, "auto_publish": false, "build_service": false,
		"tags": []string{}, "owners": []string{}, "base": ""})
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var im abs.Image
	a.json(t, &im)
	patches := []map[string]any{
		{"auto_publish": true}, {"build_service": true}, {"tags": []string{"1.0"}}, {"owners": []string{"x@example.com"}},
		{"base": "registry.example/base:9"}, {"build_args": map[string]string{"A": "1"}},
	}
	for _, ifMatch := range []bool{false, true} {
		var wg sync.WaitGroup
		status := make([]int, len(patches))
		for i, p := range patches {
			wg.Go(func() {
				var hdr []string
				if ifMatch {
					hdr = []string{"If-Match", fmt.Sprintf(`"%d"`, im.Version)}
				}
				status[i] = e.do("PATCH", img(app), tokEditorShop, p, hdr...).Status
			})
		}
		wg.Wait()
		a = e.do("GET", img(app), tokAdmin, nil)
		var st abs.ImageStatus
		a.json(t, &st)
		got := st.Image
		for i, s := range status {
			if ifMatch && s == http.StatusConflict {
				continue
			}
			require.Equal(t, http.StatusOK, s, "patch %v", patches[i])
			switch {
			case patches[i]["auto_publish"] != nil:
				assert.True(t, got.AutoPublish, "lost auto_publish")
			case patches[i]["build_service"] != nil:
				assert.True(t, got.BuildService, "lost build_service")
			case patches[i]["tags"] != nil:
				assert.Contains(t, got.Tags, "1.0", "lost tags")
			case patches[i]["owners"] != nil:
				assert.Contains(t, got.Owners, "x@example.com", "lost owners")
			case patches[i]["base"] != nil:
				assert.Equal(t, "registry.example/base:9", got.Base, "lost base")
			default:
				assert.Equal(t, "1", got.BuildArgs["A"], "lost build_args")
			}
		}
		if ifMatch {
			assert.Equal(t, 1, countOf(status, http.StatusOK), "one change on version %d wins, the others get 409: %v", im.Version, status)
		}
		im = got
	}
}

func countOf(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func cycles(t *testing.T, e *env) {
	a := e.do("POST", "/api/v1/cycles", tokEditor, nil)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
	var started struct{ Cycle string }
	a.json(t, &started)
	e.waitCycle(started.Cycle)
	a = e.do("POST", "/api/v1/cycles", tokAdmin, `{"advisory":"RHSA-2099:9001"}`)
	require.Equal(t, http.StatusAccepted, a.Status, string(a.Body))

	a = e.do("GET", "/api/v1/cycles?page_size=2", tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status)
	var cs struct {
		Data     []abs.CycleInfo
		Page     int `json:"page"`
		PageSize int `json:"page_size"`
		Total    int `json:"total"`
	}
	a.json(t, &cs)
	require.Len(t, cs.Data, 2)
	assert.GreaterOrEqual(t, cs.Total, 4)
	assert.False(t, cs.Data[0].Started.Before(cs.Data[1].Started), "newest first")
	a = e.do("GET", fmt.Sprintf("/api/v1/cycles?page=%d&page_size=2", cs.Total), tokViewer, nil)
	a.json(t, &cs)
	assert.Empty(t, cs.Data)

	a = e.do("GET", "/api/v1/cycles/"+started.Cycle, tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var rep abs.Report
	a.json(t, &rep)
	assert.Equal(t, started.Cycle, rep.Cycle)

	// The advisory push, mounted under /api/v1, takes its own secret.
	a = e.do("POST", "/api/v1/advisories", tokAdmin, `{"advisory":"RHSA-2099:9002"}`)
	assert.Equal(t, http.StatusUnauthorized, a.Status)
	a = e.do("POST", "/api/v1/advisories", pushSecret, `{"advisory":"RHSA-2099:9002"}`)
	assert.Equal(t, http.StatusAccepted, a.Status, string(a.Body))
}

func metrics(t *testing.T, e *env) {
	a := e.do("GET", "/metrics", tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status)
	body := string(a.Body)
	for _, want := range []string{
		`openabs_images{grade="A"} 2`,
		`openabs_stats_up 1`,
		`openabs_rebuilds{method="rebase",state="published"}`,
		`openabs_cycle_duration_seconds_count{state="planned"}`,
		`openabs_feed_lag_seconds `,
		`openabs_notification_failures 0`,
		"# TYPE openabs_jobs gauge",
	} {
		assert.Contains(t, body, want)
	}
}

// readFindings reads, through the API, the status of an image still on
// the old base (the build service off: scanned and graded only): its
// findings with the rule that matched, its unfixed CVE and its next drop.
func readFindings(t *testing.T, e *env) {
	old, err := demo.Image(must(demo.OldRPMDB()))
	require.NoError(t, err)
	ref, err := name.ParseReference(e.reg + "/demo/old:1.0")
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, old, remote.WithContext(t.Context())))
	a := e.do("POST", "/api/v1/projects", tokAdmin, map[string]any{"id": "p-old", "name": "old",
		"images": []map[string]any{{"name": "demo/old", "repository": e.reg + "/demo/old", "tag": "1.0"}}})
	require.Equal(t, http.StatusCreated, a.Status, string(a.Body))
	defer e.do("DELETE", "/api/v1/projects/p-old", tokAdmin, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err = e.o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)

	a = e.do("GET", img("demo/old"), tokViewer, nil)
	require.Equal(t, http.StatusOK, a.Status, string(a.Body))
	var st abs.ImageStatus
	a.json(t, &st)
	require.NotEmpty(t, st.Findings, "the old base misses the demo fixes")
	var advs []string
	for _, f := range st.Findings {
		assert.NotEmpty(t, f.Match, "%s: the rule that matched", f.Advisory)
		assert.NotEmpty(t, f.Package, f.Advisory)
		advs = append(advs, f.Advisory)
	}
	for _, adv := range demo.Advisories {
		assert.Contains(t, advs, adv.ID)
	}
	assert.Equal(t, []string{"CVE-2099-7777"}, st.Unfixed)
	assert.Equal(t, "C", st.Grade, "the demo's Important advisories, weeks old")
	require.NotNil(t, st.NextDrop, "grade C drops further")
	assert.True(t, st.NextDrop.After(e.now), "the next drop is ahead")
	assert.Equal(t, "D", st.NextGrade)
	// The raw JSON names the fields as the OpenAPI document does.
	assert.Contains(t, string(a.Body), `"match":`)
	assert.Contains(t, string(a.Body), `"unfixed":["CVE-2099-7777"]`)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
