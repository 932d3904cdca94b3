package abs_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// stormFleet is many small images on one base in an in-process registry,
// all shipping the openssl-libs that demo.OpenSSL fixes, with a fast fake
// rebaser and scanner that record every build's start and end.
type stormFleet struct {
	host       string
	projects   []abs.Project
	advDir     string
	now        atomic.Pointer[time.Time]
	baseLayer  string
	buildDelay time.Duration

	mu        sync.Mutex
	spans     []buildSpan
	published map[string]int
	// onBuild, when set, runs at each build's start.
	onBuild func(image string)
}

type buildSpan struct {
	image      string
	start, end time.Time
}

const fixedLabel = "test.openabs/fixed"

// newStormFleet pushes n images spread over the given projects (and, with
// two registries... one registry host here: budgets per registry are
// covered by a unit test).
func newStormFleet(tb testing.TB, n, projects int, delay time.Duration) *stormFleet {
	tb.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(srv.Close)
	f := &stormFleet{host: strings.TrimPrefix(srv.URL, "http://"), buildDelay: delay, published: map[string]int{}}
	now := time.Now().UTC()
	f.now.Store(&now)
	base, err := random.Image(512, 1)
	require.NoError(tb, err)
	created := v1.Time{Time: now.Add(-time.Hour).Truncate(time.Second)}
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{OS: "linux", Architecture: "amd64", Created: created,
		RootFS: must(base.ConfigFile()).RootFS, History: []v1.History{{Created: created, CreatedBy: "base"}}})
	require.NoError(tb, err)
	ls, err := base.Layers()
	require.NoError(tb, err)
	f.baseLayer = must(ls[0].Digest()).String()
	baseRef, err := name.ParseReference(f.host + "/storm/base:1")
	require.NoError(tb, err)
	require.NoError(tb, remote.Write(baseRef, base))
	baseDigest := must(base.Digest()).String()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	ps := make([]abs.Project, projects)
	for p := range ps {
		ps[p] = abs.Project{Name: fmt.Sprintf("team-%02d", p), Owners: []string{fmt.Sprintf("team-%02d@example.invalid", p)}}
	}
	for i := range n {
		repo := fmt.Sprintf("%s/storm/app-%04d", f.host, i)
		p := &ps[i%projects]
		p.Images = append(p.Images, abs.Image{Name: fmt.Sprintf("app-%04d", i), Repository: repo, AutoRebuild: true})
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			l, err := random.Layer(64, types.DockerLayer)
			if err != nil {
				errs <- err
				return
			}
			img, err := mutate.Append(base, mutate.Addendum{Layer: l, History: v1.History{Created: created, CreatedBy: "app"}})
			if err != nil {
				errs <- err
				return
			}
			cf := must(img.ConfigFile()).DeepCopy()
			cf.Config.Labels = map[string]string{"org.opencontainers.image.base.name": f.host + "/storm/base:1",
				"org.opencontainers.image.base.digest": baseDigest}
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				errs <- err
				return
			}
			ref, err := name.ParseReference(repo + ":latest")
			if err != nil {
				errs <- err
				return
			}
			errs <- remote.Write(ref, img)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(tb, err)
	}
	f.projects = ps
	f.advDir = filepath.Join(tb.TempDir(), "advisories")
	require.NoError(tb, demo.WriteAdvisories(f.advDir, now))
	return f
}

func (f *stormFleet) clock() time.Time { return *f.now.Load() }

func (f *stormFleet) setClock(t time.Time) { f.now.Store(&t) }

// publishAdvisories adds advisories to the feed, issued relative to the
// fleet clock.
func (f *stormFleet) publishAdvisories(tb testing.TB, advs ...demo.Advisory) {
	require.NoError(tb, demo.WriteAdvisories(f.advDir, f.clock(), advs...))
}

// scan reports openssl-libs, fixed in images the fake rebaser made.
func (f *stormFleet) scan(_ context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	rel := "24.el9"
	if cf.Config.Labels[fixedLabel] != "" {
		rel = "27.el9"
	}
	return &rpmscan.Inventory{Image: rpmscan.ImageInfo{Digest: d.String()}, OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"},
		Packages: []rpmscan.Package{{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: rel, Arch: "x86_64"}},
		RPMDB:    &rpmscan.RPMDB{Path: "var/lib/rpm/rpmdb.sqlite", Backend: "sqlite", LayerDigest: f.baseLayer}}, nil
}

