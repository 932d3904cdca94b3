package abs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/publish"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // "sqlite" for the state and for rpmdbs
)

// world is what the examples run against: an in-process registry holding
// two applications built on an outdated base (whose vendor already pushed
// the fix), the demo advisories (DEMO DATA) and a temporary directory.
type world struct {
	reg   *demo.Registry
	fleet *demo.Fleet
	dir   string
	now   time.Time
}

func newWorld(ctx context.Context) (*world, error) {
	w := &world{reg: demo.StartRegistry(), now: time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	if w.dir, err = os.MkdirTemp("", "abs-example-"); err != nil {
		return nil, err
	}
	if w.fleet, err = demo.Seed(ctx, w.reg.Host); err != nil {
		return nil, err
	}
	if err := demo.UpdateBase(ctx, w.fleet); err != nil {
		return nil, err
	}
	return w, demo.WriteAdvisories(filepath.Join(w.dir, "advisories"), w.now, demo.Advisories...)
}

func (w *world) close() {
	w.reg.Close()
	_ = os.RemoveAll(w.dir)
}

// orchestrator wires an orchestrator over the world, as a program would.
func (w *world) orchestrator(ctx context.Context) (*abs.Orchestrator, *abs.Database, error) {
	db, err := abs.OpenSQLite(ctx, filepath.Join(w.dir, "abs.db"))
	if err != nil {
		return nil, nil, err
	}
	project := abs.Project{Name: "shop", Owners: []string{"team@example.com"}}
	for _, a := range w.fleet.Apps {
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, AutoRebuild: true})
	}
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(filepath.Join(w.dir, "advisories"))),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())),
		abs.WithClock(func() time.Time { return w.now }),
		abs.WithWorkDir(w.dir),
	)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return o, db, nil
}

// Plan is a dry run: what the orchestrator would rebuild and why, with
// nothing built, pushed or mailed and no workers started.
func ExampleOrchestrator_Plan() {
	ctx := context.Background()
	w, err := newWorld(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.close()
	o, db, err := w.orchestrator(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	rep, err := o.Plan(ctx, abs.CycleOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.State)
	for _, st := range rep.Plan {
		fmt.Println(st.Image, st.Method, st.Reason, st.BeforeGrade, st.Advisories)
	}
	// Output:
	// dry-run
	// demo/api rebase directly affected C [RHSA-2099:9001 RHSA-2099:9002]
	// demo/app rebase directly affected C [RHSA-2099:9001 RHSA-2099:9002]
}

// RunCycle runs a whole cycle on the workers: rebase onto the fixed base,
// rescan, verify, publish, notify.
func ExampleOrchestrator_RunCycle() {
	ctx := context.Background()
	w, err := newWorld(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.close()
	o, db, err := w.orchestrator(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := o.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer o.Stop(context.Background())

	rep, err := o.RunCycle(ctx, abs.CycleOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range rep.Summary().Images {
		fmt.Println(s.Name, s.BeforeGrade, "->", s.AfterGrade, s.State)
	}
	// Output:
	// demo/app C -> A published
	// demo/api C -> A published
}

// Regrade grades every managed image from the stored inventories and
// advisories, without a registry: grades decay with time, so a later
// clock can give a worse grade.
func ExampleOrchestrator_Regrade() {
	ctx := context.Background()
	w, err := newWorld(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.close()
	o, db, err := w.orchestrator(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := o.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer o.Stop(ctx)
	// A cycle syncs and scans (a dry run would store nothing); Regrade
	// then grades the digests it saw from the stored state alone.
	if _, err := o.RunCycle(ctx, abs.CycleOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	grades, err := o.Regrade(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, g := range grades {
		fmt.Println(g.Image, g.Grade, len(g.Findings), "findings")
	}
	// Output:
	// demo/api C 5 findings
	// demo/app C 5 findings
}

// ExampleFreezeWindow: no publishes from Friday 18:00 to Monday 06:00,
// Paris time, as two windows that chain.
func ExampleFreezeWindow() {
	paris, _ := time.LoadLocation("Europe/Paris")
	storm := abs.Storm{Freeze: []abs.FreezeWindow{
		{Days: []time.Weekday{time.Friday}, From: 18 * time.Hour, To: 24 * time.Hour, Location: paris},
		{Days: []time.Weekday{time.Saturday, time.Sunday, time.Monday}, From: 0, To: 6 * time.Hour, Location: paris},
		{Days: []time.Weekday{time.Saturday, time.Sunday}, Location: paris},
	}}
	at := time.Date(2026, 12, 4, 19, 0, 0, 0, paris) // a Friday evening
	for _, w := range storm.Freeze {
		if end, ok := w.End(at); ok {
			fmt.Println("frozen until", end.Format("Mon 15:04"), "at least")
		}
	}
	// Output: frozen until Sat 00:00 at least
}
