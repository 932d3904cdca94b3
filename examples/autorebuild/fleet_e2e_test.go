package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/rebuild"
)

// redHatFeed serves the demo advisories in the layout of Red Hat's CSAF
// directory: archive_latest.txt naming a .tar.zst archive of the
// documents, and empty change lists.
func redHatFeed(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, demo.WriteAdvisories(dir, time.Now(), demo.Advisories...))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var archive bytes.Buffer
	zw, err := zstd.NewWriter(&archive)
	require.NoError(t, err)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "2099/" + e.Name(), Mode: 0o644, Size: int64(len(data)),
			ModTime: time.Now(), Typeflag: tar.TypeReg}))
		_, err = tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	files := map[string][]byte{
		"/csaf/archive_latest.txt":                 []byte("csaf_advisories_2099-01-01.tar.zst\n"),
		"/csaf/csaf_advisories_2099-01-01.tar.zst": archive.Bytes(),
		"/csaf/changes.csv":                        nil,
		"/csaf/deletions.csv":                      nil,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fleetWalk is the state of the end-to-end walk: one state database, one
// configuration file rewritten between steps, real parts on loopback.
type fleetWalk struct {
	bin, dir, path string
	reg            *regtest.Registry
	feed           string
	smtp           *smtptest.Server
	fleet          *demo.Fleet
	login          remote.Option
	// jobs is jobs.timeout and jobs.rescue_after (default 2m).
	jobs string
}

// write writes the configuration with the given registry password,
// builder section and images.
func (w *fleetWalk) write(t *testing.T, password, builder, images string) {
	t.Helper()
	if w.jobs == "" {
		w.jobs = "2m"
	}
	pw := filepath.Join(w.dir, "registry.password")
	require.NoError(t, os.WriteFile(pw, []byte(password+"\n"), 0o600))
	cfg := fmt.Sprintf(`state:
  sqlite: %s
work_dir: %s
jobs: {timeout: %s, rescue_after: %s}
advisories:
  sources: [%s/csaf/]
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
%s`, filepath.Join(w.dir, "abs.db"), w.dir, w.jobs, w.jobs, w.feed, w.reg.Host, regUser, pw, builder,
		w.smtp.Host, w.smtp.Port, demo.Owner, images)
	w.path = filepath.Join(w.dir, "config.yaml")
	require.NoError(t, os.WriteFile(w.path, []byte(cfg), 0o600))
}

// runWatch runs the example with -config -once -json and returns its summary,
// its exit status and its log; watch, if not nil, sees each line of the
// log as it is written.
func (w *fleetWalk) runWatch(t *testing.T, step string, watch func(line string), args ...string) (abs.Summary, int, string) {
	t.Helper()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(t.Context(), w.bin, append([]string{"-config", w.path, "-once", "-json"}, args...)...)
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var stderr strings.Builder
	sc := bufio.NewScanner(pipe)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if watch != nil {
			watch(sc.Text())
		}
	}
	err = cmd.Wait()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s: stdout:\n%s\nstderr:\n%s", step, stdout.String(), stderr.String())
		code = exit.ExitCode()
	}
	var sum abs.Summary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), "%s: stdout:\n%s\nstderr:\n%s", step, stdout.String(), stderr.String())
	t.Logf("%s: exit %d, summary %s", step, code, stdout.String())
	return sum, code, stderr.String()
}

// run runs the example with -config -once -json.
func (w *fleetWalk) run(t *testing.T, step string, args ...string) (abs.Summary, int, string) {
	t.Helper()
	return w.runWatch(t, step, nil, args...)
}

// newMails returns the mails that arrived since the first seen ones.
func (w *fleetWalk) newMails(seen *int) []string {
	msgs := w.smtp.Messages()
	var out []string
	for _, m := range msgs[*seen:] {
		out = append(out, mailText(m))
	}
	*seen = len(msgs)
	return out
}

func (w *fleetWalk) tags(t *testing.T, repo string) []string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	require.NoError(t, err)
	tags, err := remote.List(r, w.login, remote.WithContext(t.Context()))
	require.NoError(t, err)
	return tags
}