// build is the fast fake rebaser: the same layers, the stamp's labels and
// the fixed label.
func (f *stormFleet) build(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	img := strings.TrimPrefix(req.Ref, f.host+"/storm/")
	if f.onBuild != nil {
		f.onBuild(img)
	}
	start := time.Now()
	select {
	case <-time.After(f.buildDelay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cf, err := req.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	for k, v := range req.Labels {
		cf.Config.Labels[k] = v
	}
	cf.Config.Labels[fixedLabel] = "1"
	out, err := mutate.ConfigFile(req.Image, cf)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.spans = append(f.spans, buildSpan{image: img, start: start, end: time.Now()})
	f.mu.Unlock()
	return &rebuild.Result{Image: out}, nil
}

func (f *stormFleet) publish(_ context.Context, req publish.Request) (*publish.Result, error) {
	f.mu.Lock()
	f.published[req.Repository]++
	f.mu.Unlock()
	d, err := req.Image.Digest()
	if err != nil {
		return nil, err
	}
	return &publish.Result{Repository: req.Repository, Digest: d.String(), Pushed: true,
		Tags: []publish.TagChange{{Tag: "latest", Action: publish.ActionMoved, To: d.String()}}}, nil
}

// options wires the fleet's fakes; extra options come last.
func (f *stormFleet) options(tb testing.TB, extra ...abs.Option) []abs.Option {
	opts := []abs.Option{
		abs.WithSources(advisory.NewDir(f.advDir)),
		abs.WithScanner(scanFunc(f.scan)),
		abs.WithRebaser(buildFunc(f.build)),
		abs.WithPublisher(publishFunc(f.publish)),
		abs.WithNotifier(notify.Func(func(context.Context, []notify.Event) error { return nil })),
		abs.WithClock(f.clock),
		abs.WithRetry(20*time.Millisecond, 200*time.Millisecond),
		abs.WithWorkDir(tb.TempDir()),
	}
	return append(opts, extra...)
}

func (f *stormFleet) start(tb testing.TB, db *abs.Database, extra ...abs.Option) *abs.Orchestrator {
	tb.Helper()
	o, err := abs.New(context.Background(), db, f.projects, f.options(tb, extra...)...)
	require.NoError(tb, err)
	require.NoError(tb, o.Start(context.Background()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = o.Stop(ctx)
	})
	return o
}

// builds returns how many times each image was built.
func (f *stormFleet) builds() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, s := range f.spans {
		out[s.image]++
	}
	return out
}

// maxConcurrent is the most builds that ran at once, from the recorded
// start and end times, overall and by key (key maps an image to its
// project or registry; nil: overall only).
func (f *stormFleet) maxConcurrent(key func(image string) string) map[string]int {
	f.mu.Lock()
	spans := slices.Clone(f.spans)
	f.mu.Unlock()
	type ev struct {
		at    time.Time
		delta int
		key   string
	}
	var evs []ev
	for _, s := range spans {
		k := ""
		if key != nil {
			k = key(s.image)
		}
		evs = append(evs, ev{s.start, 1, k}, ev{s.end, -1, k})
	}
	// Ends before starts at the same instant: a slot given back and
	// taken again is not an overlap.
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].at.Equal(evs[j].at) {
			return evs[i].at.Before(evs[j].at)
		}
		return evs[i].delta < evs[j].delta
	})
	cur, peak := map[string]int{}, map[string]int{}
	for _, e := range evs {
		cur[""] += e.delta
		peak[""] = max(peak[""], cur[""])
		if e.key != "" {
			cur[e.key] += e.delta
			peak[e.key] = max(peak[e.key], cur[e.key])
		}
	}
	return peak
}

// meanConcurrent is how many builds ran at once on average: the builds'
// total time over the span from the first start to the last end.
func (f *stormFleet) meanConcurrent() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.spans) == 0 {
		return 0
	}
	first, last := f.spans[0].start, f.spans[0].end
	var busy time.Duration
	for _, s := range f.spans {
		busy += s.end.Sub(s.start)
		if s.start.Before(first) {
			first = s.start
		}
		if s.end.After(last) {
			last = s.end
		}
	}
	if last.Equal(first) {
		return 0
	}
	return float64(busy) / float64(last.Sub(first))
}

// projectOf maps "app-0007" to its project in a fleet of p projects.
func projectOf(p int) func(string) string {
	return func(image string) string {
		var i int
		_, _ = fmt.Sscanf(image, "app-%d", &i)
		return fmt.Sprintf("team-%02d", i%p)
	}
}
