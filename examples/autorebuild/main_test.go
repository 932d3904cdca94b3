package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/internal/demo"
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
		assert.Equal(t, "C", img.BeforeGrade)
		assert.Equal(t, "A", img.AfterGrade)
		assert.True(t, img.Published)
		assert.NotEqual(t, img.OldDigest, img.NewDigest)
	}
	assert.Equal(t, 1, sum.Notifications)
	assert.Contains(t, stderr.String(), "C -> A")
	assert.Contains(t, stderr.String(), "Email sent to app-team@example.com")
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := abs.LoadConfig("config.example.yaml")
	require.NoError(t, err)
	require.Len(t, c.Projects, 1)
	assert.Equal(t, "registry.example.com/payments/api", c.Projects[0].Images[0].Repository)
	assert.Equal(t, "1h0m0s", c.PollInterval().String())
}

// TestConfigOnce runs the example with -config -once -json against a
// registry, advisories and an SMTP server of the test's own.
func TestConfigOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	ctx := t.Context()
	reg := demo.StartRegistry()
	t.Cleanup(reg.Close)
	fleet, err := demo.Seed(ctx, reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(ctx, fleet))
	dir := t.TempDir()
	adv := filepath.Join(dir, "advisories")
	require.NoError(t, demo.WriteAdvisories(adv, time.Now(), demo.Advisories...))
	sink, err := demo.StartSMTP()
	require.NoError(t, err)
	t.Cleanup(sink.Close)
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
`, filepath.Join(dir, "abs.db"), adv, reg.Host, sink.Host, sink.Port, demo.Owner, fleet.Apps[0].Repository, fleet.Apps[1].Repository)
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))

	bin := filepath.Join(t.TempDir(), "autorebuild")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-config", path, "-once", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var sum abs.Summary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	require.Len(t, sum.Images, 2)
	for _, img := range sum.Images {
		assert.True(t, img.Published, img.Name)
		assert.Equal(t, "A", img.AfterGrade)
	}
	assert.Len(t, sink.Messages(), 1)
	assert.Contains(t, stderr.String(), "auto-rebuild turns on auto-publish")
}