// skopeoPullsWithLogin runs Debian's skopeo against a published image on
// the registry that requires a login: inspect, and copy to an OCI layout.
func skopeoPullsWithLogin(t *testing.T, ref string) {
	t.Helper()
	creds := "--creds=" + regUser + ":" + regRight
	out, err := exec.CommandContext(t.Context(), "skopeo", "inspect", "--tls-verify=false", creds, "docker://"+ref).CombinedOutput()
	require.NoError(t, err, "skopeo inspect %s: %s", ref, out)
	dst := filepath.Join(t.TempDir(), "oci")
	out, err = exec.CommandContext(t.Context(), "skopeo", "copy", "--src-tls-verify=false", "--src-"+creds[2:],
		"docker://"+ref, "oci:"+dst+":x").CombinedOutput()
	require.NoError(t, err, "skopeo copy %s: %s", ref, out)
}

func summaryOf(sum abs.Summary, image string) *abs.ImageSummary {
	for i := range sum.Images {
		if sum.Images[i].Name == image {
			return &sum.Images[i]
		}
	}
	return nil
}

// TestFleetWalkThrough is the walk a new fleet meets, run as a user runs
// the example (-config -once -json, one state database kept across runs)
// against Debian's docker-registry with an htpasswd login, an SSH git
// server with known_hosts, buildah, a CSAF feed in Red Hat's layout and a
// real SMTP server, all on loopback:
//
//  1. the advisories arrive before the fixed base: the rebase is refused,
//     the image waits and the summary says so;
//  2. the fixed base arrives: rebuilt, published, pullable by skopeo;
//  3. a wrong registry password: the image's error in the summary, a
//     non-zero exit status, the owner told;
//  4. a build from source whose SSH host key is unknown fails; once the
//     key is added to known_hosts it is retried at once;
//  5. that retry meets a failing Containerfile: the log tail is in the
//     owner's mail; the fixed commit pushed to the branch is noticed when
//     the next run plans (no wait for the backoff), built and published
//     (pullable by skopeo); before that, -retry IMAGE runs the failed
//     build again although its backoff has not ended;
//  7. the SMTP server goes down during that run: the mail is reported
//     undelivered and the run fails; with the server up again the next
//     run delivers it, once;
//  8. a last cycle does nothing more: no rebuild, no push, no mail.
//
// Step 6, kill -9 mid-build then restart, is walked by
// TestKilledMidBuildRecovers: a -once run after the kill ends its own
// cycle before the rescue delay has passed.
func TestFleetWalkThrough(t *testing.T) {
	for _, tool := range []string{"buildah", "skopeo", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if regtest.Binary() == "" {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
	gittest.RequireGit(t)
	w := &fleetWalk{bin: binary(t), dir: t.TempDir(), smtp: smtptest.Start(t),
		reg:   regtest.Distribution(t, regtest.WithBasicAuth(regUser, regRight)),
		login: remote.WithAuth(&authn.Basic{Username: regUser, Password: regRight})}
	w.feed = redHatFeed(t).URL
	var err error
	w.fleet, err = demo.Seed(t.Context(), w.reg.Host, w.login)
	require.NoError(t, err)
	app, api := w.fleet.Apps[0], w.fleet.Apps[1]
	rebaseOnly := "  kind: none"
	apiImage := fmt.Sprintf("      - {repository: %s, auto_rebuild: true}\n", api.Repository)
	mails := 0

	// 1. Advisories before the fixed base: refused, waiting, reported.
	w.write(t, regRight, rebaseOnly, apiImage)
	sum, _, _ := w.run(t, "1 refused")
	s := summaryOf(sum, api.Repository)
	require.NotNil(t, s, "1 refused")
	assert.False(t, s.Published)
	assert.Equal(t, abs.RebuildFailed, s.State)
	assert.Contains(t, s.Waiting, "waiting for the base")
	w.newMails(&mails)
	assert.ElementsMatch(t, []string{"1.0-1", "latest"}, w.tags(t, api.Repository), "nothing published")

	// 2. The fixed base arrives: rebuilt, published, pullable.
	require.NoError(t, demo.UpdateBase(t.Context(), w.fleet, w.login))
	sum, code, _ := w.run(t, "2 fixed base")
	assert.Equal(t, 0, code)
	s = summaryOf(sum, api.Repository)
	require.NotNil(t, s)
	require.True(t, s.Published, s.Detail)
	assert.Empty(t, s.Error)
	assert.ElementsMatch(t, []string{"1.0-1", "1.0-2", "latest"}, w.tags(t, api.Repository))
	skopeoPullsWithLogin(t, api.Repository+":1.0-2")
	skopeoPullsWithLogin(t, api.Repository+":latest")
	got := w.newMails(&mails)
	require.Len(t, got, 1, "2 fixed base")
	assert.Contains(t, got[0], "Rebuilt and published")

	// 3. A wrong registry password: error, non-zero exit, owner told.
	const wrong = "wrong-Pa55word-4711"
	w.write(t, wrong, rebaseOnly, apiImage)
	sum, code, log := w.run(t, "3 wrong password")
	assert.Equal(t, 1, code)
	s = summaryOf(sum, api.Repository)
	require.NotNil(t, s)
	assert.Contains(t, strings.ToLower(s.Error), "unauthorized")
	got = w.newMails(&mails)
	require.Len(t, got, 1, "3 wrong password: the owner is told")
	assert.Contains(t, strings.ToLower(got[0]), "unauthorized")
	assert.NotContains(t, got[0]+log, wrong)

	// 4. Build from source over SSH, host key unknown, then added.
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + w.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY app.txt /app/app.txt\nCOPY not-in-the-repo.txt /app/\n",
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	key := filepath.Join(w.dir, "git.key")
	require.NoError(t, os.WriteFile(key, srv.ClientKey.PrivatePEM, 0o600))
	knownHosts := filepath.Join(w.dir, "known_hosts")
	require.NoError(t, os.WriteFile(knownHosts, nil, 0o600))
	images := apiImage + fmt.Sprintf("      - repository: %s\n        auto_rebuild: true\n"+
		"        source: {url: %q, branch: main, ssh_key_file: %s, known_hosts_file: %s}\n", app.Repository, srv.URL, key, knownHosts)
	w.write(t, regRight, "  kind: buildah\n  rebase: false", images)
	sum, code, _ = w.run(t, "4 unknown host key")
	assert.Equal(t, 1, code)
	s = summaryOf(sum, app.Repository)
	require.NotNil(t, s)
	assert.Equal(t, abs.RebuildFailed, s.State)
	assert.Contains(t, s.Error, "host key unknown")
	w.newMails(&mails)

	// 5. The key is added: retried at once, the Containerfile fails, the
	// log tail is mailed.
	require.NoError(t, os.WriteFile(knownHosts, srv.KnownHosts, 0o600))
	sum, code, _ = w.run(t, "5 failing Containerfile")
	assert.Equal(t, 1, code)
	s = summaryOf(sum, app.Repository)
	require.NotNil(t, s)
	assert.Equal(t, abs.RebuildFailed, s.State)
	assert.NotContains(t, s.Error, "host key", "the fetch worked")
	assert.Contains(t, s.Log, "not-in-the-repo.txt")
	got = w.newMails(&mails)
	require.Len(t, got, 1, "5 failing Containerfile")
	assert.Contains(t, got[0], "Rebuild failed")
	assert.Contains(t, got[0], "log tail:")
	assert.Contains(t, got[0], "not-in-the-repo.txt")
	require.Contains(t, s.Waiting, "next attempt at", "the failed build waits for its backoff")
	assert.Contains(t, s.Waiting, fmt.Sprintf("%d attempts left", abs.DefaultRetryLimit-1))

	// -retry runs the failed build again before its backoff ended:
	// the same failure, one attempt fewer left.
	sum, code, log = w.run(t, "5 -retry", "-retry", app.Repository)
	assert.Equal(t, 1, code, log)
	assert.Contains(t, log, "retry requested")
	s = summaryOf(sum, app.Repository)
	require.NotNil(t, s, "5 -retry")
	assert.Equal(t, abs.RebuildFailed, s.State, "the rebuild ran again")
	assert.Contains(t, s.Log, "not-in-the-repo.txt")
	assert.Contains(t, s.Waiting, fmt.Sprintf("%d attempts left", abs.DefaultRetryLimit-2))
	w.newMails(&mails)

	// The fixed commit is pushed to the branch. The next run notices the
	// moved branch when it plans (ls-remote), so the failed rebuild does
	// not wait for its backoff: the new commit is built and published.
	//
	// 7. The SMTP server goes down while that rebuild runs (after the
	// start-up check): the mail is not delivered, the run says so and
	// fails; the next run, with the server up again, delivers it once.
	repo.Commit(map[string]string{"Containerfile": "FROM " + w.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY app.txt /app/app.txt\n"})
	stopped := false
	sum, code, log = w.runWatch(t, "5 fixed commit, 7 SMTP down", func(line string) {
		if !stopped && strings.HasPrefix(line, "[verify] ") {
			w.smtp.Stop()
			stopped = true
		}
	})
	require.True(t, stopped, log)
	assert.Equal(t, 1, code, "an undelivered mail fails the run")
	assert.Equal(t, 0, sum.Notifications, "no mail delivered")
	assert.Contains(t, log, "not delivered")
	s = summaryOf(sum, app.Repository)
	require.NotNil(t, s)
	require.True(t, s.Published, "%s %s", s.Detail, s.Log)
	assert.ElementsMatch(t, []string{"1.0-1", "1.0-2", "latest"}, w.tags(t, app.Repository))
	skopeoPullsWithLogin(t, app.Repository+":1.0-2")
	skopeoPullsWithLogin(t, app.Repository+":latest")
	assert.Empty(t, w.newMails(&mails))

	require.NoError(t, w.smtp.Restart())
	sum, code, log = w.run(t, "7 SMTP up")
	assert.Equal(t, 0, code, log)
	s = summaryOf(sum, app.Repository)
	require.NotNil(t, s)
	assert.False(t, s.Published, "nothing rebuilt again")
	got = w.newMails(&mails)
	require.Len(t, got, 1, "7 SMTP up: exactly one mail")
	assert.Contains(t, got[0], "Rebuilt and published")

	// 8. A last cycle: nothing more.
	before := map[string][]string{app.Name: w.tags(t, app.Repository), api.Name: w.tags(t, api.Repository)}
	sum, code, _ = w.run(t, "8 nothing more")
	assert.Equal(t, 0, code)
	for _, img := range sum.Images {
		assert.False(t, img.Published, img.Name)
		assert.Empty(t, img.Error, img.Name)
		assert.Empty(t, img.State, img.Name)
	}
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, w.newMails(&mails), "no mail")
	assert.Equal(t, before, map[string][]string{app.Name: w.tags(t, app.Repository), api.Name: w.tags(t, api.Repository)}, "no push")
}

// buildahProcesses returns the pids of the running buildah processes
// that build for the work directory dir (their rebuild.ScratchEnv lies in
// it). Other tests' builds, in this package or in a package tested at the
// same time, are never counted, and so never killed.
func buildahProcesses(dir string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, d := range procs {
		comm, err := os.ReadFile(d)
		if err != nil || strings.TrimSpace(string(comm)) != "buildah" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(d), "stat"))
		if err != nil {
			continue
		}
		if _, rest, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(rest, "Z") {
			continue
		}
		env, err := os.ReadFile(filepath.Join(filepath.Dir(d), "environ"))
		if err != nil || !scratchIn(env, dir) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(d)), "%d", &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// scratchIn reports whether a process environment (NUL-separated) sets
// rebuild.ScratchEnv to a path inside dir.
func scratchIn(env []byte, dir string) bool {
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, rebuild.ScratchEnv+"="); ok {
			return v == dir || strings.HasPrefix(v, dir+string(filepath.Separator))
		}
	}
	return false
}

