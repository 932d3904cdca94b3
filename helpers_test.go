package abs_test

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // the "sqlite" driver for the state and for rpmdbs
)

// env is a fleet on real loopback servers: an in-process registry that
// counts tag pushes, a demo fleet, an advisory directory and an SMTP
// server.
type env struct {
	t      *testing.T
	reg    *demo.Registry
	fleet  *demo.Fleet
	advDir string
	smtp   *smtptest.Server
	now    time.Time

	mu       sync.Mutex
	tagPuts  map[string]int // "repo:tag" -> manifest PUTs by tag
	projects []abs.Project
}

func newEnv(t *testing.T, advs ...demo.Advisory) *env {
	t.Helper()
	e := &env{t: t, tagPuts: map[string]int{}, now: time.Now().UTC()}
	e.reg = demo.StartRegistry()
	t.Cleanup(e.reg.Close)
	e.reg.Counter = func(r *http.Request) {
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
			return
		}
		repo, ref, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		if strings.HasPrefix(ref, "sha256:") {
			return
		}
		e.mu.Lock()
		e.tagPuts[repo+":"+ref]++
		e.mu.Unlock()
	}
	var err error
	e.fleet, err = demo.Seed(t.Context(), e.reg.Host)
	require.NoError(t, err)
	e.mu.Lock()
	clear(e.tagPuts) // seeding does not count
	e.mu.Unlock()
	e.advDir = filepath.Join(t.TempDir(), "advisories")
	require.NoError(t, demo.WriteAdvisories(e.advDir, e.now, advs...))
	e.smtp = smtptest.Start(t, smtptest.WithTLS(smtptest.NoTLS))
	project := abs.Project{Name: "demo", Owners: []string{demo.Owner}}
	for _, a := range e.fleet.Apps {
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, Tag: a.Tag,
			AutoRebuild: true, Tags: []string{"latest"}})
	}
	e.projects = []abs.Project{project}
	return e
}

// publish adds advisories to the feed, as the vendor would.
func (e *env) publish(advs ...demo.Advisory) {
	require.NoError(e.t, demo.WriteAdvisories(e.advDir, e.now, advs...))
}

func (e *env) tagPushes() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.tagPuts {
		if strings.HasPrefix(k, "demo/ubi9:") {
			continue // the base's vendor pushing its update
		}
		out[strings.TrimPrefix(k, "demo/")] = v
	}
	return out
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// options wires the real parts; extra options come last.
func (e *env) options(extra ...abs.Option) []abs.Option {
	mail, err := notify.NewEmail(notify.EmailConfig{Host: e.smtp.Host, Port: e.smtp.Port, TLS: notify.NoTLS,
		From: "openabs <abs@example.invalid>"})
	require.NoError(e.t, err)
	opts := []abs.Option{
		abs.WithSources(advisory.NewDir(e.advDir)),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())),
		abs.WithNotifier(mail),
		abs.WithClock(func() time.Time { return e.now }),
		abs.WithLogger(logger(e.t)),
		abs.WithRetry(20*time.Millisecond, 200*time.Millisecond),
		abs.WithWorkDir(e.t.TempDir()),
	}
	return append(opts, extra...)
}

func (e *env) sqlite(name string) *abs.Database {
	db, err := abs.OpenSQLite(e.t.Context(), filepath.Join(e.t.TempDir(), name))
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = db.Close() })
	return db
}

func (e *env) start(db *abs.Database, extra ...abs.Option) *abs.Orchestrator {
	e.t.Helper()
	o, err := abs.New(e.t.Context(), db, e.projects, e.options(extra...)...)
	require.NoError(e.t, err)
	require.NoError(e.t, o.Start(e.t.Context()))
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = o.Stop(ctx)
	})
	return o
}

func wait(t *testing.T, o *abs.Orchestrator, id string) *abs.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rep, err := o.Wait(ctx, id)
	require.NoError(t, err)
	return rep
}

func byName(rep *abs.Report) map[string]abs.ImageSummary {
	out := map[string]abs.ImageSummary{}
	for _, s := range rep.Summary().Images {
		out[s.Name] = s
	}
	return out
}

// remoteBase returns the base digest an image records.
func remoteBase(t *testing.T, e *env, name, digest string) (string, error) {
	t.Helper()
	ref, err := gcrname.NewDigest(e.reg.Repo(name) + "@" + digest)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		return "", err
	}
	m, err := img.Manifest()
	if err != nil {
		return "", err
	}
	return m.Annotations["org.opencontainers.image.base.digest"], nil
}
