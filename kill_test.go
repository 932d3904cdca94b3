package abs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// The kill test runs the orchestrator in a child process (this test
// binary, re-executed) and kills it with SIGKILL when the pipeline
// reaches a chosen point; a new orchestrator on the same database file
// then finishes the work. Unlike a cancellation, nothing runs after the
// kill: jobs stay "running" until River's rescuer hands them out again.
const killEnv = "ABS_KILL_HELPER"

// killHelper is the child process: it runs one cycle and blocks forever
// at the kill point after saying so on stdout.
func killHelper() int {
	get := os.Getenv
	at := get("ABS_KILL_AT")
	now := time.Unix(0, must(strconv.ParseInt(get("ABS_KILL_NOW"), 10, 64)))
	reached := func(p string) {
		if p == at {
			fmt.Println("REACHED", p)
			select {} // wait to be killed
		}
	}
	ctx := context.Background()
	db, err := abs.OpenSQLite(ctx, get("ABS_KILL_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	smtpPort := must(strconv.Atoi(get("ABS_KILL_SMTP_PORT")))
	mail, err := notify.NewEmail(notify.EmailConfig{Host: "127.0.0.1", Port: smtpPort, TLS: notify.NoTLS, From: "abs@example.invalid"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	project := abs.Project{Name: "demo", Owners: []string{demo.Owner}}
	for _, repo := range strings.Split(get("ABS_KILL_REPOS"), ",") {
		name := strings.SplitN(repo, "/", 2)[1]
		project.Images = append(project.Images, abs.Image{Name: name, Repository: repo, AutoRebuild: true, Tags: []string{"latest"}})
	}
	scans := 0
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(get("ABS_KILL_ADV"))),
		abs.WithClock(func() time.Time { return now }),
		abs.WithScanner(scanFunc(func(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error) {
			inv, err := rpmscan.New().Scan(ctx, img)
			scans++
			if scans <= 2 {
				reached("scan")
			} else {
				reached("verify")
			}
			return inv, err
		})),
		abs.WithRebaser(buildFunc(func(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
			if at == "build-tool" {
				// A build tool in its own process group, as buildah runs:
				// it outlives the SIGKILL of this process.
				tool := exec.Command("sleep", "300")
				tool.Dir = req.WorkDir
				tool.Env = append(os.Environ(), rebuild.ScratchEnv+"="+req.WorkDir)
				tool.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := tool.Start(); err != nil {
					return nil, err
				}
				fmt.Println("TOOL", tool.Process.Pid)
				reached("build-tool")
			}
			res, err := (&rebuild.Rebase{}).Build(ctx, req)
			reached("build")
			return res, err
		})),
		abs.WithPublisher(publishFunc(func(ctx context.Context, req publish.Request) (*publish.Result, error) {
			res, err := publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP()).Publish(ctx, req)
			reached("publish")
			return res, err
		})),
		abs.WithNotifier(notify.Func(func(ctx context.Context, events []notify.Event) error {
			err := mail.Notify(ctx, events)
			reached("notify")
			return err
		})),
		abs.WithWorkers(1, 1),
		abs.WithWorkDir(get("ABS_KILL_WORK")),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := o.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id, err := o.StartCycle(ctx, abs.CycleOptions{ID: "killed-cycle"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("CYCLE", id)
	select {}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type scanFunc func(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error)

func (f scanFunc) Scan(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	return f(ctx, img)
}

type buildFunc func(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error)

func (f buildFunc) Name() string { return "rebase" }
func (f buildFunc) Build(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	return f(ctx, req)
}

type publishFunc func(ctx context.Context, req publish.Request) (*publish.Result, error)

func (f publishFunc) Publish(ctx context.Context, req publish.Request) (*publish.Result, error) {
	return f(ctx, req)
}

// TestKilledAtEachStep kills the orchestrator's process (SIGKILL) at each
// step and restarts it on the same SQLite file: the work finishes with
// every tag pushed once and one email.
func TestKilledAtEachStep(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's rescuer after each kill")
	}
	for _, at := range []string{"scan", "build", "verify", "publish", "notify"} {
		t.Run(at, func(t *testing.T) {
			e := newEnv(t, demo.Advisories...)
			require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
			dbPath := filepath.Join(t.TempDir(), "abs.db")
			var repos []string
			for _, a := range e.fleet.Apps {
				repos = append(repos, a.Repository)
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), killEnv+"=1", "ABS_KILL_AT="+at, "ABS_KILL_DB="+dbPath,
				"ABS_KILL_ADV="+e.advDir, "ABS_KILL_SMTP_PORT="+strconv.Itoa(e.smtp.Port),
				"ABS_KILL_REPOS="+strings.Join(repos, ","), "ABS_KILL_NOW="+strconv.FormatInt(e.now.UnixNano(), 10))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			sc := bufio.NewScanner(out)
			var cycle string
			for sc.Scan() {
				line := sc.Text()
				if id, ok := strings.CutPrefix(line, "CYCLE "); ok {
					cycle = id
				}
				if line == "REACHED "+at {
					break
				}
			}
			require.NotEmpty(t, cycle, "the child started a cycle")
			require.NoError(t, cmd.Process.Kill()) // SIGKILL: no cleanup at all
			_ = cmd.Wait()

			db, err := abs.OpenSQLite(t.Context(), dbPath)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			o := e.start(db, abs.WithJobTimeout(3*time.Second), abs.WithRescueAfter(4*time.Second))
			rep := wait(t, o, cycle)
			for _, s := range rep.Summary().Images {
				assert.True(t, s.Published, s.Name)
				assert.Equal(t, healthindex.GradeA, s.AfterGrade, s.Name)
			}
			assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "api:1.0-2": 1, "api:latest": 1}, e.tagPushes(),
				"every tag is pushed exactly once")
			assert.Len(t, e.smtp.Messages(), 1, "exactly one email")
		})
	}
}

// TestKilledMidBuildRecovers kills the orchestrator (SIGKILL) while a
// build tool runs in its own process group, then starts a new one on the
// same database and work directory: the rescued rebuild resumes from
// "building" within the configured rescue delay, the orphaned tool is
// killed and its scratch removed, and the image is pushed once and its
// owner mailed once.
func TestKilledMidBuildRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's rescuer after the kill")
	}
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	dbPath := filepath.Join(t.TempDir(), "abs.db")
	work := t.TempDir()
	var repos []string
	for _, a := range e.fleet.Apps {
		repos = append(repos, a.Repository)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killEnv+"=1", "ABS_KILL_AT=build-tool", "ABS_KILL_DB="+dbPath, "ABS_KILL_WORK="+work,
		"ABS_KILL_ADV="+e.advDir, "ABS_KILL_SMTP_PORT="+strconv.Itoa(e.smtp.Port),
		"ABS_KILL_REPOS="+strings.Join(repos, ","), "ABS_KILL_NOW="+strconv.FormatInt(e.now.UnixNano(), 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var cycle string
	tool := 0
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "CYCLE "); ok {
			cycle = id
		}
		if pid, ok := strings.CutPrefix(line, "TOOL "); ok {
			tool = must(strconv.Atoi(pid))
		}
		if line == "REACHED build-tool" {
			break
		}
	}
	require.NotEmpty(t, cycle)
	require.NotZero(t, tool)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	killed := time.Now()
	require.True(t, running(tool), "the build tool outlived its orchestrator")
	t.Cleanup(func() { _ = syscall.Kill(-tool, syscall.SIGKILL) })

	db, err := abs.OpenSQLite(t.Context(), dbPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	const timeout, rescue = 3 * time.Second, 4 * time.Second
	o := e.start(db, abs.WithJobTimeout(timeout), abs.WithRescueAfter(rescue), abs.WithWorkDir(work))
	rep := wait(t, o, cycle)
	recovered := time.Since(killed)
	t.Logf("recovered %s after the kill (job timeout %s, rescue after %s)", recovered.Round(100*time.Millisecond), timeout, rescue)
	assert.Less(t, recovered, rescue+time.Minute, "recovered within the rescue delay and one rescuer run")
	for _, s := range rep.Summary().Images {
		assert.True(t, s.Published, s.Name)
	}
	var building int
	for _, r := range rep.Rebuilds {
		for _, h := range r.History {
			if h == abs.RebuildBuilding {
				building++
			}
		}
	}
	assert.GreaterOrEqual(t, building, 2, "the rescued rebuild went from building to published")
	assert.False(t, running(tool), "the orphaned build tool is killed")
	left, err := filepath.Glob(filepath.Join(work, "*", rebuild.ScratchPrefix+"*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no scratch is left behind")
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "api:1.0-2": 1, "api:latest": 1}, e.tagPushes(),
		"every tag is pushed exactly once")
	assert.Len(t, e.smtp.Messages(), 1, "exactly one email")
}

// running reports whether a process runs: it exists and is not a zombie
// (an orphan's new parent may be slow to reap it, or never do).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
