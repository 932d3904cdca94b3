package abs_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/skeema/knownhosts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestSourceMovedPlansAnew: a build from source fails and waits an hour
// for its next attempt; a new commit on the watched branch is noticed
// when the next cycle plans (ls-remote over the real SSH server), so that
// cycle builds the new commit at once, as a new rebuild, and publishes it.
func TestSourceMovedPlansAnew(t *testing.T) {
	requireBuildah(t)
	e, repo := sourceEnv(t, func(e *env) string { return goodContainerfile(e) + "COPY missing.txt /app/\n" },
		func(srv *gittest.SSHServer) rebuild.GitAuth {
			return rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}
		})
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}),
		abs.WithRetryBackoff(time.Hour, time.Hour))

	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	failed := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, failed.State)
	assert.Contains(t, failed.Waiting, "next attempt at")

	same, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, same.Rebuilds, "the branch did not move: the backoff holds")

	repo.Commit(map[string]string{"Containerfile": goodContainerfile(e)})
	moved, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, moved.Rebuilds, 1, "the new commit is built without waiting for the backoff")
	r := moved.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.NotEqual(t, failed.ID, r.ID)
	assert.Equal(t, 1, r.Attempt, "a new rebuild with attempts of its own")
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1}, e.tagPushes())
}

// tcpProxy forwards connections to target until it is closed; then the
// address refuses connections, as a git server that went down.
type tcpProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	closed bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return p
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		_ = p.ln.Close()
	}
}

// TestSourceUnreachableIsAWarning: when the git server cannot be reached
// as a cycle plans, the image carries a warning in the report, the cycle
// completes, and the failed rebuild keeps its id (it is planned on the
// commit seen last), so it still waits for its backoff.
func TestSourceUnreachableIsAWarning(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	repo := gittest.NewRepo(t, map[string]string{"README": "no build file\n"})
	srv := gittest.StartSSH(t, repo.Dir)
	proxy := startProxy(t, srv.Addr)
	addr := proxy.ln.Addr().String()
	img := e.projects[0].Images[0]
	img.Source = &rebuild.GitSource{URL: "ssh://git@" + addr + "/repo.git", Branch: "main", Auth: rebuild.GitAuth{
		SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: []byte(knownhosts.Line([]string{addr}, srv.HostKey.Public) + "\n")}}
	e.projects[0].Images = []abs.Image{img}
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{}),
		abs.WithRetryBackoff(time.Hour, time.Hour), abs.WithSourceTimeout(5*time.Second))

	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	require.Equal(t, abs.RebuildFailed, rep.Rebuilds[0].State)
	assert.Contains(t, rep.Rebuilds[0].Detail, "no Containerfile or Dockerfile")
	require.Len(t, rep.Images, 1)
	assert.Empty(t, rep.Images[0].Warnings)

	proxy.close()
	down, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err, "an unreachable source never blocks the cycle")
	assert.Equal(t, abs.CyclePlanned, down.State)
	require.Len(t, down.Images, 1)
	require.Len(t, down.Images[0].Warnings, 1)
	w := down.Images[0].Warnings[0]
	assert.Contains(t, w, "branch main")
	assert.Contains(t, w, "planned on the commit seen last, "+repo.Head[:12])
	assert.Empty(t, down.Rebuilds)
	st := planStep(down, img.Name)
	require.NotNil(t, st)
	assert.Equal(t, rep.Rebuilds[0].ID, st.ID, "the same rebuild: the commit seen last stands in")
	assert.Contains(t, st.Waiting, "next attempt at")
	assert.Contains(t, down.Summary().Images[0].Warnings, w)
}

// TestRefusedCredentialsThenFixed: Debian's docker-registry with htpasswd
// refuses the publisher's wrong password. The publish fails at once (not
// retried as a transient error) with "registry refused credentials for
// HOST", and the rebuild waits for new credentials rather than a backoff;
// with the right password (a new process on the same database), the
// changed credential fingerprint plans a new rebuild, which is published.
func TestRefusedCredentialsThenFixed(t *testing.T) {
	reg := regtest.Distribution(t, regtest.WithBasicAuth("ci", "right-password"))
	auth := remote.WithAuth(&authn.Basic{Username: "ci", Password: "right-password"})
	e := newEnv(t, demo.Advisories...)
	fleet, err := demo.Seed(t.Context(), reg.Host, auth)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(t.Context(), fleet, auth))
	app := fleet.Apps[0]
	e.projects[0].Images = []abs.Image{{Name: app.Name, Repository: app.Repository, Tag: app.Tag, AutoRebuild: true, Tags: []string{"latest"}}}
	dbPath := filepath.Join(t.TempDir(), "abs.db")
	db, err := abs.OpenSQLite(t.Context(), dbPath)
	require.NoError(t, err)
	var progress []abs.Progress
	var mu sync.Mutex
	o := e.start(db, abs.WithRemoteOptions(auth),
		abs.WithPublisher(publish.NewRegistry(publish.WithBasicAuth("ci", secret.New("wrong-password")), publish.WithPlainHTTP())),
		abs.WithProgress(func(p abs.Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() }),
		abs.WithRetryBackoff(0, 0))

	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, r.State)
	assert.Equal(t, "publish: publish: registry refused credentials for "+reg.Host+" (HTTP 401 Unauthorized)", r.Detail)
	assert.Contains(t, r.Waiting, "credentials to change")
	assert.Nil(t, r.NextAttempt, "no backoff: the same password gets the same answer")
	mu.Lock()
	for _, p := range progress {
		assert.NotContains(t, p.Message, "will retry", "a refusal is not retried as transient")
		assert.NotContains(t, p.Message, "wrong-password")
	}
	mu.Unlock()

	again, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, again.Rebuilds, "nothing changed: not tried again")
	require.NoError(t, o.Stop(t.Context()))
	require.NoError(t, db.Close())

	db2, err := abs.OpenSQLite(t.Context(), dbPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db2.Close() })
	o2 := e.start(db2, abs.WithRemoteOptions(auth),
		abs.WithPublisher(publish.NewRegistry(publish.WithBasicAuth("ci", secret.New("right-password")), publish.WithPlainHTTP())),
		abs.WithRetryBackoff(0, 0))
	fixed, err := o2.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, fixed.Rebuilds, 1, "new credentials: a new rebuild")
	assert.NotEqual(t, r.ID, fixed.Rebuilds[0].ID)
	require.Equal(t, abs.RebuildPublished, fixed.Rebuilds[0].State, fixed.Rebuilds[0].Detail)
	assert.Equal(t, []string{"1.0-2", "latest"}, fixed.Rebuilds[0].Tags)
}

