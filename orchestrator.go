package abs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/secret"
)

// Orchestrator runs the auto-rebuild pipeline: it syncs advisories, finds
// and grades affected images, rebuilds, verifies, publishes and notifies,
// each step a durable River job. Create it with New; call Start to run
// workers and the poll loop, and Stop to stop them.
type Orchestrator struct {
	db          *store.DB
	eng         engine
	imgs        imageSnapshot
	notes       []string
	sources     []advisory.Source
	indexOpts   []advisory.IndexOption
	matcher     MatcherFunc
	scanner     rpmscan.Scanner
	scannerKey  string
	policy      healthindex.Policy
	rebuildP    RebuildPolicy
	builder     rebuild.Builder
	rebaser     rebuild.Builder
	publisher   publish.Publisher
	notifier    notify.Notifier
	log         *slog.Logger
	progress    func(Progress)
	now         Clock
	remote      []remote.Option
	nameOpts    []name.Option
	insecure    map[string]bool
	poll        time.Duration
	warn        time.Duration
	scanWork    int
	buildWork   int
	retry       backoff
	rbBackoff   backoff
	retryLimit  int
	wall        func() time.Time
	sweep       sweeper // storm.go: build slot sweeps
	rescue      time.Duration
	jobTimeout  time.Duration
	workDir     string
	projectIDs  map[string]string
	rebaserSet  bool
	noMigrate   bool
	scrub       *secret.Scrubber
	secretKey   secret.Key
	seedAuth    map[string]seedCred
	seedPending []Project
	plain       map[string]secret.Value // ciphertext → secret, of the last reload
	imgGen      atomic.Int64
	imgLoaded   atomic.Bool
	reloadMu    sync.Mutex
	fleet       fleetSettings  // options_fleet.go
	cert        *certification // WithCertification (certify.go)
	supply      *supplyChain   // WithSigner (supplychain.go)
	storm       Storm          // WithStorm (storm.go)
	// localSources allows file:// and http:// sources at runtime
	// (WithLocalSources, sources_local.go).
	localSources bool

	emitMu  sync.Mutex
	fmu     sync.Mutex
	fcache  *fleetCache
	gmu     sync.Mutex
	gcache  *gradeCache
	mu      sync.Mutex
	mcache  Matcher
	mcacheK string
}

// Progress is one step of the pipeline, for display.
type Progress struct {
	Cycle   string `json:"cycle,omitempty"`
	Stage   string `json:"stage"` // sync, scan, grade, plan, build, verify, publish, notify, warn
	Image   string `json:"image,omitempty"`
	Message string `json:"message"`
}

