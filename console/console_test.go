package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/secret"
)

// postRoutes are every form the console serves, for one image.
var postRoutes = []string{"/configure/demo/app", "/sshkey/demo/app", "/token/demo/app", "/test-access/demo/app", "/rebuild/demo/app",
	"/retry/demo/app", "/plan/demo/app"}

func TestSignIn(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)

	resp, _ := c.get("/")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed out: sent to the sign-in page")
	assert.Equal(t, "/signin", resp.Header.Get("Location"))

	resp, body := c.post("/signin", url.Values{"token": {"not-a-token-not-a-token-not-a-token"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body, "not valid")
	assert.Empty(t, resp.Cookies())

	resp, _ = c.post("/signin", url.Values{"token": {editorToken}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ck := resp.Cookies()
	require.Len(t, ck, 1)
	assert.True(t, ck[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck[0].SameSite)
	assert.False(t, ck[0].Secure, "loopback: a cookie over plain HTTP")
	assert.NotContains(t, ck[0].Value, editorToken)

	// Addressed by a public name, the cookie is Secure.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, w.console.URL+"/signin",
		strings.NewReader(url.Values{"token": {editorToken}}.Encode()))
	require.NoError(t, err)
	req.Host = "console.example.com"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, resp.Cookies(), 1)
	assert.True(t, resp.Cookies()[0].Secure)

	resp, body = c.get("/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "demo/app")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")

	// Sign-out needs the CSRF token, then ends the session server-side.
	csrf := csrfOf(t, body)
	resp, _ = c.post("/signout", url.Values{})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = c.post("/signout", url.Values{"csrf": {csrf}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.get("/")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

var (
	postFormRE = regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]*)"[\s\S]*?</form>`)
	buttonRE   = regexp.MustCompile(`<button`)
)

func TestViewerSeesNoButtonsAndGets403(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)
	csrf := c.signIn(viewerToken)
	for _, page := range []string{"/", "/images/demo/app", "/configure/demo/app"} {
		resp, body := c.get(page)
		require.Equal(t, http.StatusOK, resp.StatusCode, page)
		var forms []string
		for _, m := range postFormRE.FindAllStringSubmatch(body, -1) {
			if buttonRE.MatchString(m[0]) {
				forms = append(forms, m[1])
			}
		}
		assert.Equal(t, []string{"/signout"}, forms, "%s: the only button that posts is sign-out", page)
	}
	for _, path := range postRoutes {
		resp, _ := c.post(path, url.Values{"csrf": {csrf}, "auto_rebuild": {"on"}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	img, err := w.o.GetImage(t.Context(), "demo/app")
	if err == nil {
		assert.False(t, img.AutoRebuild, "a viewer's post changed nothing")
	}
}

func TestFormsNeedTheSessionsCSRFToken(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)
	csrf := c.signIn(editorToken)
	other := newClient(t, w.console.URL).signIn(editorToken)
	require.NotEqual(t, csrf, other, "one token per session")
	for _, path := range postRoutes {
		resp, _ := c.post(path, url.Values{"auto_rebuild": {"on"}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no token: %s", path)
		resp, _ = c.post(path, url.Values{"csrf": {other}, "auto_rebuild": {"on"}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "another session's token: %s", path)
	}
	// A cross-site post is refused even with the right token.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, w.console.URL+"/rebuild/demo/app",
		strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	// Signed out, a post is refused.
	resp, _ = newClient(t, w.console.URL).post("/rebuild/demo/app", url.Values{"csrf": {csrf}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestFleetAndImagePages(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)
	c.signIn(viewerToken)
	_, body := c.get("/")
	assert.Regexp(t, `data-image="demo/api"[\s\S]*data-grade="C"`, body)
	assert.Contains(t, body, "<td>linux")
	assert.Contains(t, body, "RHSA-2099", "the unapplied Important advisories are listed")
	_, body = c.get("/?grade=A")
	assert.Contains(t, body, "No image matches.")
	_, body = c.get("/?project=demo&sort=name&order=desc")
	assert.Less(t, strings.Index(body, `data-image="demo/app"`), strings.Index(body, `data-image="demo/api"`), "name, descending")

	resp, body := c.get("/images/demo/app")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "<svg", "the timeline is drawn on the server")
	assert.Contains(t, body, "Freshness grade timeline")
	assert.Contains(t, body, "fixed in", "findings show the match path")
	resp, _ = c.get("/images/no/such")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestProjectScopedToken(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)
	csrf := c.signIn(otherToken)
	_, body := c.get("/")
	assert.NotContains(t, body, "demo/app", "an editor of another project sees none of this one")
	resp, _ := c.get("/images/demo/app")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	for _, path := range postRoutes {
		resp, _ := c.post(path, url.Values{"csrf": {csrf}})
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
}

func TestEditorSavesSettings(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)
	csrf := c.signIn(editorToken)
	img, err := w.o.GetImage(t.Context(), "demo/app")
	require.NoError(t, err)
	form := url.Values{"csrf": {csrf}, "version": {fmt.Sprint(img.Version)}, "build_service": {"on"}, "auto_rebuild": {"on"},
		"url": {img.SourceSpec.URL}, "ref_kind": {"tag"}, "ref": {"v1.0"}, "containerfile": {"Dockerfile"}, "context_dir": {"app"},
		"owners": {"a@example.com\nb@example.com"}, "tags": {"latest, 1.0"}}
	resp, _ := c.post("/configure/demo/app", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body := c.get("/configure/demo/app")
	assert.Contains(t, body, "auto-rebuild turns on auto-publish")
	got, err := w.o.GetImage(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.True(t, got.AutoRebuild)
	assert.True(t, got.AutoPublish, "auto-rebuild turned auto-publish on")
	require.NotNil(t, got.SourceSpec)
	assert.Equal(t, "v1.0", got.SourceSpec.Tag)
	assert.Empty(t, got.SourceSpec.Branch)
	assert.Equal(t, "Dockerfile", got.SourceSpec.Containerfile)
	assert.Equal(t, "app", got.SourceSpec.ContextDir)
	assert.Contains(t, got.Tags, "1.0")
	assert.Contains(t, got.Owners, "b@example.com")

	// The same form again, with the version read before: a conflict, nothing lost.
	resp, _ = c.post("/configure/demo/app", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/configure/demo/app")
	assert.Contains(t, body, "changed this image since you opened the page")

	// A key that does not parse is refused with a message, and never echoed.
	_, body = c.get("/configure/demo/app")
	resp, _ = c.post("/sshkey/demo/app", url.Values{"csrf": {csrfOf(t, body)}, "key_text": {"-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key-c2VjcmV0\n-----END OPENSSH PRIVATE KEY-----"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/configure/demo/app")
	assert.Contains(t, body, "SSH key not stored")
	assert.NotContains(t, body, "not-a-key-c2VjcmV0")
}

// BenchmarkPages serves the fleet and image pages of the demo fleet from
// the real orchestrator (stored state, matching, grading, the chart).
func BenchmarkPages(b *testing.B) {
	w := newWorld(b)
	jar, err := cookiejar.New(nil)
	require.NoError(b, err)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(w.console.URL+"/signin", url.Values{"token": {viewerToken}})
	require.NoError(b, err)
	resp.Body.Close()
	for name, page := range map[string]string{"fleet": "/", "image": "/images/demo/app"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Get(w.console.URL + page)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

func TestEditorActions(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.console.URL)
	csrf := c.signIn(editorToken)

	// Dry run: back to the image page with the plan (auto-rebuild is off:
	// nothing planned for it).
	resp, _ := c.post("/plan/demo/app", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Contains(t, loc, "/images/demo/app?plan=")
	_, body := c.get(loc)
	assert.Contains(t, body, "Dry run done")
	assert.Contains(t, body, "Nothing to rebuild for this image.")

	// Retry: a cycle page.
	resp, _ = c.post("/retry/demo/app", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc = resp.Header.Get("Location")
	require.Contains(t, loc, "/cycles/")
	resp, body = c.get(loc)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "Cause retry")

	// Test access with a source nobody answers at: the page says it failed.
	img, err := w.o.GetImage(t.Context(), "demo/app")
	require.NoError(t, err)
	resp, _ = c.post("/configure/demo/app", url.Values{"csrf": {csrf}, "version": {fmt.Sprint(img.Version)}, "build_service": {"on"},
		"url": {"file:///nonexistent/repository"}, "ref": {"main"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = c.post("/test-access/demo/app", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/configure/demo/app")
	assert.Contains(t, body, "Access test failed")
	// A real SSH server whose host key is not the pinned one: refused.
	git := gittest.StartSSH(t, filepath.Join(w.gitDirs["demo/app"], ".git"))
	other := gittest.StartSSH(t, filepath.Join(w.gitDirs["demo/api"], ".git"))
	img, err = w.o.GetImage(t.Context(), "demo/app")
	require.NoError(t, err)
	_, body = c.get("/configure/demo/app")
	csrf = csrfOf(t, body)
	resp, _ = c.post("/configure/demo/app", url.Values{"csrf": {csrf}, "version": {fmt.Sprint(img.Version)}, "build_service": {"on"},
		"url": {git.URL}, "ref": {"main"}, "known_hosts": {strings.Replace(string(other.KnownHosts), "]:"+port(other.Addr), "]:"+port(git.Addr), 1)}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err = w.o.SetSSHKey(t.Context(), "demo/app", secret.FromBytes(git.ClientKey.PrivatePEM), secret.Value{})
	require.NoError(t, err)
	resp, _ = c.post("/test-access/demo/app", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/configure/demo/app")
	assert.Regexp(t, `Access test failed: .*(mismatch|changed|does not match)`, body)

	// An HTTPS token: stored, shown as a fingerprint, never echoed.
	_, body = c.get("/configure/demo/app")
	resp, _ = c.post("/token/demo/app", url.Values{"csrf": {csrfOf(t, body)}, "token": {"glpat-0123456789abcdefSECRET"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/configure/demo/app")
	assert.Contains(t, body, "HTTPS token stored")
	assert.NotContains(t, body, "glpat-0123456789abcdefSECRET")
	_, body = c.get("/cycles/no-such-cycle")
	assert.Contains(t, body, "no such cycle")
}

func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}
