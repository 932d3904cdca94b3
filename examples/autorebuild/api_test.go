package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
)

// TestDemoServesAPI runs the demo without flags: after its cycle it serves
// the REST API on a loopback port with a token of its own, printed, and
// stops on SIGINT.
func TestDemoServesAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	bin := filepath.Join(t.TempDir(), "autorebuild")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	cmd := exec.CommandContext(t.Context(), bin)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	urlRE := regexp.MustCompile(`^REST API: (http://127\.0\.0\.1:\d+/api/v1) `)
	tokRE := regexp.MustCompile(`^Demo token \(admin, this run only\): ([0-9a-f]{48})$`)
	var base, token string
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for (base == "" || token == "") && sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
		if m := tokRE.FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
		}
	}
	require.NotEmpty(t, base, "no API URL printed")
	require.NotEmpty(t, token, "no token printed")
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()

	get := func(tok string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/images/demo%2Fapp", nil)
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return res
	}
	res := get("")
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res = get(token)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var st abs.ImageStatus
	require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
	assert.Equal(t, "A", st.Grade, "rebuilt by the demo's cycle")
	require.NotNil(t, st.LastRebuild)
	assert.Equal(t, abs.RebuildPublished, st.LastRebuild.State)

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "the demo ends cleanly on Ctrl-C")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