// New builds an orchestrator over db for the given projects. It migrates
// the database first, unless WithAutoMigrate(false) is given.
//
// Projects and their images live in the database, where CreateProject,
// UpdateImage and the other methods change them at runtime; the projects
// given to New (from a YAML file, or ProjectFromCatalog) seed and sync
// it. They are upserted by ID (a slug of the name when ID is empty): one
// not stored yet is inserted; a stored one is overwritten from the
// configuration only when that project's or image's configuration
// changed since it was last seeded, so a change made at runtime survives
// restarts until the configuration of that image changes. Projects and
// images created at runtime, or dropped from the configuration, are kept
// (Notes names the latter). Credentials in a seeded Source stay in this
// process's memory; one stored with SetSSHKey or SetToken wins.
func New(ctx context.Context, db *Database, projects []Project, opts ...Option) (*Orchestrator, error) {
	images, notes, err := Normalize(projects)
	if err != nil {
		return nil, err
	}
	o := &Orchestrator{
		db:         db.db,
		notes:      notes,
		rebuildP:   DefaultRebuildPolicy,
		now:        time.Now,
		warn:       7 * 24 * time.Hour,
		scanWork:   4,
		buildWork:  2,
		retry:      backoff{base: time.Second, max: 10 * time.Minute},
		rbBackoff:  backoff{base: DefaultRetryBackoff, max: DefaultRetryBackoffMax},
		retryLimit: DefaultRetryLimit,
		wall:       time.Now,
		jobTimeout: DefaultJobTimeout,
		projectIDs: map[string]string{},
	}
	for _, p := range projects {
		if p.ID != "" {
			o.projectIDs[p.Name] = p.ID
		}
	}
	for _, opt := range opts {
		opt(o)
	}
	if err := o.checkSupplyChain(); err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.scrub == nil {
		// Credentials stored at runtime are added as they are loaded.
		o.scrub = secret.NewScrubber()
	}
	o.log = slog.New(o.scrub.Handler(o.log.Handler()))
	if o.rescue == 0 {
		o.rescue = max(DefaultRescueAfter, o.jobTimeout+5*time.Minute)
	}
	if o.workDir == "" {
		o.workDir = os.TempDir()
	}
	if o.scanner == nil {
		o.scanner = rpmscan.New(rpmscan.WithLogger(o.log))
	}
	o.scannerKey = scannerKey(o.scanner)
	if o.policy == nil {
		o.policy = healthindex.RedHat()
	}
	if o.matcher == nil {
		opts := o.indexOpts
		o.matcher = func(advs []advisory.Advisory, vex []advisory.VEX) (Matcher, error) {
			return advisory.NewIndex(advs, append([]advisory.IndexOption{advisory.WithVEX(vex)}, opts...)...), nil
		}
	}
	if len(o.remote) == 0 {
		o.remote = []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	}
	if !o.rebaserSet {
		o.rebaser = &rebuild.Rebase{Options: o.remote}
	}
	if o.publisher == nil {
		// Verify-before-publish includes "a containers/image client can
		// pull it"; a publisher given with WithPublisher makes its own
		// choice (publish.WithImageCheck).
		o.publisher = publish.NewRegistry(publish.WithLogger(o.log), publish.WithImageCheck(rebuild.CheckPullable))
	}
	if o.notifier == nil {
		o.notifier = notify.NewLog(o.log)
	}
	for _, n := range notes {
		o.log.Info("configuration note", "note", n)
	}
	if !o.noMigrate {
		if err := o.db.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	if o.noMigrate {
		// The schema may not exist yet (a separate migration step runs
		// before Start): building touches no table, and the projects are
		// seeded at the first reload.
		o.imgs.store(newImageSet(images))
		o.seedPending = projects
	} else {
		if err := o.seed(ctx, projects); err != nil {
			return nil, err
		}
		if err := o.reloadImages(ctx); err != nil {
			return nil, err
		}
		o.notes = append(o.notes, o.unconfiguredNotes(projects, images)...)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(o.workCycle))
	river.AddWorker(workers, river.WorkFunc(o.workRebuild))
	river.AddWorker(workers, river.WorkFunc(o.workPublish))
	river.AddWorker(workers, river.WorkFunc(o.workNotify))
	cfg := &river.Config{
		Queues: map[string]river.QueueConfig{
			queueDefault: {MaxWorkers: 4},
			queueBuild:   {MaxWorkers: o.buildWork},
		},
		Workers:           workers,
		Logger:            riverLogger(o.log),
		RetryPolicy:       o.retry,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
		// A positive timeout matters beyond bounding jobs: River's rescuer
		// only takes over the jobs of a crashed process once they are
		// older than both the timeout and RescueStuckJobsAfter.
		JobTimeout:           o.jobTimeout,
		RescueStuckJobsAfter: o.rescue,
		Middleware:           []rivertype.Middleware{&scrubMiddleware{s: o.scrub}},
	}
	if o.poll > 0 {
		interval := o.poll
		cfg.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(
			river.PeriodicInterval(interval),
			func() (river.JobArgs, *river.InsertOpts) {
				slot := time.Now().UTC().Truncate(interval)
				return cycleArgs{Cycle: "poll-" + slot.Format("20060102T150405Z"), Cause: "poll"}, nil
			},
			&river.PeriodicJobOpts{RunOnStart: true, ID: "abs-poll"},
		)}
	}
	eng, err := newEngine(o.db, cfg)
	if err != nil {
		return nil, err
	}
	o.eng = eng
	return o, nil
}