// TestFleetWalkKilledMidBuild is step 6 of the walk with the example
// binary: the run is killed with SIGKILL while buildah builds; the example
// started again (as a service, no cycle of its own) takes the rebuild
// over after jobs.rescue_after, kills the orphaned build tool, publishes
// once and mails once.
func TestFleetWalkKilledMidBuild(t *testing.T) {
	for _, tool := range []string{"buildah", "skopeo", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if regtest.Binary() == "" {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
	gittest.RequireGit(t)
	w := &fleetWalk{bin: binary(t), dir: t.TempDir(), smtp: smtptest.Start(t),
		reg:   regtest.Distribution(t, regtest.WithBasicAuth(regUser, regRight)),
		login: remote.WithAuth(&authn.Basic{Username: regUser, Password: regRight})}
	w.jobs = "5s"
	w.feed = redHatFeed(t).URL
	var err error
	w.fleet, err = demo.Seed(t.Context(), w.reg.Host, w.login)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(t.Context(), w.fleet, w.login))
	app := w.fleet.Apps[0]
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + w.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY app.txt /app/app.txt\n",
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	key := filepath.Join(w.dir, "git.key")
	require.NoError(t, os.WriteFile(key, srv.ClientKey.PrivatePEM, 0o600))
	knownHosts := filepath.Join(w.dir, "known_hosts")
	require.NoError(t, os.WriteFile(knownHosts, srv.KnownHosts, 0o600))
	w.write(t, regRight, "  kind: buildah\n  rebase: false", fmt.Sprintf("      - repository: %s\n        auto_rebuild: true\n"+
		"        source: {url: %q, branch: main, ssh_key_file: %s, known_hosts_file: %s}\n", app.Repository, srv.URL, key, knownHosts))

	var stdout bytes.Buffer
	cmd := exec.CommandContext(t.Context(), w.bin, "-config", w.path, "-once", "-json")
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(pipe)
	sc.Buffer(nil, 1<<20)
	var log strings.Builder
	var orphans []int
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "[build] ") {
			deadline := time.Now().Add(10 * time.Second)
			for len(orphans) == 0 && time.Now().Before(deadline) {
				orphans = buildahProcesses(w.dir)
				time.Sleep(5 * time.Millisecond)
			}
			require.NoError(t, cmd.Process.Kill())
			break
		}
	}
	_ = cmd.Wait()
	killed := time.Now()
	require.NotEmpty(t, orphans, "buildah ran when the example was killed:\n%s", log.String())
	alive := 0
	for _, pid := range buildahProcesses(w.dir) {
		if slices.Contains(orphans, pid) {
			alive++
		}
	}
	t.Logf("%d of %d buildah processes outlived the killed example", alive, len(orphans))
	t.Cleanup(func() {
		for _, pid := range buildahProcesses(w.dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	assert.Empty(t, w.smtp.Messages(), "killed before it mailed")

	// Started again as a service: no cycle of its own, the rescuer takes
	// the killed run's job over.
	cfg, err := os.ReadFile(w.path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(w.path, append([]byte("poll_interval: \"0\"\n"), cfg...), 0o600))
	var relog bytes.Buffer
	service := exec.CommandContext(t.Context(), w.bin, "-config", w.path)
	service.Stdout, service.Stderr = &relog, &relog
	require.NoError(t, service.Start())
	defer func() { _ = service.Process.Kill(); _ = service.Wait() }()
	deadline := killed.Add(90 * time.Second)
	for len(w.smtp.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	recovered := time.Since(killed)
	require.NoError(t, service.Process.Signal(syscall.SIGTERM))
	_ = service.Wait()
	t.Logf("recovered %s after the kill (jobs.timeout and rescue_after 5s)\n%s", recovered.Round(100*time.Millisecond), relog.String())
	assert.Less(t, recovered, 5*time.Second+time.Minute, "taken over within jobs.rescue_after and one run of the rescuer")
	msgs := w.smtp.Messages()
	require.Len(t, msgs, 1, "one mail, after the takeover")
	assert.Contains(t, mailText(msgs[0]), "Rebuilt and published")
	assert.ElementsMatch(t, []string{"1.0-1", "1.0-2", "latest"}, w.tags(t, app.Repository), "published once, as 1.0-2")
	skopeoPullsWithLogin(t, app.Repository+":1.0-2")
	for _, pid := range orphans {
		assert.NotContains(t, buildahProcesses(w.dir), pid, "the orphaned build tool is killed")
	}
	left, err := filepath.Glob(filepath.Join(w.dir, "abs-rb-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no scratch is left behind")
}
