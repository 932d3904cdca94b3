package abs

import (
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
)

// Option configures an Orchestrator.
type Option func(*Orchestrator)

// WithSources sets the advisory sources synced each cycle (for example
// advisory.NewDir, the Red Hat CSAF feed, OSV).
func WithSources(s ...advisory.Source) Option {
	return func(o *Orchestrator) { o.sources = append(o.sources, s...) }
}

// WithIndexOptions sets the options of the default matcher, an
// advisory.Index (for example advisory.WithRepoCPE).
func WithIndexOptions(opts ...advisory.IndexOption) Option {
	return func(o *Orchestrator) { o.indexOpts = append(o.indexOpts, opts...) }
}

// WithMatcher replaces how advisories are matched against inventories
// (default an advisory.Index of the stored advisories and VEX documents,
// with the WithIndexOptions options).
func WithMatcher(m MatcherFunc) Option { return func(o *Orchestrator) { o.matcher = m } }

// WithScanner sets the RPM scanner (default rpmscan.New()). Stored
// inventories are keyed by the scanner's release (VersionedScanner), so a
// new release rescans.
func WithScanner(s rpmscan.Scanner) Option { return func(o *Orchestrator) { o.scanner = s } }

// WithPolicy sets the grading policy (default healthindex.RedHat()).
func WithPolicy(p healthindex.Policy) Option { return func(o *Orchestrator) { o.policy = p } }

// WithRebuildPolicy sets which findings call for a rebuild (default
// DefaultRebuildPolicy).
func WithRebuildPolicy(p RebuildPolicy) Option { return func(o *Orchestrator) { o.rebuildP = p } }

// WithBuilder sets the builder used to rebuild from source (for example
// rebuild.Buildah).
func WithBuilder(b rebuild.Builder) Option { return func(o *Orchestrator) { o.builder = b } }

// WithRebaser sets the fast path used when only the base image moved and
// the image's own layers need nothing (default rebuild.Rebase with the
// registry options). Pass nil to always build from source.
func WithRebaser(b rebuild.Builder) Option {
	return func(o *Orchestrator) { o.rebaser, o.rebaserSet = b, true }
}

// WithPublisher sets where verified rebuilds are published (default a
// publish.Registry); chain a catalog publisher with publish.Chain.
func WithPublisher(p publish.Publisher) Option { return func(o *Orchestrator) { o.publisher = p } }

// WithNotifier sets how owners are told (default: log records).
func WithNotifier(n notify.Notifier) Option { return func(o *Orchestrator) { o.notifier = n } }

// WithLogger sets the logger; by default the orchestrator is quiet.
func WithLogger(l *slog.Logger) Option { return func(o *Orchestrator) { o.log = l } }

// WithProgress sets a function told about each step as it happens; calls
// are serialized.
func WithProgress(f func(Progress)) Option { return func(o *Orchestrator) { o.progress = f } }

// WithClock sets the clock grades are computed against.
func WithClock(c Clock) Option { return func(o *Orchestrator) { o.now = c } }

// WithRemoteOptions sets go-containerregistry options for every registry
// read and staging push (auth, transport, platform); the default reads
// credentials from the Docker config keychain.
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *Orchestrator) { o.remote = append(o.remote, opts...) }
}

// WithNameOptions sets how image references are parsed (for example
// name.Insecure for plain-HTTP registries on loopback).
func WithNameOptions(opts ...name.Option) Option {
	return func(o *Orchestrator) { o.nameOpts = append(o.nameOpts, opts...) }
}

// WithInsecureRegistries lets the orchestrator reach the named registry
// hosts ("host" or "host:port") over plain HTTP. Every other registry keeps
// HTTPS: the setting of one host never applies to another.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *Orchestrator) {
		if o.insecure == nil {
			o.insecure = map[string]bool{}
		}
		for _, h := range hosts {
			o.insecure[h] = true
		}
	}
}

