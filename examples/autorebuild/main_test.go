package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
)

// TestDemoJSON runs the example as a user would and checks the summary.
func TestDemoJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	bin := filepath.Join(t.TempDir(), "autorebuild")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var sum abs.Summary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	require.Len(t, sum.Images, 2)
	for _, img := range sum.Images {
		assert.Equal(t, healthindex.GradeC, img.BeforeGrade)
		assert.Equal(t, healthindex.GradeA, img.AfterGrade)
		assert.True(t, img.Published)
		assert.NotEqual(t, img.OldDigest, img.NewDigest)
	}
	assert.Equal(t, 1, sum.Notifications)
	assert.Contains(t, stderr.String(), "C -> A")
	assert.Contains(t, stderr.String(), "Email sent to app-team@example.com")
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := config.Load("config.example.yaml")
	require.NoError(t, err)
	require.Len(t, c.Projects, 1)
	assert.Equal(t, "registry.example.com/payments/api", c.Projects[0].Images[0].Repository)
	assert.Equal(t, "1h0m0s", c.PollInterval().String())
}

// configEnv is a registry, advisories and an SMTP server of the test's
// own, and a configuration file that uses them.
type configEnv struct {
	path    string
	sink    *demo.SMTPSink
	mu      sync.Mutex
	tagPuts int
}

func newConfigEnv(t *testing.T) *configEnv {
	t.Helper()
	ctx := t.Context()
	e := &configEnv{}
	reg := demo.StartRegistry()
	t.Cleanup(reg.Close)
	fleet, err := demo.Seed(ctx, reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(ctx, fleet))
	reg.Counter = func(r *http.Request) {
		_, ref, ok := strings.Cut(r.URL.Path, "/manifests/")
		if r.Method == http.MethodPut && ok && !strings.HasPrefix(ref, "sha256:") {
			e.mu.Lock()
			e.tagPuts++
			e.mu.Unlock()
		}
	}
	dir := t.TempDir()
	adv := filepath.Join(dir, "advisories")
	require.NoError(t, demo.WriteAdvisories(adv, time.Now(), demo.Advisories...))
	e.sink, err = demo.StartSMTP()
	require.NoError(t, err)
	t.Cleanup(e.sink.Close)
	cfg := fmt.Sprintf(`state:
  sqlite: %s
advisories:
  sources: [%s]
registries:
  - host: %s
    insecure: true
builder:
  kind: none
notify:
  email: {host: %s, port: %d, tls: none, from: "openabs <abs@example.invalid>"}
projects:
  - name: demo
    owners: [%s]
    images:
      - {repository: %s, auto_rebuild: true}
      - {repository: %s, auto_rebuild: true}
`, filepath.Join(dir, "abs.db"), adv, reg.Host, e.sink.Host, e.sink.Port, demo.Owner, fleet.Apps[0].Repository, fleet.Apps[1].Repository)
	e.path = filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(e.path, []byte(cfg), 0o600))
	return e
}

func (e *configEnv) pushes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tagPuts
}

// TestConfigOnce runs the example with -config -once -json against a
// registry, advisories and an SMTP server of the test's own.
func TestConfigOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	ctx := t.Context()
	e := newConfigEnv(t)
	bin := filepath.Join(t.TempDir(), "autorebuild")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-config", e.path, "-once", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var sum abs.Summary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	require.Len(t, sum.Images, 2)
	for _, img := range sum.Images {
		assert.True(t, img.Published, img.Name)
		assert.Equal(t, healthindex.GradeA, img.AfterGrade)
	}
	assert.Len(t, e.sink.Messages(), 1)
	assert.Contains(t, stderr.String(), "auto-rebuild turns on auto-publish")
}

// TestConfigDryRunLeavesQueuedWorkAlone: -dry-run on a state database that
// holds a queued real cycle plans, and runs none of that cycle's work: no
// push, no mail, the cycle still queued.
func TestConfigDryRunLeavesQueuedWorkAlone(t *testing.T) {
	ctx := t.Context()
	e := newConfigEnv(t)
	cfg, err := config.Load(e.path)
	require.NoError(t, err)
	o, db, err := cfg.Open(ctx)
	require.NoError(t, err)
	queued, err := o.StartCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	var out bytes.Buffer
	require.NoError(t, runConfig(ctx, e.path, true, true, false, &out, func(abs.Progress) {}))
	assert.Contains(t, out.String(), "Plan (parents first)")
	assert.Zero(t, e.pushes(), "a dry run pushes nothing")
	assert.Empty(t, e.sink.Messages(), "a dry run mails nothing")

	o, db, err = cfg.Open(ctx)
	require.NoError(t, err)
	defer db.Close()
	rep, err := o.Report(ctx, queued)
	require.NoError(t, err)
	assert.Equal(t, abs.CycleQueued, rep.State, "the dry run ran no queued work")
}

// TestDemoCycle runs the demonstration in-process: both applications go
// from C to A, are published and their owner gets one message.
func TestDemoCycle(t *testing.T) {
	var progress []string
	res, err := demoCycle(t.Context(), demoOptions{
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
		Progress: func(p abs.Progress) { progress = append(progress, p.Stage+": "+p.Message) },
		Dir:      t.TempDir(),
	})
	require.NoError(t, err, strings.Join(progress, "\n"))
	t.Log(strings.Join(progress, "\n"))
	sum := res.Report.Summary()
	require.Len(t, sum.Images, 2)
	for _, img := range sum.Images {
		assert.Equal(t, healthindex.GradeC, img.BeforeGrade, img.Name)
		assert.Equal(t, healthindex.GradeA, img.AfterGrade, img.Name)
		assert.True(t, img.Published, img.Name)
		assert.NotEqual(t, img.OldDigest, img.NewDigest)
		assert.Equal(t, []string{demo.OpenSSL.ID, demo.Glibc.ID}, img.Advisories)
	}
	assert.Equal(t, 1, sum.Notifications)
	require.Len(t, res.Mail, 1, "one message for the one owner")
	assert.Equal(t, []string{demo.Owner}, res.Mail[0].To)
}
