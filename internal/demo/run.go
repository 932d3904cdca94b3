package demo

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
)

// Options tune Run.
type Options struct {
	// Progress is told about each step (the example prints it).
	Progress func(abs.Progress)
	// Logger receives the orchestrator's logs (default: none).
	Logger *slog.Logger
	// Dir holds the state database, advisories and git repositories
	// (default: a temporary directory removed afterwards).
	Dir string
	// Builder builds from source when a rebase cannot apply (for example
	// rebuild.Buildah where it runs); nil means rebase only.
	Builder rebuild.Builder
	// Now pins the clock (default time.Now).
	Now func() time.Time
}

// Result is what a demo run did.
type Result struct {
	Report *abs.Report
	Fleet  *Fleet
	// Mail holds the messages the SMTP sink received.
	Mail []Mail
}

// Run runs the whole demonstration in-process: it seeds a loopback
// registry with an outdated base and two applications, pushes the updated
// base, writes the demo advisories, and runs one orchestrator cycle that
// finds, rebases, verifies, publishes and mails.
func Run(ctx context.Context, opts Options) (*Result, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	say := func(stage, format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(abs.Progress{Stage: stage, Message: fmt.Sprintf(format, args...)})
		}
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "openabs-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	reg := StartRegistry()
	defer reg.Close()
	say("setup", "registry on %s (in-process)", reg.Host)
	fleet, err := Seed(ctx, reg.Host)
	if err != nil {
		return nil, err
	}
	say("setup", "pushed base %s@%s and %d applications built on it", fleet.BaseRef, short(fleet.OldBase), len(fleet.Apps))
	if err := UpdateBase(ctx, fleet); err != nil {
		return nil, err
	}
	say("setup", "the base's vendor pushed an updated base: %s -> %s", fleet.BaseRef, short(fleet.NewBase))
	advDir := filepath.Join(dir, "advisories")
	if err := WriteAdvisories(advDir, now(), Advisories...); err != nil {
		return nil, err
	}
	say("setup", "wrote %d demo CSAF advisories (DEMO DATA) to %s", len(Advisories), advDir)
	sink, err := StartSMTP()
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	say("setup", "SMTP sink on %s:%d (in-process)", sink.Host, sink.Port)

	project := abs.Project{Name: "demo", Owners: []string{Owner}}
	for _, a := range fleet.Apps {
		src := filepath.Join(dir, "git", filepath.Base(a.Name))
		if _, err := GitRepo(src, fleet.BaseRef, "app/"+filepath.Base(a.Name)+".txt", a.Name+"\n"); err != nil {
			return nil, err
		}
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, Tag: a.Tag,
			AutoRebuild: true, Tags: []string{"latest"},
			Source: &rebuild.GitSource{URL: "file://" + src, Branch: "main"}})
	}
	db, err := abs.OpenSQLite(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	mail, err := notify.NewEmail(notify.EmailConfig{Host: sink.Host, Port: sink.Port, TLS: notify.NoTLS,
		From: "openabs demo <abs@example.invalid>", Now: now})
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(advDir)),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP(), publish.WithLogger(logger))),
		abs.WithNotifier(mail),
		abs.WithBuilder(opts.Builder),
		abs.WithClock(now),
		abs.WithLogger(logger),
		abs.WithProgress(opts.Progress),
		abs.WithWorkDir(dir),
	)
	if err != nil {
		return nil, err
	}
	for _, n := range o.Notes() {
		say("config", "%s", n)
	}
	if err := o.Start(ctx); err != nil {
		return nil, err
	}
	rep, runErr := o.RunCycle(ctx, abs.CycleOptions{Cause: "demo"})
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.Stop(stopCtx); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, runErr
	}
	return &Result{Report: rep, Fleet: fleet, Mail: sink.Messages()}, nil
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
