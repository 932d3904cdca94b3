// Command autorebuild runs the openabs auto-rebuild pipeline.
//
// With no flags it runs a self-contained demonstration: an in-process
// registry, demo advisories (DEMO DATA in the real CSAF shape), a rebase
// onto an updated base image, verification, publishing and one email to a
// local SMTP sink; nothing leaves the process. The demo then serves its
// REST API on a loopback port, printing the URL and an admin token made
// for this run, and its web console (package console) with a token of its
// own, until Ctrl-C (with -json it exits after the summary).
//
//	go run ./examples/autorebuild            # the demo, with progress
//	go run ./examples/autorebuild -json      # … ending with a JSON summary
//	go run ./examples/autorebuild -config examples/autorebuild/config.example.yaml
//
// With -config it runs for real from a YAML file (see
// config.example.yaml): advisory feed, registries, git sources, builder,
// mail or webhook, state database, poll interval.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // sqlite rpmdbs (RHEL 9, UBI 9)
	"github.com/openabs/abs/secret"
)

func main() {
	jsonOut := flag.Bool("json", false, "end with a JSON summary on stdout (progress goes to stderr)")
	quiet := flag.Bool("q", false, "print no progress")
	config := flag.String("config", "", "run for real from this YAML configuration file")
	once := flag.Bool("once", false, "with -config: run one cycle and exit instead of polling")
	dryRun := flag.Bool("dry-run", false, "with -config: plan and explain, build, push and mail nothing (implies -once)")
	flag.StringVar(&retryImage, "retry", "", "with -config: run the failed rebuilds of this image (name or repository) again, whatever they wait for, then exit (implies -once)")
	flag.Parse()
	if retryImage != "" {
		*once = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C ends the process at once

	out := io.Writer(os.Stdout)
	if *jsonOut {
		out = os.Stderr
	}
	if *quiet {
		out = io.Discard
	}
	progress := func(p abs.Progress) { fmt.Fprintf(out, "[%s] %s\n", p.Stage, p.Message) }

	var err error
	if *config != "" {
		err = runConfig(ctx, *config, *once || *dryRun, *dryRun, *jsonOut, out, progress)
	} else {
		err = runDemo(ctx, *jsonOut, out, progress)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "autorebuild:", err)
		os.Exit(1)
	}
}

func runDemo(ctx context.Context, jsonOut bool, out io.Writer, progress func(abs.Progress)) error {
	fmt.Fprintln(out, "openabs auto-rebuild demo: everything runs in this process; the advisories are DEMO DATA")
	opts := demoOptions{Progress: progress}
	show := func(res *demoResult) error {
		printReport(out, res.Report)
		for _, m := range res.Mail {
			subject, text, err := m.Text()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\nEmail sent to %s\nSubject: %s\n\n%s\n", strings.Join(m.To, ", "), subject, indent(text))
		}
		return nil
	}
	if !jsonOut {
		// The interactive demo stays up with its REST API until Ctrl-C.
		opts.Serve = func(ctx context.Context, o *abs.Orchestrator, res *demoResult) error {
			if err := show(res); err != nil {
				return err
			}
			_, stopConsole, err := demoConsole(ctx, o, "127.0.0.1:0", out)
			if err != nil {
				return err
			}
			defer stopConsole()
			return serveDemoAPI(ctx, out, o)
		}
		_, err := demoCycle(ctx, opts)
		return err
	}
	res, err := demoCycle(ctx, opts)
	if err != nil {
		return err
	}
	if err := show(res); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res.Report.Summary())
}

