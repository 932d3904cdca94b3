package rebuild_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// alive reports whether pid is a running process (a zombie is not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone polls until pid is no longer running or 10s have passed.
func waitGone(pid int) bool {
	for range 200 {
		if !alive(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// readPID waits for a file holding a process id.
func readPID(t *testing.T, path string) int {
	t.Helper()
	for range 200 {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			require.NoError(t, err)
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func requireProc(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep")
	}
	return sh
}

// TestCommandKillsProcessGroup runs a command builder whose tool starts a
// child that sleeps; when the build is cancelled, and when the tool
// exits, no process of the build survives.
func TestCommandKillsProcessGroup(t *testing.T) {
	sh := requireProc(t)
	co := checkout(t, map[string]string{"Containerfile": "FROM scratch\n"})
	for _, tc := range []struct {
		name   string
		script string
		cancel bool
	}{
		{"cancelled", "sleep 300 & echo $! > {{.Output}}.pid; echo started; wait", true},
		{"tool exits", "sleep 300 & echo $! > {{.Output}}.pid; echo started; exit 4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			work := t.TempDir()
			pidFile := filepath.Join(work, "image.tar.pid")
			done := make(chan error, 1)
			go func() {
				_, err := (&rebuild.Command{Args: []string{sh, "-c", tc.script}}).Build(ctx, &rebuild.Request{Ref: "x", Source: co, WorkDir: work})
				done <- err
			}()
			child := readPID(t, pidFile)
			t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
			if tc.cancel {
				require.True(t, alive(child))
				cancel()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Build did not return")
			}
			var be *rebuild.BuildError
			require.ErrorAs(t, err, &be)
			assert.Contains(t, be.Tail, "started")
			if tc.cancel {
				require.ErrorIs(t, err, context.Canceled)
				assert.Equal(t, -1, be.ExitCode)
			} else {
				assert.Equal(t, 4, be.ExitCode)
			}
			assert.True(t, waitGone(child), "the tool's child %d survived the build", child)
		})
	}
}

// TestCleanScratch leaves a build process running for a stale scratch
// directory and one for a fresh one: CleanScratch kills the first,
// removes its directory and leaves the rest alone.
func TestCleanScratch(t *testing.T) {
	requireProc(t)
	dir := t.TempDir()
	start := func(scratch string) *exec.Cmd {
		require.NoError(t, os.MkdirAll(scratch, 0o755))
		cmd := exec.Command("sleep", "300")
		cmd.Env = append(os.Environ(), rebuild.ScratchEnv+"="+scratch)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	stale := filepath.Join(dir, "rebuild-app-111")
	fresh := filepath.Join(dir, "rebuild-app-222")
	other := filepath.Join(dir, "other-333")
	oldCmd := start(filepath.Join(stale, "build"))
	newCmd := start(filepath.Join(fresh, "build"))
	otherCmd := start(filepath.Join(other, "build"))
	old := time.Now().Add(-3 * time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))
	require.NoError(t, os.Chtimes(other, old, old))

	removed, killed, err := rebuild.CleanScratch(dir, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []string{stale}, removed)
	assert.Equal(t, []int{oldCmd.Process.Pid}, killed)
	werr := oldCmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, werr, &ee)
	assert.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
	assert.NoDirExists(t, stale)
	assert.DirExists(t, fresh)
	assert.DirExists(t, other)
	assert.True(t, alive(newCmd.Process.Pid))
	assert.True(t, alive(otherCmd.Process.Pid))

	removed, _, err = rebuild.CleanScratch(filepath.Join(dir, "missing"), 0)
	require.NoError(t, err)
	assert.Empty(t, removed)
}

// orchestratorEnv makes TestHelperOrchestrator run a build instead of
// skipping.
const orchestratorEnv = "REBUILD_TEST_ORCHESTRATOR"

// TestHelperOrchestrator is not a test: TestKillNineThenCleanScratch runs
// the test binary with it as a stand-in orchestrator process that builds
// until it is killed.
func TestHelperOrchestrator(t *testing.T) {
	work := os.Getenv(orchestratorEnv)
	if work == "" {
		t.Skip("helper process")
	}
	if base := os.Getenv(orchestratorEnv + "_BUILDAH"); base != "" {
		co := checkout(t, map[string]string{"Containerfile": "FROM " + base + "\nRUN sleep 300\n"})
		_, _ = (&rebuild.Buildah{InsecureRegistries: true}).Build(context.Background(), &rebuild.Request{Ref: "x", Source: co, WorkDir: work})
		return
	}
	co := checkout(t, map[string]string{"Containerfile": "FROM scratch\n"})
	c := &rebuild.Command{Args: []string{"sh", "-c", "echo $$ > {{.Output}}.tool; sleep 300 & echo $! > {{.Output}}.pid; wait"}}
	_, _ = c.Build(context.Background(), &rebuild.Request{Ref: "x", Source: co, WorkDir: work})
}

// TestKillNineThenCleanScratch kills an orchestrator with SIGKILL in the
// middle of a build, as an operator or the OOM killer would: the kernel
// kills the build tool, and CleanScratch at the next start kills what the
// tool had started and removes the scratch directory.
func TestKillNineThenCleanScratch(t *testing.T) {
	requireProc(t)
	dir := t.TempDir()
	work := filepath.Join(dir, "rebuild-app-999", "build")
	require.NoError(t, os.MkdirAll(work, 0o755))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOrchestrator$")
	cmd.Env = append(os.Environ(), orchestratorEnv+"="+work)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	tool := readPID(t, filepath.Join(work, "image.tar.tool"))
	child := readPID(t, filepath.Join(work, "image.tar.pid"))
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	assert.True(t, waitGone(tool), "the build tool outlived its orchestrator")
	require.True(t, alive(child), "the tool's child is orphaned (what CleanScratch is for)")

	removed, killed, err := rebuild.CleanScratch(dir, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "rebuild-app-999")}, removed)
	assert.Contains(t, killed, child)
	assert.True(t, waitGone(child), "CleanScratch left %d running", child)
}

