package rebuild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ScratchEnv is the environment variable every build tool started by
// Buildah and Command runs with. Its value is the build's scratch
// directory (Request.WorkDir); the tool's own children inherit it, which
// is how CleanScratch finds the processes of a build whose orchestrator
// died.
const ScratchEnv = "OPENABS_SCRATCH"

// ScratchPrefix starts the name of every scratch directory Execute
// creates in its work directory (WithWorkDir, default os.TempDir()).
const ScratchPrefix = "rebuild-"

// CleanScratch removes what builds left behind in dir when the process
// that ran them died without cleaning up (kill -9, a crash, a lost
// machine): every entry of dir named ScratchPrefix+"*" that was last
// modified more than olderThan ago is removed, after the processes still
// running for it are killed. On Linux those are found through /proc: the
// processes whose ScratchEnv, working directory or root lies in the
// entry, and the other members of their process groups (a build tool and
// what it started share one).
//
// Call it once at start, before any build runs, with dir the work
// directory given to Execute (os.TempDir() by default) and olderThan
// longer than the longest build could take without touching its scratch
// directory (a job timeout is a good choice); with olderThan 0 every
// scratch entry is stale. Entries of live builds of other processes
// sharing dir are younger and kept.
//
// It returns the paths it removed and the process ids it killed. A
// missing dir is not an error; errors for single entries are joined and
// do not stop the others.
func CleanScratch(dir string, olderThan time.Duration) (removed []string, killed []int, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: clean scratch: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: clean scratch: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	var stale []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ScratchPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		stale = append(stale, filepath.Join(abs, e.Name()))
	}
	if len(stale) == 0 {
		return nil, nil, nil
	}
	var errs []error
	for _, pid := range scratchProcesses(stale) {
		if err := killProcess(pid); err != nil {
			errs = append(errs, fmt.Errorf("rebuild: clean scratch: kill %d: %w", pid, err))
			continue
		}
		killed = append(killed, pid)
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("rebuild: clean scratch: %w", err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, killed, errors.Join(errs...)
}

// scratchProcesses returns the ids of the processes of builds in dirs:
// those whose ScratchEnv, working directory or root directory lies in
// one of dirs (a RUN step under chroot isolation has a clean environment
// but its root in the build's storage), and every other member of their
// process groups. It reads /proc and finds nothing where there is none.
func scratchProcesses(dirs []string) []int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	ownGroup := processGroup(self)
	groups := map[int]bool{}
	all := map[int]int{} // pid -> pgid
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		pgid := processGroup(pid)
		all[pid] = pgid
		if !belongs(pid, dirs) {
			continue
		}
		out = append(out, pid)
		if pgid > 1 && pgid != ownGroup {
			groups[pgid] = true
		}
	}
	for pid, pgid := range all {
		if groups[pgid] && !slices.Contains(out, pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// belongs reports whether process pid runs for one of dirs.
func belongs(pid int, dirs []string) bool {
	base := filepath.Join("/proc", strconv.Itoa(pid))
	if env, err := os.ReadFile(filepath.Join(base, "environ")); err == nil {
		if v, ok := envValue(env, ScratchEnv); ok && inAny(v, dirs) {
			return true
		}
	}
	for _, link := range []string{"cwd", "root"} {
		if target, err := os.Readlink(filepath.Join(base, link)); err == nil && target != "/" && inAny(target, dirs) {
			return true
		}
	}
	return false
}

// processGroup returns the process group of pid from /proc (0 when
// unknown).
func processGroup(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0
	}
	g, _ := strconv.Atoi(f[2])
	return g
}

// envValue finds key in a NUL-separated environment block.
func envValue(env []byte, key string) (string, bool) {
	prefix := []byte(key + "=")
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", false
}

// inAny reports whether path is one of dirs or inside one.
func inAny(path string, dirs []string) bool {
	path = filepath.Clean(path)
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