// serveDemoAPI serves the orchestrator's REST API on a loopback port with
// an admin token made for this run, and prints both, until ctx ends.
func serveDemoAPI(ctx context.Context, out io.Writer, o *abs.Orchestrator) error {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	token := hex.EncodeToString(b)
	tokens, err := api.NewTokens(api.Token{Name: "demo", Role: api.Admin, Value: secret.New(token)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: api.New(o, tokens), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "\nREST API: %s%s (OpenAPI: %s%s/openapi.json, metrics: %s/metrics)\n", base, api.Prefix, base, api.Prefix, base)
	fmt.Fprintf(out, "Demo token (admin, this run only): %s\n", token)
	fmt.Fprintf(out, "  curl -H 'Authorization: Bearer %s' %s%s/images/demo%%2Fapp\n", token, base, api.Prefix)
	fmt.Fprintln(out, "Ctrl-C stops the demo.")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

// demoOptions tune demoCycle.
type demoOptions struct {
	Progress func(abs.Progress)
	Logger   *slog.Logger
	// Dir holds the state database, advisories and git repositories
	// (default: a temporary directory removed afterwards).
	Dir string
	// Builder builds from source when a rebase cannot apply; nil means
	// rebase only.
	Builder rebuild.Builder
	Now     func() time.Time
	// Serve, when set, runs after the cycle while the orchestrator and
	// its world are still up (the demo's REST API); the demo ends when
	// it returns.
	Serve func(ctx context.Context, o *abs.Orchestrator, res *demoResult) error
}

// demoResult is what a demo cycle did.
type demoResult struct {
	Report *abs.Report
	Mail   []demo.Mail
}

// demoCycle sets up the demonstration's world (an in-process registry with
// an outdated base, two applications built on it and the updated base, the
// demo advisories, git sources and a mail sink), then wires an
// orchestrator over it exactly as a deployment would and runs one cycle.
func demoCycle(ctx context.Context, opts demoOptions) (*demoResult, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	say := func(format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(abs.Progress{Stage: "setup", Message: fmt.Sprintf(format, args...)})
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

	// The world: registry, images, advisories, sources, mail.
	reg := demo.StartRegistry()
	defer reg.Close()
	fleet, err := demo.Seed(ctx, reg.Host)
	if err != nil {
		return nil, err
	}
	say("registry on %s (in-process); pushed base %s and %d applications built on it", reg.Host, fleet.BaseRef, len(fleet.Apps))
	if err := demo.UpdateBase(ctx, fleet); err != nil {
		return nil, err
	}
	say("the base's vendor pushed an updated base to %s", fleet.BaseRef)
	advDir := filepath.Join(dir, "advisories")
	if err := demo.WriteAdvisories(advDir, now(), demo.Advisories...); err != nil {
		return nil, err
	}
	say("wrote %d demo CSAF advisories (DEMO DATA) to %s", len(demo.Advisories), advDir)
	sink, err := demo.StartSMTP()
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	say("SMTP sink on %s:%d (in-process)", sink.Host, sink.Port)

	// The wiring a deployment copies: projects, state, sources,
	// publisher, notifier.
	project := abs.Project{Name: "demo", Owners: []string{demo.Owner}}
	for _, a := range fleet.Apps {
		src := filepath.Join(dir, "git", filepath.Base(a.Name))
		if _, err := demo.GitRepo(src, fleet.BaseRef, "app/"+filepath.Base(a.Name)+".txt", a.Name+"\n"); err != nil {
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
	// Credentials given through the demo's API are encrypted with a key
	// made for this run.
	key, err := secret.GenerateKey()
	if err != nil {
		return nil, err
	}
	o, err := abs.New(ctx, db, []abs.Project{project},
		abs.WithSecretKey(key),
		abs.WithSources(advisory.NewDir(advDir)),
		abs.WithScanner(rpmscan.New(rpmscan.WithLogger(logger))),
		abs.WithBuilder(opts.Builder), // builds from source when a rebase cannot apply
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP(), publish.WithLogger(logger))),
		abs.WithNotifier(mail),
		abs.WithClock(now),
		abs.WithLogger(logger),
		abs.WithProgress(opts.Progress),
		abs.WithWorkDir(dir),
	)
	if err != nil {
		return nil, err
	}
	for _, n := range o.Notes() {
		say("%s", n)
	}
	if err := o.Start(ctx); err != nil {
		return nil, err
	}
	rep, runErr := o.RunCycle(ctx, abs.CycleOptions{Cause: "demo"})
	if runErr == nil && opts.Serve != nil {
		runErr = opts.Serve(ctx, o, &demoResult{Report: rep, Mail: sink.Messages()})
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.Stop(stopCtx); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, runErr
	}
	return &demoResult{Report: rep, Mail: sink.Messages()}, nil
}

func runConfig(ctx context.Context, path string, once, dryRun, jsonOut bool, out io.Writer, progress func(abs.Progress)) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	cfg.Progress = progress
	cfg.NewBuildKit = newBuildKit
	var opts []abs.Option
	if once {
		opts = append(opts, abs.WithPollInterval(0)) // just this one cycle
	}
	o, db, err := cfg.Open(ctx, opts...)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, n := range o.Notes() {
		fmt.Fprintln(out, "note:", n)
	}
	if dryRun {
		// No workers: work queued by earlier runs stays queued.
		rep, err := o.Plan(ctx, abs.CycleOptions{})
		if err != nil {
			return err
		}
		printReport(out, rep)
		if jsonOut {
			return json.NewEncoder(os.Stdout).Encode(rep.Summary())
		}
		return nil
	}
	if err := o.Start(ctx); err != nil {
		return err
	}
	defer func() {
		// Running jobs get a grace period, then are cancelled; they resume
		// from the recorded state on the next start.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := o.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "autorebuild:", err)
		}
	}()
	if !once {
		fmt.Fprintf(out, "polling every %s; push endpoint %s; API %s; Ctrl-C stops\n", cfg.PollInterval(), cfg.Push.Listen, cfg.API.Listen)
		return cfg.Serve(ctx, o)
	}
	var rep *abs.Report
	if retryImage != "" {
		id, err := o.Retry(ctx, retryImage)
		if err != nil {
			return err
		}
		rep, err = o.Wait(ctx, id)
	} else {
		rep, err = o.RunCycle(ctx, abs.CycleOptions{})
	}
	if err != nil {
		return err
	}
	printReport(out, rep)
	if jsonOut {
		if err := json.NewEncoder(os.Stdout).Encode(rep.Summary()); err != nil {
			return err
		}
	}
	if rep.Failed() {
		return errStepFailed
	}
	return nil
}

// retryImage is the -retry flag.
var retryImage string

func printReport(out io.Writer, rep *abs.Report) {
	fmt.Fprintln(out, "\nPlan (parents first):")
	if len(rep.Plan) == 0 {
		fmt.Fprintln(out, "  nothing to rebuild")
	}
	for i, st := range rep.Plan {
		fmt.Fprintf(out, "  %d. %s  [%s, %s]  %s\n", i+1, st.Image, st.Method, st.Reason, st.Why)
	}
	fmt.Fprintln(out, "\nImages:")
	for _, s := range rep.Summary().Images {
		state := "unchanged"
		switch {
		case s.Published:
			state = "published"
		case s.State != "":
			state = string(s.State) + ": " + s.Detail
		}
		if s.Error != "" && s.State == "" {
			state = "error: " + s.Error
		}
		fmt.Fprintf(out, "  %-28s %s -> %s  %s -> %s  %s\n", s.Name, s.BeforeGrade, s.AfterGrade, s.OldDigest, s.NewDigest, state)
		switch {
		case len(s.Advisories) == 0:
		case s.Published:
			fmt.Fprintf(out, "  %-28s fixed %s\n", "", strings.Join(s.Advisories, ", "))
		default:
			fmt.Fprintf(out, "  %-28s still open: %s\n", "", strings.Join(s.Advisories, ", "))
		}
		if s.Waiting != "" {
			fmt.Fprintf(out, "  %-28s %s\n", "", s.Waiting)
		}
		for _, w := range s.Warnings {
			fmt.Fprintf(out, "  %-28s warning: %s\n", "", w)
		}
		if s.Log != "" {
			fmt.Fprintf(out, "  %-28s build log (last lines):\n%s\n", "", indentBy("    | ", s.Log))
		}
	}
	for _, n := range rep.Notifications {
		of := ""
		if n.Cycle != "" {
			of = " (of cycle " + n.Cycle + ")"
		}
		if n.Error != "" {
			fmt.Fprintf(out, "\nNotification to %s%s not delivered (retried next cycle): %s\n", n.Owner, of, n.Error)
		}
	}
}

// errStepFailed is returned by a -once run when a step of the cycle
// failed, so that the exit status says so.
var errStepFailed = errors.New("a step of the cycle failed (see the report above)")

func indent(s string) string { return indentBy("  ", s) }

func indentBy(prefix, s string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
