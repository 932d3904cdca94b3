package abs_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
)

// BenchmarkStorm: one advisory affects 2,000 images (20 projects, one
// registry) and the global budget is 8 concurrent builds, with a fake
// rebaser taking 5ms. Each iteration plans on a fresh SQLite database
// and drains the whole storm. It reports the time to plan (cycle start
// to recorded plan), the time to drain (plan to every rebuild
// published), the peak of concurrent builds measured from the builds'
// recorded start and end times and their average (build time over the
// span from the first start to the last end), the build slots held on
// average (sampled each second; a slot is held from its grant through
// the build, verify and staging), the deepest queue seen, and fails if an
// image is built twice or the budget is exceeded. The queue depth over
// time is logged (-v).
//
//	go test -run '^$' -bench BenchmarkStorm -benchtime 1x -v .
func BenchmarkStorm(b *testing.B) {
	n, projects, budget := stormN(), 20, 8
	t0 := time.Now()
	f := newStormFleet(b, n, projects, 5*time.Millisecond)
	b.Logf("fleet of %d pushed in %s", n, time.Since(t0))
	f.publishAdvisories(b, demo.OpenSSL)
	ctx := context.Background()
	b.ReportAllocs()
	var plan, drain time.Duration
	var peak, deepest int
	var avg, slots float64
	for b.Loop() {
		f.mu.Lock()
		f.spans, f.published = nil, map[string]int{}
		f.mu.Unlock()
		o := f.start(b, stormDB(b), abs.WithWorkers(4, 2*budget),
			abs.WithStorm(abs.Storm{Budgets: abs.Budgets{Global: budget}}))
		t0 := time.Now()
		id, err := o.StartCycle(ctx, abs.CycleOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var series []string
		var slotSum, samples int
		planned := false
		tick := time.NewTicker(time.Second)
		for done := false; !done; {
			<-tick.C
			if !planned {
				// Cheap until planned: the report of an unplanned cycle
				// reads one row.
				rep, err := o.Report(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if rep.State != abs.CyclePlanned {
					continue
				}
				planned, plan = true, time.Since(t0)
			}
			// Sampled from one grouped query and the fakes' own records,
			// so that watching does not slow the storm down.
			q, err := o.Queue(ctx)
			if err != nil {
				b.Fatal(err)
			}
			f.mu.Lock()
			built, published := len(f.spans), len(f.published)
			f.mu.Unlock()
			deepest = max(deepest, q.Waiting)
			if published < n {
				slotSum += q.Running
				samples++
			}
			series = append(series, fmt.Sprintf("%5.0fs held=%d waiting=%d running=%d built=%d published=%d",
				time.Since(t0).Seconds(), q.Held, q.Waiting, q.Running, built, published))
			done = published == n
		}
		tick.Stop()
		drain = time.Since(t0) - plan
		b.StopTimer()
		for i, s := range series {
			if i%10 == 0 || i == len(series)-1 { // one line every ten seconds
				b.Log(s)
			}
		}
		rep, err := o.Report(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rep.Rebuilds {
			if r.State != abs.RebuildPublished {
				b.Fatalf("%s: %s %s", r.Image, r.State, r.Detail)
			}
		}
		builds := f.builds()
		if len(builds) != n {
			b.Fatalf("%d images built, want %d", len(builds), n)
		}
		for img, c := range builds {
			if c != 1 {
				b.Fatalf("%s built %d times", img, c)
			}
		}
		peak = f.maxConcurrent(nil)[""]
		avg = f.meanConcurrent()
		if samples > 0 {
			slots = float64(slotSum) / float64(samples)
		}
		if peak > budget {
			b.Fatalf("%d builds ran at once, budget %d", peak, budget)
		}
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = o.Stop(stopCtx)
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(plan.Seconds(), "plan-s")
	b.ReportMetric(drain.Seconds(), "drain-s")
	b.ReportMetric(float64(peak), "peak-builds")
	b.ReportMetric(avg, "avg-builds")
	b.ReportMetric(slots, "avg-slots")
	b.ReportMetric(float64(deepest), "max-waiting")
	b.ReportMetric(float64(n)/drain.Seconds(), "builds/s")
}

// stormN is the fleet size of BenchmarkStorm (ABS_STORM_IMAGES, default
// 2,000).
func stormN() int {
	if v, err := strconv.Atoi(os.Getenv("ABS_STORM_IMAGES")); err == nil && v > 0 {
		return v
	}
	return 2000
}
