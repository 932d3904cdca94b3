package rebuild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// running for it (found by ScratchEnv, on Linux through /proc) are killed.
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

// scratchProcesses returns the ids of the processes whose ScratchEnv lies
// in one of dirs. It reads /proc and finds nothing where there is none.
func scratchProcesses(dirs []string) []int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
		if err != nil {
			continue
		}
		if v, ok := envValue(env, ScratchEnv); ok && inAny(v, dirs) {
			out = append(out, pid)
		}
	}
	return out
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
