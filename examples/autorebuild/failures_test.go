package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/smtptest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the example once for the tests that run it as a user
// would.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "autorebuild-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "autorebuild")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Stderr = os.Stderr
		binErr = build.Run()
	})
	require.NoError(t, binErr)
	return binPath
}

// failEnv is a registry that requires a login, the demo fleet on it, the
// demo advisories, a real SMTP server and a configuration file using them.
type failEnv struct {
	dir   string
	reg   *regtest.Registry
	fleet *demo.Fleet
	smtp  *smtptest.Server
	path  string
}

const (
	regUser  = "robot"
	regRight = "right-Pa55word"
)

func newFailEnv(t *testing.T, reg *regtest.Registry) *failEnv {
	t.Helper()
	ctx := t.Context()
	e := &failEnv{dir: t.TempDir(), reg: reg, smtp: smtptest.Start(t)}
	login := remote.WithAuth(&authn.Basic{Username: regUser, Password: regRight})
	var err error
	e.fleet, err = demo.Seed(ctx, reg.Host, login)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(ctx, e.fleet, login))
	require.NoError(t, demo.WriteAdvisories(filepath.Join(e.dir, "advisories"), time.Now(), demo.Advisories...))
	return e
}

// write writes the configuration: the registry login with password,
// builder and images as given.
func (e *failEnv) write(t *testing.T, password, builder, images string) {
	t.Helper()
	pw := filepath.Join(e.dir, "registry.password")
	require.NoError(t, os.WriteFile(pw, []byte(password+"\n"), 0o600))
	cfg := fmt.Sprintf(`state:
  sqlite: %s
log_level: debug
work_dir: %s
advisories:
  sources: [%s]
registries:
  - {host: %s, insecure: true, username: %s, password_file: %s}
builder:
%s
notify:
  email: {host: %s, port: %d, tls: none, from: "openabs <abs@example.invalid>"}
projects:
  - name: demo
    owners: [%s]
    images:
%s
`, filepath.Join(e.dir, "abs.db"), e.dir, filepath.Join(e.dir, "advisories"), e.reg.Host, regUser, pw, builder,
		e.smtp.Host, e.smtp.Port, demo.Owner, images)
	e.path = filepath.Join(e.dir, "config.yaml")
	require.NoError(t, os.WriteFile(e.path, []byte(cfg), 0o600))
}

func (e *failEnv) appImages() string {
	var b strings.Builder
	for _, a := range e.fleet.Apps {
		fmt.Fprintf(&b, "      - {repository: %s, auto_rebuild: true}\n", a.Repository)
	}
	return b.String()
}

// stateBytes returns the state database's files (with its journal).
func (e *failEnv) stateBytes(t *testing.T) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.dir, "abs.db*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		all = append(all, b...)
	}
	return all
}

func mailText(m smtptest.Message) string {
	// Quoted-printable soft breaks and escapes aside, the text is
	// readable as is.
	return strings.ReplaceAll(strings.ReplaceAll(string(m.Data), "=\r\n", ""), "=3D", "=")
}

// TestConfigWrongRegistryPassword: Debian's docker-registry with an
// htpasswd login and a wrong password in the configuration. The run ends
// with a non-zero exit status, every image's JSON summary carries the
// registry's error, and the owner gets a mail saying so.
func TestConfigWrongRegistryPassword(t *testing.T) {
	bin := binary(t)
	e := newFailEnv(t, regtest.Distribution(t, regtest.WithBasicAuth(regUser, regRight)))
	const wrong = "wrong-Pa55word-4711"
	e.write(t, wrong, "  kind: none", e.appImages())

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-config", e.path, "-once", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stderr.String(), "a step of the cycle failed")

	var sum abs.Summary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	require.Len(t, sum.Images, 2)
	for _, img := range sum.Images {
		assert.False(t, img.Published, img.Name)
		assert.Contains(t, strings.ToLower(img.Error), "unauthorized", img.Name)
	}
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1, "the owner is told")
	text := mailText(msgs[0])
	assert.Contains(t, text, "Image could not be checked")
	assert.Contains(t, strings.ToLower(text), "unauthorized")

	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "mail": string(msgs[0].Data),
		"state": string(e.stateBytes(t))} {
		assert.NotContains(t, out, wrong, name)
		assert.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte(regUser+":"+wrong)), name)
	}
}

