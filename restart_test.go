package abs_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// crasher stops the orchestrator (cancelling its running jobs) the first
// time the pipeline reaches a chosen point, as a process stopped there
// would.
type crasher struct {
	at      string
	fired   atomic.Bool
	stopped chan struct{}
	o       atomic.Pointer[abs.Orchestrator]
}

// hit stops the orchestrator when at is the crash point; it returns true
// when it did, after which the caller waits for its job's context.
func (c *crasher) hit(at string) bool {
	if at != c.at || !c.fired.CompareAndSwap(false, true) {
		return false
	}
	go func() {
		defer close(c.stopped)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // do not wait for running jobs: cancel them
		_ = c.o.Load().Stop(ctx)
	}()
	return true
}

type crashScanner struct {
	c *crasher
	n atomic.Int32
	s rpmscan.Scanner
}

func (s *crashScanner) Scan(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	at := "scan"
	if s.n.Add(1) > 2 {
		at = "verify" // the first two scans are the cycle's, the next the rebuilds'
	}
	inv, err := s.s.Scan(ctx, img)
	if s.c.hit(at) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return inv, err
}

type crashBuilder struct {
	c *crasher
	b rebuild.Builder
}

func (b *crashBuilder) Name() string { return b.b.Name() }
func (b *crashBuilder) Build(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	res, err := b.b.Build(ctx, req)
	if b.c.hit("build") {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return res, err
}

type crashPublisher struct {
	c *crasher
	p publish.Publisher
}

func (p *crashPublisher) Publish(ctx context.Context, req publish.Request) (*publish.Result, error) {
	res, err := p.p.Publish(ctx, req) // the push happens…
	if p.c.hit("publish") {
		<-ctx.Done() // …and the process stops before recording it
		return nil, ctx.Err()
	}
	return res, err
}

type crashNotifier struct {
	c *crasher
	n notify.Notifier
}

func (n *crashNotifier) Notify(ctx context.Context, events []notify.Event) error {
	err := n.n.Notify(ctx, events) // the mail is sent…
	n.c.hit("notify")              // …and a stop arrives before it is recorded
	return err
}

// TestRestartAtEachStep stops the orchestrator at each step of the
// pipeline (cancelling its running jobs) and restarts it on the same
// database: the work finishes with every tag pushed once and one email.
func TestRestartAtEachStep(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { restartAtEachStep(t, backend) })
	}
}

func restartAtEachStep(t *testing.T, backend string) {
	for _, at := range []string{"scan", "build", "verify", "publish", "notify"} {
		t.Run(at, func(t *testing.T) {
			e := newEnv(t, demo.Advisories...)
			require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
			var db *abs.Database
			if backend == "postgres" {
				var err error
				db, err = abs.OpenPostgres(t.Context(), storetest.PostgresDSN(t))
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
			} else {
				db = e.sqlite("abs.db")
			}
			mail, err := notify.NewEmail(notify.EmailConfig{Host: e.smtp.Host, Port: e.smtp.Port, TLS: notify.NoTLS, From: "abs@example.invalid"})
			require.NoError(t, err)
			c := &crasher{at: at, stopped: make(chan struct{})}
			o1, err := abs.New(t.Context(), db, e.projects, e.options(
				abs.WithScanner(&crashScanner{c: c, s: rpmscan.New()}),
				abs.WithRebaser(&crashBuilder{c: c, b: &rebuild.Rebase{}}),
				abs.WithPublisher(&crashPublisher{c: c, p: publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())}),
				abs.WithNotifier(&crashNotifier{c: c, n: mail}),
			)...)
			require.NoError(t, err)
			c.o.Store(o1)
			require.NoError(t, o1.Start(t.Context()))
			id, err := o1.StartCycle(t.Context(), abs.CycleOptions{})
			require.NoError(t, err)
			select {
			case <-c.stopped:
			case <-time.After(2 * time.Minute):
				t.Fatalf("the pipeline never reached %s", at)
			}

			// A new process on the same database finishes the work.
			o2 := e.start(db)
			rep := wait(t, o2, id)
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

// TestAutoRebuildTurnedOffSkipsQueuedRebuilds: rebuilds planned while
// auto-rebuild was on, left queued by a stopped process, are skipped by a
// process whose configuration turned auto-rebuild (and auto-publish) off:
// nothing is staged, pushed or tagged.
func TestAutoRebuildTurnedOffSkipsQueuedRebuilds(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	var mu sync.Mutex
	manifestPuts := 0
	count := e.reg.Counter
	e.reg.Counter = func(r *http.Request) {
		count(r)
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !strings.HasPrefix(r.URL.Path, "/v2/demo/ubi9/") {
			mu.Lock()
			manifestPuts++
			mu.Unlock()
		}
	}
	db := e.sqlite("abs.db")
	c := &crasher{at: "build", stopped: make(chan struct{})}
	o1, err := abs.New(t.Context(), db, e.projects, e.options(abs.WithRebaser(&crashBuilder{c: c, b: &rebuild.Rebase{}}))...)
	require.NoError(t, err)
	c.o.Store(o1)
	require.NoError(t, o1.Start(t.Context()))
	id, err := o1.StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	select {
	case <-c.stopped:
	case <-time.After(2 * time.Minute):
		t.Fatal("the pipeline never reached build")
	}

	for i := range e.projects[0].Images {
		e.projects[0].Images[i].AutoRebuild = false
		e.projects[0].Images[i].AutoPublish = false
	}
	o2 := e.start(db)
	rep := wait(t, o2, id)
	require.Len(t, rep.Rebuilds, 2)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildSkipped, r.State, r.Image)
		assert.Equal(t, "auto-rebuild is off", r.Detail, r.Image)
	}
	assert.Empty(t, e.tagPushes())
	mu.Lock()
	defer mu.Unlock()
	assert.Zero(t, manifestPuts, "nothing is staged")
}