// TestKillNineDuringBuildahThenCleanScratch is the same with a real
// buildah build killed during a RUN step: CleanScratch finds buildah's
// processes (by environment, root directory and process group) and
// kills them all.
func TestKillNineDuringBuildahThenCleanScratch(t *testing.T) {
	requireBuildah(t)
	requireProc(t)
	reg := startRegistry(t)
	base := busyboxBase(t, reg)
	dir := t.TempDir()
	work := filepath.Join(dir, "rebuild-app-777", "build")
	require.NoError(t, os.MkdirAll(work, 0o755))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOrchestrator$")
	cmd.Env = append(os.Environ(), orchestratorEnv+"="+work, orchestratorEnv+"_BUILDAH="+base)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	running := waitForSleep(t, work)
	t.Logf("%d build processes before kill -9", len(running))

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	var orphans []int
	for _, pid := range running {
		if alive(pid) {
			orphans = append(orphans, pid)
		}
	}
	t.Logf("%d orphaned after kill -9: %v", len(orphans), orphans)
	t.Cleanup(func() {
		for _, pid := range orphans {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	removed, killed, err := rebuild.CleanScratch(dir, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "rebuild-app-777")}, removed)
	for _, pid := range orphans {
		assert.Contains(t, killed, pid)
	}
	for _, pid := range running {
		assert.True(t, waitGone(pid), "process %d of the killed build still runs", pid)
	}
}

// TestBuildErrorTail fails a build with a long log in which the tool
// prints the auth file it was handed: the error keeps the last 50 lines,
// without the password or its base64 forms.
func TestBuildErrorTail(t *testing.T) {
	sh := requireProc(t)
	const pass = "s3cret-Passw0rd"
	co := checkout(t, map[string]string{"Containerfile": "FROM registry.example.com/team/base:1\n"})
	c := &rebuild.Command{
		Args: []string{sh, "-c", `i=1; while [ $i -le 80 ]; do echo "step $i"; i=$((i+1)); done
cat "$REGISTRY_AUTH_FILE"; echo; echo "login was $(sed -n 's/.*"auth":"\([^"]*\)".*/\1/p' "$REGISTRY_AUTH_FILE" | base64 -d)"
echo "error: unauthorized"; exit 2`},
		Credentials: map[string]rebuild.Credential{"registry.example.com": {Username: "bot", Password: secret.New(pass)}},
	}
	work := t.TempDir()
	_, err := c.Build(t.Context(), &rebuild.Request{Ref: "x", Source: co, WorkDir: work})
	var be *rebuild.BuildError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, 2, be.ExitCode)
	lines := strings.Split(be.Tail, "\n")
	require.Len(t, lines, rebuild.TailLines)
	assert.Equal(t, "error: unauthorized", lines[len(lines)-1])
	assert.Equal(t, "step 34", lines[0])
	assert.Contains(t, be.Tail, `"registry.example.com"`, "the auth file was handed to the tool")
	for _, s := range []string{pass, base64.StdEncoding.EncodeToString([]byte("bot:" + pass))} {
		assert.NotContains(t, be.Tail, s)
		assert.NotContains(t, string(be.Log), s)
		assert.NotContains(t, err.Error(), s)
		assert.NotContains(t, strings.Join(be.Args, " "), s)
	}
	assert.Contains(t, be.Tail, "login was bot:[REDACTED]", "the tool could read the login")
	entries, err := os.ReadDir(work)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), "registries", "the auth file is removed after the build")
	}
}

