package console_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
)

// chromium returns the path of a Chromium binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ABS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install chromium, or set ABS_CHROMIUM)")
	return ""
}

// artifacts is where screenshots go: $ABS_ARTIFACTS/<test>, or a temporary
// directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if d := os.Getenv("ABS_ARTIFACTS"); d != "" {
		dir = filepath.Join(d, t.Name())
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser is one headless Chromium tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	n    int
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "start chromium") // the first run starts the browser, with no timeout
	return &browser{t: t, ctx: ctx, base: base, dir: artifacts(t)}
}

// do runs steps with a time limit.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

// shot saves a full-page screenshot as NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	b.n++
	p := filepath.Join(b.dir, strings.Join([]string{twoDigits(b.n), name}, "-")+".png")
	require.NoError(b.t, os.WriteFile(p, png, 0o644))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10%10), byte('0' + n%10)}) }

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// submit clicks the button sel and waits until the page it leads to has
// loaded (a new document: its time origin differs from the old one's).
func (b *browser) submit(sel string) {
	b.t.Helper()
	before := run(b, chromedp.Evaluate[float64](`performance.timeOrigin`))
	b.do(chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		origin, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.readyState === 'complete' ? performance.timeOrigin : 0`))
		cancel()
		if err == nil && origin != 0 && origin != before {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("no new page after clicking %s", sel)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return run(b, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	b.open("/signin")
	b.do(chromedp.SendKeys(chromedp.ID("token"), token))
	b.submit(`main button[type=submit]`)
	b.do(chromedp.WaitVisible(chromedp.CSS("table.fleet")))
}

// TestBrowser walks the console in a real headless Chromium: sign in,
// switch auto-rebuild on (auto-publish follows, and the page says so),
// upload an SSH key, run a dry run, rebuild the demo image and watch its
// grade go from C to A; then a viewer sees no buttons and is refused a
// forged post. Each page is saved as a screenshot.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t, "")
	w := newWorld(t)
	b.base = w.console.URL
	git := gittest.StartSSH(t, filepath.Join(w.gitDirs["demo/app"], ".git"))

	b.open("/signin")
	assert.Equal(t, "token", run(b, chromedp.Evaluate[string](`document.activeElement.id`)), "the token field has the focus")
	b.shot("signin")
	b.signIn(editorToken)
	// The first Tab reaches the skip link, Enter moves to the content.
	b.open("/")
	b.do(chromedp.KeyEvent("\t"))
	assert.Equal(t, "Skip to content", run(b, chromedp.Evaluate[string](`document.activeElement.textContent`)))
	b.do(chromedp.KeyEvent("\r"))
	assert.Equal(t, "main", run(b, chromedp.Evaluate[string](`document.activeElement.id || location.hash.slice(1)`)))
	b.shot("fleet-before")
	assert.Equal(t, "C", run(b, chromedp.Evaluate[string](`document.querySelector('tr[data-image="demo/app"] [data-grade]').dataset.grade`)))

	b.open("/images/demo/app")
	assert.Equal(t, "C", b.text("#grade"))
	// The timeline chart is an SVG inside the figure, titled for screen
	// readers, with drawn shapes (the library's chart, not an empty box).
	chart := run(b, chromedp.Evaluate[string](`(() => { const s = document.querySelector('#timeline ~ figure svg');
		return s ? s.querySelector('title').textContent + '|' + s.querySelectorAll('path, rect, line, polyline, circle, text').length : '' })()`))
	title, shapes, found := strings.Cut(chart, "|")
	require.True(t, found, "an svg inside the figure after #timeline")
	assert.Contains(t, title, "Freshness grade timeline: ")
	assert.NotEqual(t, "0", shapes, "the chart draws something")
	b.shot("image-before")

	// Configure: auto-rebuild on turns auto-publish on.
	b.open("/configure/demo/app")
	assert.False(t, run(b, chromedp.Evaluate[bool](`document.getElementById('auto_rebuild').checked`)))
	assert.False(t, run(b, chromedp.Evaluate[bool](`document.getElementById('auto_publish').checked`)))
	assert.Contains(t, b.text("#auto_rebuild-hint"), "turns on auto-publish")
	b.shot("configure-before")
	// Every control has a label; the switch is operated from the keyboard.
	unlabelled := run(b, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
		.filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.getAttribute('aria-label')).length`))
	assert.Zero(t, unlabelled, "form controls without a label")
	// The source moves to a real SSH git server on loopback, whose host
	// key is pinned in known hosts.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('url').value = ` + jsString(git.URL) +
		`; document.getElementById('known_hosts').value = ` + jsString(string(git.KnownHosts))))
	b.do(chromedp.Focus(chromedp.ID("auto_rebuild")), chromedp.KeyEvent(" "))
	assert.True(t, run(b, chromedp.Evaluate[bool](`document.getElementById('auto_rebuild').checked`)), "space toggles the switch")
	b.submit(`button[value=save]`)
	b.do(chromedp.WaitVisible(chromedp.CSS(".flash-ok")))
	assert.True(t, run(b, chromedp.Evaluate[bool](`document.getElementById('auto_rebuild').checked`)))
	assert.True(t, run(b, chromedp.Evaluate[bool](`document.getElementById('auto_publish').checked`)), "auto-publish follows auto-rebuild")
	assert.Contains(t, b.text("main"), "auto-rebuild turns on auto-publish")
	b.shot("configure-auto-rebuild-on")

	// Upload an SSH key: shown as its fingerprint only.
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	key := git.ClientKey.PrivatePEM
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	b.do(chromedp.SetUploadFiles(chromedp.ID("key"), []string{keyFile}))
	b.submit(`button[value=key]`)
	assert.Contains(t, b.text("#fingerprint"), "SHA256:")
	page := run(b, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	assert.NotContains(t, page, strings.Split(strings.TrimSpace(string(key)), "\n")[1], "the key never comes back")
	b.shot("configure-key-stored")
	b.submit(`button[value=test]`)
	assert.Contains(t, b.text(".flash"), "Access test passed", "the SSH server answered with the uploaded key and the pinned host key")
	b.shot("configure-test-access")

	// Dry run: the plan rebases demo/app.
	b.open("/images/demo/app")
	b.submit(`button[value=plan]`)
	plan := b.text("main")
	assert.Contains(t, plan, "Dry run done")
	assert.Regexp(t, `rebase|build`, b.text(`li[data-step="demo/app"]`))
	b.shot("image-dry-run")

	// Rebuild now: the cycle page reloads itself until the rebuild is published.
	b.submit(`button[value=rebuild]`)
	b.shot("cycle-started")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		state := run(b, chromedp.Evaluate[string](`(document.querySelector('tr[data-rebuild="demo/app"] .state')||{}).textContent||''`))
		if state == "published" || state == "failed" || time.Now().After(deadline) {
			require.Equal(t, "published", state, b.text("main"))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.shot("cycle-published")
	b.open("/images/demo/app")
	assert.Equal(t, "A", b.text("#grade"), "the grade went from C to A")
	assert.Contains(t, b.text("main"), "published")
	grades := run(b, chromedp.Evaluate[string](`[...document.querySelectorAll('table.timeline tbody .grade')].map(e => e.textContent).join('')`))
	assert.Regexp(t, `^C+A`, grades, "the timeline shows the past C, then A")
	b.shot("image-after")
	b.open("/")
	assert.Equal(t, "A", run(b, chromedp.Evaluate[string](`document.querySelector('tr[data-image="demo/app"] [data-grade]').dataset.grade`)))
	b.shot("fleet-after")

	// A viewer sees no buttons and is refused a forged post.
	b.submit(`form.signout button`)
	b.signIn(viewerToken)
	for _, path := range []string{"/", "/images/demo/app", "/configure/demo/app"} {
		b.open(path)
		n := run(b, chromedp.Evaluate[int](`[...document.querySelectorAll('form[method=post]:not(.signout) button, form[method=post]:not(.signout) input[type=submit]')].length`))
		assert.Zero(t, n, "%s: a viewer sees no buttons", path)
		b.shot("viewer" + strings.ReplaceAll(strings.TrimSuffix(path, "/"), "/", "-"))
	}
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const f = document.createElement('form'); f.method = 'post';
		f.action = '/rebuild/demo/app'; const i = document.createElement('input'); i.name = 'csrf';
		i.value = document.querySelector('input[name=csrf]').value; f.appendChild(i); document.body.appendChild(f); f.submit(); })()`),
		chromedp.Sleep(500*time.Millisecond), chromedp.WaitReady(chromedp.CSS("body")))
	assert.Contains(t, b.text("body"), "your role may not change this image")
	b.shot("viewer-forged-post-403")
}