// echoCredentials answers every request whose login is not the right one
// with a 401 that quotes the Authorization header it got and the
// password in it, as a careless registry or proxy might.
func echoCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if ok && (u != regUser || p != regRight) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			msg := fmt.Sprintf("bad login %q (password %q)", r.Header.Get("Authorization"), p)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": msg}}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestConfigScrubsEchoedPassword: a registry echoes the wrong password and
// its Basic base64 back in its error. Neither reaches the output, the
// debug log, the state database or the mail.
func TestConfigScrubsEchoedPassword(t *testing.T) {
	bin := binary(t)
	e := newFailEnv(t, regtest.InProcess(t, regtest.WithBasicAuth(regUser, regRight), regtest.WithMiddleware(echoCredentials)))
	const wrong = "echoed-Secret-0815"
	e.write(t, wrong, "  kind: none", e.appImages())

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-config", e.path, "-once", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.Error(t, cmd.Run())
	var sum abs.Summary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	require.NotEmpty(t, sum.Images)
	assert.Contains(t, sum.Images[0].Error, "[REDACTED]", "the echoed login is replaced, the rest of the error kept")
	assert.Contains(t, sum.Images[0].Error, "bad login")
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1)
	basic := base64.StdEncoding.EncodeToString([]byte(regUser + ":" + wrong))
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "mail": mailText(msgs[0]),
		"state": string(e.stateBytes(t))} {
		assert.NotContains(t, out, wrong, name)
		assert.NotContains(t, out, basic, name)
	}
	assert.Contains(t, stderr.String(), "[REDACTED]", "the debug log had the echo, scrubbed")
}

// TestConfigFailingContainerfileMailsLogTail builds from source with
// buildah: the base comes from the registry that requires a login (so
// buildah got the registries[] credentials and insecure setting), and the
// Containerfile's COPY fails. The report and the owner's mail carry the
// tail of the build log.
func TestConfigFailingContainerfileMailsLogTail(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
	var reg *regtest.Registry
	if regtest.Binary() != "" {
		reg = regtest.Distribution(t, regtest.WithBasicAuth(regUser, regRight))
	} else {
		reg = regtest.InProcess(t, regtest.WithBasicAuth(regUser, regRight))
	}
	e := newFailEnv(t, reg)
	app := e.fleet.Apps[0]
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + e.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY not-in-the-repo.txt /app/\n",
		"app.txt":       "openabs demo application\n",
	})
	e.write(t, regRight, "  kind: buildah\n  rebase: false",
		fmt.Sprintf("      - repository: %s\n        auto_rebuild: true\n        source: {url: %q, branch: main}\n", app.Repository, "file://"+repo.Dir))

	var out bytes.Buffer
	err := runConfig(t.Context(), e.path, true, false, false, &out, func(p abs.Progress) { fmt.Fprintf(&out, "[%s] %s\n", p.Stage, p.Message) })
	require.ErrorIs(t, err, errStepFailed, out.String())
	t.Log(out.String())
	report := out.String()
	assert.Contains(t, report, "failed: build:")
	assert.Contains(t, report, "build log (last lines)")
	assert.Contains(t, report, "not-in-the-repo.txt")
	assert.NotContains(t, report, "  fixed RHSA", "a failed rebuild fixed nothing")
	assert.NotContains(t, strings.ToLower(report), "unauthorized", "buildah pulled the base with the configured login")
	assert.NotContains(t, report, "HTTP response to HTTPS client", "buildah reached the insecure registry over HTTP")

	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1)
	text := mailText(msgs[0])
	t.Log(text)
	assert.Contains(t, text, "Rebuild failed")
	assert.Contains(t, text, "log tail:")
	assert.Contains(t, text, "not-in-the-repo.txt")
	for _, leak := range []string{report, text, string(e.stateBytes(t))} {
		assert.NotContains(t, leak, regRight)
	}
}

