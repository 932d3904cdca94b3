package rebuild

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"log/slog"
	"time"
)

// Option configures Fetch and Execute. Each function documents the options
// it reads; the others ignore it.
type Option func(*config)

type config struct {
	logger      *slog.Logger
	concurrency int
	dryRun      bool
	now         func() time.Time
	workDir     string
	store       Store
	verify      func(ctx context.Context, t *Target, img v1.Image) error
}

func newConfig(opts []Option) *config {
	c := &config{concurrency: 1, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.concurrency < 1 {
		c.concurrency = 1
	}
	return c
}

// WithLogger makes Fetch and Execute log to l. By default they are quiet.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithConcurrency lets Execute build up to n images of one batch at a time
// (default 1).
func WithConcurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WithDryRun makes Execute report what it would do without fetching or
// building anything.
func WithDryRun() Option { return func(c *config) { c.dryRun = true } }

// WithClock sets the clock Execute stamps rebuilt images with (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithWorkDir sets the directory Execute fetches sources into (default: a
// fresh directory under os.TempDir, removed afterwards).
func WithWorkDir(dir string) Option { return func(c *config) { c.workDir = dir } }

// WithStore makes Execute hand every rebuilt image to s, whose returned
// digest reference is what children are built on. Without a store, children
// are pinned to the parent's new digest in the parent's own repository.
func WithStore(s Store) Option { return func(c *config) { c.store = s } }

// WithVerify makes Run (and so Execute) call check on every rebuilt and
// stamped image before it is handed to the Store: an error fails the step
// and nothing is staged. The orchestrator rescans the image there.
//
// For a multi-platform target, check is called for the image of every
// rebuilt platform (its platform is the image config's) before anything
// is staged; the first error fails the whole target with a
// *PlatformError naming the platform, and no image of the index is
// staged. Carried-over images are not checked: they are unchanged.
func WithVerify(check func(ctx context.Context, t *Target, img v1.Image) error) Option {
	return func(c *config) { c.verify = check }
}
