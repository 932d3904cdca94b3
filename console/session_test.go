package console

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/secret"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestSessionsExpireAndStayBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newSessions(time.Hour, 3, clk.now)
	p := api.Principal{Name: "alice", Role: api.Editor}
	id := s.create(p)
	got, ok := s.get(id)
	require.True(t, ok)
	assert.Equal(t, "alice", got.principal.Name)
	assert.Len(t, got.csrf, 43, "256 random bits")
	_, ok = s.get(id + "x")
	assert.False(t, ok)
	_, ok = s.get("")
	assert.False(t, ok)

	for k := range s.m {
		assert.NotEqual(t, id, string(k[:]), "the store keys sessions by hash, never by cookie")
	}

	clk.add(59 * time.Minute)
	_, ok = s.get(id)
	assert.True(t, ok)
	clk.add(time.Minute)
	_, ok = s.get(id)
	assert.False(t, ok, "expired at its TTL")

	// Full: a new sign-in ends the session expiring first.
	a := s.create(p)
	clk.add(time.Second)
	b := s.create(p)
	clk.add(time.Second)
	c := s.create(p)
	d := s.create(p)
	assert.Len(t, s.m, 3)
	_, ok = s.get(a)
	assert.False(t, ok, "the oldest went")
	for _, id := range []string{b, c, d} {
		_, ok := s.get(id)
		assert.True(t, ok)
	}

	// Flash messages are shown once, and bounded.
	for range 20 {
		s.addFlash(b, flash{Kind: "ok", Text: "saved"})
	}
	got, _ = s.get(b)
	assert.Len(t, got.flash, 8)
	got, _ = s.get(b)
	assert.Empty(t, got.flash)

	s.delete(b)
	_, ok = s.get(b)
	assert.False(t, ok)
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost": true, "LOCALHOST:1": true, "[::1]:80": true, "127.1.2.3": true,
		"example.com": false, "10.0.0.1:80": false, "[2001:db8::1]:443": false, "localhost.example.com": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		assert.Equal(t, want, loopback(r), host)
	}
}

// TestGradeColoursContrast reads the stylesheet: the grade badges' white
// letters have at least WCAG AA contrast (4.5:1) on their backgrounds, and
// so do the body, muted and link colours on white.
func TestGradeColoursContrast(t *testing.T) {
	css, err := os.ReadFile("static/console.css")
	require.NoError(t, err)
	colours := regexp.MustCompile(`\.grade-([a-f]|none) \{ background: #([0-9a-f]{6}); \}`).FindAllStringSubmatch(string(css), -1)
	require.Len(t, colours, 7)
	for _, m := range colours {
		assert.GreaterOrEqual(t, contrast(m[2], "ffffff"), 4.5, "grade %s", m[1])
	}
	for _, v := range []string{"fg", "muted", "link"} {
		m := regexp.MustCompile(`--` + v + `: #([0-9a-f]{6})`).FindStringSubmatch(string(css))
		require.NotNil(t, m, v)
		assert.GreaterOrEqual(t, contrast(m[1], "ffffff"), 4.5, v)
	}
}

// contrast is the WCAG 2 contrast ratio of two sRGB colours "rrggbb".
func contrast(a, b string) float64 {
	lum := func(hex string) float64 {
		var c [3]float64
		for i := range 3 {
			v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
			s := float64(v) / 255
			if s <= 0.03928 {
				c[i] = s / 12.92
			} else {
				c[i] = math.Pow((s+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func TestMountedUnderAPrefix(t *testing.T) {
	svc := &fakeService{img: abs.Image{Name: "team/app", Repository: "r.example/app", Tag: "latest"}}
	tokens, err := api.NewTokens(api.Token{Name: "ed", Role: api.Editor, Value: secret.New("editor-editor-editor-editor-editor")})
	require.NoError(t, err)
	c := newConsole(svc, tokens, WithPrefix("/console/"))
	mux2 := http.NewServeMux()
	mux2.Handle("/console/", http.StripPrefix("/console", c))
	srv := httptest.NewServer(mux2)
	defer srv.Close()

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv.URL + "/console/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "/console/signin", resp.Header.Get("Location"))
	resp, err = noFollow.PostForm(srv.URL+"/console/signin", url.Values{"token": {"editor-editor-editor-editor-editor"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, resp.Cookies(), 1)
	assert.Equal(t, "/console/", resp.Cookies()[0].Path)
	assert.Equal(t, "/console/", resp.Header.Get("Location"))

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/", nil)
	req.AddCookie(resp.Cookies()[0])
	resp, err = noFollow.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `href="/console/images/team/app"`)
	assert.Contains(t, string(body), `href="/console/static/console.css"`)
	assert.NotRegexp(t, `(href|action)="/(images|configure|static|signout)`, string(body))
}
