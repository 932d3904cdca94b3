package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
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
