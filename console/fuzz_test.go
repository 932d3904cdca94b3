package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/secret"
)

// fakeService is an in-memory service for the fuzz target: it checks what
// the console hands it, and records the last update.
type fakeService struct {
	mu   sync.Mutex
	img  abs.Image
	last abs.ImageUpdate
}

func (f *fakeService) Images() []abs.Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []abs.Image{f.img}
}
func (f *fakeService) GetImage(_ context.Context, name string) (abs.Image, error) {
	if name != f.img.Name {
		return abs.Image{}, abs.ErrNotFound
	}
	return f.img, nil
}
func (f *fakeService) UpdateImage(_ context.Context, name string, u abs.ImageUpdate) (abs.Image, abs.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = u
	if u.IfVersion != 0 && u.IfVersion != f.img.Version {
		return abs.Image{}, abs.Change{}, abs.ErrConflict
	}
	return f.img, abs.Change{Version: f.img.Version + 1}, nil
}
func (f *fakeService) SetSSHKey(_ context.Context, _ string, key, _ secret.Value) (abs.Credential, error) {
	if _, err := secret.SSHKeyFingerprint(key, secret.Value{}); err != nil {
		return abs.Credential{}, fmt.Errorf("%w: key: %w", abs.ErrConfig, err)
	}
	return abs.Credential{Kind: abs.CredentialSSHKey, Fingerprint: "SHA256:x"}, nil
}
func (f *fakeService) SetToken(_ context.Context, _ string, token secret.Value) (abs.Credential, error) {
	return abs.Credential{Kind: abs.CredentialToken, Fingerprint: secret.TokenFingerprint(token)}, nil
}
func (f *fakeService) TestAccess(context.Context, string) error { return nil }
func (f *fakeService) Plan(context.Context, abs.CycleOptions) (*abs.Report, error) {
	return &abs.Report{Cycle: "plan-1", DryRun: true, State: abs.CycleDryRun}, nil
}
func (f *fakeService) Report(_ context.Context, id string) (*abs.Report, error) {
	return &abs.Report{Cycle: id, State: abs.CycleDryRun, DryRun: true}, nil
}
func (f *fakeService) Retry(context.Context, string) (string, error)      { return "cycle-1", nil }
func (f *fakeService) RebuildNow(context.Context, string) (string, error) { return "cycle-2", nil }
func (f *fakeService) RebuildHistory(context.Context, string, int, int) ([]abs.RebuildReport, int, error) {
	return nil, 0, nil
}
func (f *fakeService) Cycles(context.Context, int, int) ([]abs.CycleInfo, int, error) {
	return nil, 0, nil
}
func (f *fakeService) Status(_ context.Context, name string) (status, error) {
	return status{Image: f.img, Grade: "C"}, nil
}
func (f *fakeService) Statuses(context.Context) ([]status, error) {
	return []status{{Image: f.img, Grade: "C"}}, nil
}

// FuzzForms posts arbitrary bodies to every form of the console, signed
// in as an editor with the session's CSRF token: the console answers
// with a redirect or a client error, never a server error or a panic,
// and never reflects a pasted key.
func FuzzForms(f *testing.F) {
	for _, seed := range []struct{ path, body, ctype string }{
		{"/configure/app", "auto_rebuild=on&url=ssh%3A%2F%2Fgit%40h%2Fr&ref_kind=tag&ref=v1&owners=a%0Ab&tags=1%2C2&version=3", ""},
		{"/configure/app", "version=-1&ref_kind=commit&ref=%00%ff", ""},
		{"/configure/app", "version=99999999999999999999999", ""},
		{"/sshkey/app", "key_text=-----BEGIN+OPENSSH+PRIVATE+KEY-----%0Azzz", ""},
		{"/sshkey/app", "--b\r\nContent-Disposition: form-data; name=\"key\"; filename=\"k\"\r\n\r\nsecret\r\n--b--\r\n", "multipart/form-data; boundary=b"},
		{"/plan/app", "", ""},
		{"/token/app", "token=ghp_0123456789", ""},
		{"/rebuild/app", "x=%zz", ""},
		{"/retry/app", strings.Repeat("a=b&", 100), ""},
		{"/test-access/app", "", "multipart/form-data; boundary="},
	} {
		f.Add(seed.path, seed.body, seed.ctype)
	}
	svc := &fakeService{img: abs.Image{Name: "app", Repository: "r.example/app", Tag: "latest", Version: 3}}
	tokens, err := api.NewTokens(api.Token{Name: "ed", Role: api.Editor, Value: secret.New("editor-editor-editor-editor-editor")})
	if err != nil {
		f.Fatal(err)
	}
	c := newConsole(svc, tokens)
	id := c.sess.create(api.Principal{Name: "ed", Role: api.Editor})
	sess, _ := c.sess.get(id)
	f.Fuzz(func(t *testing.T, path, body, ctype string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		if ctype == "" {
			ctype = "application/x-www-form-urlencoded"
		}
		// The token goes first, as browsers send hidden fields first.
		full := "csrf=" + sess.csrf + "&" + body
		if strings.HasPrefix(ctype, "multipart/") {
			full = body
		}
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1"+path, strings.NewReader(full))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", ctype)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: id})
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body.String())
		}
		if strings.Contains(body, "BEGIN") && strings.Contains(w.Body.String(), "PRIVATE KEY") {
			t.Fatalf("the key came back: %s", w.Body.String())
		}
	})
}

// BenchmarkFleetPage renders the fleet page of 1000 images (sorting,
// filtering and the template; the service is in memory).
func BenchmarkFleetPage(b *testing.B) {
	svc := &manyService{fakeService: fakeService{img: abs.Image{Name: "app"}}}
	for i := range 1000 {
		svc.sts = append(svc.sts, status{Image: abs.Image{Name: fmt.Sprintf("team/app-%04d", i), Repository: "r.example/app"},
			Grade: string(grades[i%6]), Platforms: []platform{{Platform: "linux/amd64"}, {Platform: "linux/arm64"}}})
	}
	tokens, _ := api.NewTokens(api.Token{Name: "v", Role: api.Viewer, Value: secret.New("viewer-viewer-viewer-viewer-viewer")})
	c := newConsole(svc, tokens)
	id := c.sess.create(api.Principal{Name: "v", Role: api.Viewer})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/?sort=drop", nil)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: id})
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

type manyService struct {
	fakeService
	sts []status
}

func (m *manyService) Statuses(context.Context) ([]status, error) { return m.sts, nil }