// WithAutoMigrate says whether New migrates the database (default true).
// Turn it off where migrations run as their own deployment step
// (Database.Migrate); New then expects an up-to-date schema.
func WithAutoMigrate(on bool) Option { return func(o *Orchestrator) { o.noMigrate = !on } }

// WithPollInterval makes Start run a cycle every d (0, the default: no
// polling; use Trigger, the push Handler or RunCycle).
func WithPollInterval(d time.Duration) Option { return func(o *Orchestrator) { o.poll = d } }

// WithWarnBefore sets how long before a grade drop its owners are warned
// (default 7 days).
func WithWarnBefore(d time.Duration) Option { return func(o *Orchestrator) { o.warn = d } }

// WithWorkers bounds concurrent image scans and concurrent builds
// (defaults 4 and 2).
func WithWorkers(scans, builds int) Option {
	return func(o *Orchestrator) { o.scanWork, o.buildWork = max(scans, 1), max(builds, 1) }
}

// WithRetry sets the backoff of failed jobs within one run of a step:
// base·2^(attempt-1), at most max (defaults 1s and 10m). Runs of a failed
// rebuild in later cycles are WithRetryLimit's.
func WithRetry(base, max time.Duration) Option {
	return func(o *Orchestrator) { o.retry = backoff{base: base, max: max} }
}

// DefaultJobTimeout and DefaultRescueAfter bound how long a killed
// process (kill -9, a lost machine) holds its work: a job still running
// after DefaultRescueAfter is handed to another worker, in this process
// after a restart or in another sharing the database, within about half a
// minute more (River's rescuer runs every 30s). Raise both for builds that
// take longer than DefaultJobTimeout.
const (
	DefaultJobTimeout  = 15 * time.Minute
	DefaultRescueAfter = 20 * time.Minute
)

// WithRetryLimit sets how many times a rebuild runs across cycles, the
// first run included (default DefaultRetryLimit). A failed rebuild runs
// again in the first cycle after its backoff (WithRetryBackoff); once the
// attempts are used up, or when a rebase was refused on inputs that give
// the same refusal again, it waits for what its id covers to change (the
// base, the source, the configuration, the credentials: that is a new
// rebuild, with attempts of its own) or for Orchestrator.Retry. Reports
// say which (PlanStep.Waiting, RebuildReport.Waiting).
func WithRetryLimit(n int) Option { return func(o *Orchestrator) { o.retryLimit = max(n, 1) } }

// WithRetryBackoff sets the wait before a failed rebuild runs again in a
// later cycle: base before the second run, doubled for each further run,
// at most max (defaults DefaultRetryBackoff and DefaultRetryBackoffMax).
// The wait is measured on the wall clock, not WithClock's.
func WithRetryBackoff(base, max time.Duration) Option {
	return func(o *Orchestrator) { o.rbBackoff = backoff{base: base, max: max} }
}

// WithJobTimeout bounds how long one job (a build, a publish) may run
// before it is cancelled and retried (default DefaultJobTimeout). The
// build tools of a cancelled build are killed with their process group.
func WithJobTimeout(d time.Duration) Option { return func(o *Orchestrator) { o.jobTimeout = d } }

// WithRescueAfter sets how long a job may stay running before a worker
// (of any process sharing the database) takes it over as abandoned by a
// crashed process; the rebuild it ran resumes from its recorded state.
// It must be at least the job timeout (default DefaultRescueAfter, or the
// job timeout plus 5 minutes when that is longer).
func WithRescueAfter(d time.Duration) Option { return func(o *Orchestrator) { o.rescue = d } }

// WithWorkDir sets where builds check out sources (default os.TempDir).
// Start removes what builds of a dead process left there (scratch
// directories older than the job timeout, and the build tools still
// running in them), as rebuild.CleanScratch does.
func WithWorkDir(dir string) Option { return func(o *Orchestrator) { o.workDir = dir } }