// failingSourceEnv is the demo app built from an SSH git repository that
// has no build file (so every rebuild fails when it fetches, before any
// builder runs), beside an image whose tag does not exist (so every cycle
// fails to read it); both owned by the demo owner.
func failingSourceEnv(t *testing.T) (*env, *gittest.Repo, *gittest.SSHServer) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	repo := gittest.NewRepo(t, map[string]string{"README": "no build file\n"})
	srv := gittest.StartSSH(t, repo.Dir)
	img := e.projects[0].Images[0]
	img.Source = &rebuild.GitSource{URL: srv.URL, Branch: "main",
		Auth: rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}}
	missing := abs.Image{Name: "demo/missing", Repository: e.reg.Repo("demo/missing"), Tag: "latest", AutoRebuild: true}
	e.projects[0].Images = []abs.Image{img, missing}
	return e, repo, srv
}

// TestFailureMailedOnce: a rebuild that fails the same way in three
// cycles, and an image unreadable in each, are mailed once; the retried
// rebuild stays in the report of each cycle it ran in, the earlier runs
// pointing at the cycle that ran it again. A different failure is mailed
// at once.
func TestFailureMailedOnce(t *testing.T) {
	e, repo, _ := failingSourceEnv(t)
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}),
		abs.WithRetryBackoff(0, 0), abs.WithRetryLimit(3))
	app := e.fleet.Apps[0].Name

	var reports []*abs.Report
	for i := range 3 {
		rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
		require.NoError(t, err)
		require.Len(t, rep.Rebuilds, 1, "cycle %d", i+1)
		require.Equal(t, abs.RebuildFailed, rep.Rebuilds[0].State)
		assert.Equal(t, i+1, rep.Rebuilds[0].Attempt)
		require.Len(t, rep.Notifications, 1)
		reports = append(reports, rep)
	}
	require.Len(t, e.smtp.Messages(), 1, "the same failures are mailed once")
	mail := string(e.smtp.Messages()[0].Data)
	assert.Contains(t, mail, "demo/missing")
	assert.Contains(t, mail, "no Containerfile or Dockerfile")
	assert.Equal(t, 1, reports[0].Summary().Notifications)
	assert.Equal(t, 0, reports[1].Summary().Notifications, "nothing new to tell")

	for i, rep := range reports[:2] {
		again, err := o.Report(t.Context(), rep.Cycle)
		require.NoError(t, err)
		require.Len(t, again.Rebuilds, 1, "cycle %d keeps its run", i+1)
		r := again.Rebuilds[0]
		assert.Equal(t, reports[2].Rebuilds[0].ID, r.ID)
		assert.Equal(t, abs.RebuildFailed, r.State)
		assert.Equal(t, i+1, r.Attempt)
		assert.Equal(t, reports[i+1].Cycle, r.RetriedBy, "points at the cycle that ran it again")
		assert.Contains(t, r.Waiting, "run again by cycle "+reports[i+1].Cycle)
		assert.Contains(t, r.Detail, "no Containerfile")
		assert.True(t, again.Failed())
	}
	last, err := o.Report(t.Context(), reports[2].Cycle)
	require.NoError(t, err)
	require.Len(t, last.Rebuilds, 1)
	assert.Empty(t, last.Rebuilds[0].RetriedBy, "the last run is the rebuild as it stands")

	if _, err := exec.LookPath("buildah"); err != nil || os.Geteuid() != 0 {
		t.Log("buildah not usable here: the different failure is not tried")
		return
	}
	repo.Commit(map[string]string{"Containerfile": "FROM " + e.fleet.BaseRef + "\nCOPY missing.txt /app/\n"})
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	require.Equal(t, abs.RebuildFailed, rep.Rebuilds[0].State)
	assert.Contains(t, rep.Rebuilds[0].Detail, "build")
	require.Len(t, e.smtp.Messages(), 2, "a different failure is mailed")
	assert.Contains(t, string(e.smtp.Messages()[1].Data), "missing.txt")
	assert.NotContains(t, string(e.smtp.Messages()[1].Data), "demo/missing", "the unreadable image's failure did not change")
	_ = app
}

// TestFailureReminder: with a reminder interval shorter than a cycle, the
// same failure is mailed again.
func TestFailureReminder(t *testing.T) {
	e, _, _ := failingSourceEnv(t)
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{}),
		abs.WithRetryBackoff(0, 0), abs.WithFailureReminder(time.Nanosecond))
	for range 2 {
		_, err := o.RunCycle(t.Context(), abs.CycleOptions{})
		require.NoError(t, err)
	}
	assert.Len(t, e.smtp.Messages(), 2)
}