// Notes returns what Normalize said about the configuration, such as
// "auto-rebuild turns on auto-publish".
func (o *Orchestrator) Notes() []string { return append([]string(nil), o.notes...) }

// Images returns the managed images as the pipeline sees them (owners
// merged with the project's, the watched tag among the tags). Their
// Source carries no credential: only Credential describes it. The list
// is reloaded first when another replica (or this one) changed the stored
// projects; when the database cannot be read, the list last loaded is
// returned.
func (o *Orchestrator) Images() []Image {
	ctx, cancel := context.WithTimeout(context.Background(), imagesRefreshTimeout)
	if err := o.refreshImages(ctx); err != nil {
		o.log.Warn("images: reload", "error", err)
	}
	cancel()
	out := append([]Image(nil), o.fleetImages()...)
	for i := range out {
		if src := out[i].Source; src != nil {
			c := *src
			c.Auth.Token, c.Auth.SSHKey, c.Auth.SSHKeyPassphrase = secret.Value{}, secret.Value{}, secret.Value{}
			c.Auth.TrustOnFirstUse = nil
			out[i].Source = &c
		}
	}
	return out
}

// Start starts the job workers (and the poll loop, when an interval is
// set). Work left by a previous process is picked up: its jobs once they
// have run longer than the rescue delay (WithRescueAfter), and the
// scratch directories and build tools its builds left in the work
// directory at once.
func (o *Orchestrator) Start(ctx context.Context) error {
	o.cleanScratch()
	if err := o.eng.Start(ctx); err != nil {
		return fmt.Errorf("abs: start: %w", err)
	}
	o.startSweep() // storm.go
	return nil
}

// Stop waits for running jobs to finish and stops the workers. When ctx
// ends first, running jobs are cancelled (and waited for a few seconds);
// their work resumes from the recorded state on the next Start, in this
// process or another.
func (o *Orchestrator) Stop(ctx context.Context) error {
	o.stopSweep() // storm.go
	err := o.eng.Stop(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		return fmt.Errorf("abs: stop: %w", err)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := o.eng.StopAndCancel(cctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("abs: stop: %w", err)
	}
	return nil
}

// scratchPrefix names the per-rebuild directories under the work
// directory; rebuild.Run makes its scratch directories inside them.
const scratchPrefix = "abs-rb-"

// cleanScratch removes the scratch of builds whose process died: in each
// per-rebuild directory, what rebuild.CleanScratch finds older than the
// job timeout (a live build of another process touches its own sooner),
// and the directory itself once empty.
func (o *Orchestrator) cleanScratch() {
	entries, err := os.ReadDir(o.workDir)
	if err != nil {
		return
	}
	var removed, killed int
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(o.workDir, e.Name())
		r, k, err := rebuild.CleanScratch(dir, o.jobTimeout)
		removed, killed = removed+len(r), killed+len(k)
		if err != nil {
			o.log.Warn("clean scratch", "dir", dir, "error", err.Error())
		}
		_ = os.Remove(dir) // only when empty
	}
	if removed+killed > 0 {
		o.log.Info("removed stale build scratch", "dir", o.workDir, "removed", removed, "killed", killed)
	}
}

// note records one step of the pipeline: the logger gets msg, a fixed
// event name, with structured attributes (cycle, stage, image and attrs);
// the progress hook gets text, a sentence for display.
func (o *Orchestrator) note(cycle, stage, image, msg, text string, attrs ...any) {
	o.log.Info(msg, append([]any{"cycle", cycle, "stage", stage, "image", image}, attrs...)...)
	if o.progress != nil {
		o.emitMu.Lock()
		defer o.emitMu.Unlock()
		o.progress(Progress{Cycle: cycle, Stage: stage, Image: image, Message: o.scrubText(text)})
	}
}