// buildProcesses returns the running processes in the process groups of
// the processes whose ScratchEnv is dir or below it.
func buildProcesses(dir string) []int {
	procs, _ := os.ReadDir("/proc")
	groups := map[int]bool{}
	pgid := map[int]int{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || !alive(pid) {
			continue
		}
		pgid[pid] = groupOf(pid)
		env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
		if err != nil {
			continue
		}
		for kv := range strings.SplitSeq(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, rebuild.ScratchEnv+"="); ok && strings.HasPrefix(v, dir) {
				groups[pgid[pid]] = true
			}
		}
	}
	var out []int
	for pid, g := range pgid {
		if groups[g] {
			out = append(out, pid)
		}
	}
	return out
}

func groupOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	g, _ := strconv.Atoi(f[2])
	return g
}

// TestBuildahCancelLeavesNoProcess cancels a real buildah build in the
// middle of a RUN step: buildah and everything it started (the chroot
// runtime, the step's shell and sleep) are gone when Build returns.
func TestBuildahCancelLeavesNoProcess(t *testing.T) {
	requireBuildah(t)
	requireProc(t)
	reg := startRegistry(t)
	base := busyboxBase(t, reg)
	co := checkout(t, map[string]string{"Containerfile": "FROM " + base + "\nRUN echo step-started && sleep 300\n"})
	work := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := (&rebuild.Buildah{InsecureRegistries: true}).Build(ctx, &rebuild.Request{Ref: "x", Source: co, WorkDir: work})
		done <- err
	}()
	running := waitForSleep(t, work)
	t.Logf("%d processes of the build running before cancel", len(running))
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(60 * time.Second):
		t.Fatal("Build did not return after cancel")
	}
	for _, pid := range running {
		assert.True(t, waitGone(pid), "process %d survived the cancelled build", pid)
	}
}

// waitForSleep waits until a RUN step's sleep runs in a build under work
// and returns the build's processes.
func waitForSleep(t *testing.T, work string) []int {
	t.Helper()
	for range 600 {
		running := buildProcesses(work)
		if hasSleep(running) {
			return running
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the RUN step never started")
	return nil
}

func hasSleep(pids []int) bool {
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.HasPrefix(string(b), "sleep") {
			return true
		}
	}
	return false
}