// TestConfigSMTPDownThenUp: the SMTP server is up when the configuration
// is opened (the start-up check passes), down during the first two
// cycles and up again for the third. The first cycle's report says the
// message was not delivered and the run fails; the second cycle tries it
// again and says so; the third delivers it before it ends (so a -once
// run delivers it): exactly one mail. A fourth cycle sends nothing more.
func TestConfigSMTPDownThenUp(t *testing.T) {
	ctx := t.Context()
	e := newFailEnv(t, regtest.InProcess(t, regtest.WithBasicAuth(regUser, regRight)))
	e.write(t, regRight, "  kind: none", e.appImages())
	cfg, err := config.Load(e.path)
	require.NoError(t, err)
	o, db, err := cfg.Open(ctx, abs.WithPollInterval(0))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, o.Start(ctx))
	defer func() { _ = o.Stop(context.WithoutCancel(ctx)) }()

	e.smtp.Stop()
	first, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, first.Notifications, 1)
	assert.Equal(t, abs.NotificationFailed, first.Notifications[0].State)
	assert.Contains(t, first.Notifications[0].Error, "connect")
	assert.True(t, first.Failed(), "an undelivered mail fails the run")
	for _, r := range first.Rebuilds {
		assert.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	}
	assert.Empty(t, e.smtp.Messages())

	second, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, second.Rebuilds, "nothing new to rebuild")
	require.Len(t, second.Notifications, 1, "the retry of the first cycle's message is reported")
	assert.Equal(t, first.Cycle, second.Notifications[0].Cycle)
	assert.Equal(t, abs.NotificationFailed, second.Notifications[0].State)
	assert.NotEmpty(t, second.Notifications[0].Error)
	assert.True(t, second.Failed())

	require.NoError(t, e.smtp.Restart())
	third, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	assert.False(t, third.Failed())
	require.Len(t, e.smtp.Messages(), 1, "the third cycle delivered the first cycle's mail before it ended")
	rep, err := o.Report(ctx, first.Cycle)
	require.NoError(t, err)
	assert.False(t, rep.Failed())
	assert.Empty(t, rep.Notifications[0].Error)

	_, err = o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond)
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1, "exactly one mail")
	assert.Equal(t, []string{demo.Owner}, msgs[0].To)
	assert.Contains(t, mailText(msgs[0]), "Rebuilt and published")
}

// TestPrintReportFixedOnlyWhenPublished: "fixed" is printed under a
// published rebuild only.
func TestPrintReportFixedOnlyWhenPublished(t *testing.T) {
	rep := &abs.Report{
		Images: []abs.ImageReport{{Name: "ok"}, {Name: "broken"}, {Name: "unreadable", Error: "GET …: UNAUTHORIZED"}},
		Rebuilds: []abs.RebuildReport{
			{Image: "ok", State: abs.RebuildPublished, Advisories: []string{"RHSA-2026:0001"}},
			{Image: "broken", State: abs.RebuildFailed, Detail: "build: rebuild: buildah failed (exit 1)", Log: "STEP 2/2: COPY x /\nError: no such file",
				Advisories: []string{"RHSA-2026:0002"}},
		},
		Notifications: []abs.NotificationReport{{Owner: "a@example.com", State: abs.NotificationFailed, Error: "dial: refused"}},
	}
	var out bytes.Buffer
	printReport(&out, rep)
	s := out.String()
	assert.Contains(t, s, "fixed RHSA-2026:0001")
	assert.NotContains(t, s, "fixed RHSA-2026:0002")
	assert.Contains(t, s, "still open: RHSA-2026:0002")
	assert.Contains(t, s, "| Error: no such file")
	assert.Contains(t, s, "error: GET …: UNAUTHORIZED")
	assert.Contains(t, s, "Notification to a@example.com not delivered")
	assert.True(t, rep.Failed())
	assert.False(t, errors.Is(nil, errStepFailed))

	// The -json summary carries the same: each image's error, and the log
	// tail of the failed build.
	sum := rep.Summary()
	require.Len(t, sum.Images, 3)
	assert.Empty(t, sum.Images[0].Error)
	assert.Equal(t, "build: rebuild: buildah failed (exit 1)", sum.Images[1].Error)
	assert.Equal(t, "STEP 2/2: COPY x /\nError: no such file", sum.Images[1].Log)
	assert.Equal(t, "GET …: UNAUTHORIZED", sum.Images[2].Error)
	js, err := json.Marshal(sum)
	require.NoError(t, err)
	assert.Contains(t, string(js), `"log":"STEP 2/2: COPY x /\nError: no such file"`)
}
