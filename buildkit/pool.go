package buildkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
)

// Daemon is one buildkitd a Pool may build on.
type Daemon struct {
	// Address is where buildkitd listens: "unix:///run/buildkit/buildkitd.sock"
	// or "tcp://10.0.0.7:1234".
	Address string
	// MaxBuilds is how many builds may run on the daemon at once
	// (default 1).
	MaxBuilds int
	// TLS configures mutual TLS for a tcp address; nil means plain text,
	// which only suits loopback and unix sockets.
	TLS *TLS
}

// TLS names the PEM files of a mutual-TLS connection to buildkitd (the
// files buildkitd's --tlscacert, --tlscert and --tlskey pair with).
type TLS struct {
	// CACert verifies the daemon's certificate.
	CACert string
	// Cert and Key are the client's certificate and key.
	Cert, Key string
	// ServerName is the name expected in the daemon's certificate
	// (default: the host of Address).
	ServerName string
}

// ErrNoDaemon is returned when no daemon of the pool is healthy (or every
// healthy one was excluded).
var ErrNoDaemon = errors.New("buildkit: no healthy daemon")

// HealthCheck reports whether the daemon behind c can take builds. The
// default lists the daemon's workers and fails when there are none.
type HealthCheck func(ctx context.Context, address string, c *client.Client) error

// Option configures a Pool.
type Option func(*Pool)

// WithHealthCheck replaces the default health check (a ListWorkers call).
func WithHealthCheck(h HealthCheck) Option { return func(p *Pool) { p.check = h } }

// WithHealthInterval sets how long a health result is trusted before a
// daemon is asked again (default 10s). A daemon found unhealthy is not
// chosen until it passes a check made after the interval.
func WithHealthInterval(d time.Duration) Option { return func(p *Pool) { p.interval = d } }

// WithHealthTimeout bounds one health check (default 3s).
func WithHealthTimeout(d time.Duration) Option { return func(p *Pool) { p.timeout = d } }

// WithWatchInterval sets how often a daemon running a build is
// health-checked (default 15s; 0 turns the watch off). After two failed
// checks in a row the build is abandoned and retried on another daemon,
// which catches a daemon that hangs or whose host vanished without
// closing the connection.
func WithWatchInterval(d time.Duration) Option { return func(p *Pool) { p.watch = d } }

// WithLogger logs daemon state changes; by default the pool is quiet.
func WithLogger(l *slog.Logger) Option { return func(p *Pool) { p.logger = l } }

// WithClock injects the time source used for health intervals.
func WithClock(now func() time.Time) Option { return func(p *Pool) { p.now = now } }

// Pool spreads builds over buildkitd daemons. It hands out a Lease on the
// healthy daemon with the most free build slots (the first listed among
// equals), waits when every healthy daemon is at its MaxBuilds, and fails
// with ErrNoDaemon when none is healthy. A Pool is safe for concurrent
// use; Close closes its connections.
type Pool struct {
	check    HealthCheck
	interval time.Duration
	timeout  time.Duration
	watch    time.Duration
	logger   *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	daemons []*daemon
	freed   chan struct{} // closed and replaced when a slot frees
	closed  bool
}

type daemon struct {
	cfg Daemon

	clientOnce sync.Once
	client     *client.Client
	clientErr  error
	probeMu    sync.Mutex

	// guarded by Pool.mu
	inFlight int
	healthy  bool
	checked  time.Time
	lastErr  error
	builds   int
}

// NewPool returns a pool over daemons. Connections are opened lazily; no
// daemon is contacted until the first Acquire.
func NewPool(daemons []Daemon, opts ...Option) (*Pool, error) {
	if len(daemons) == 0 {
		return nil, errors.New("buildkit: pool needs at least one daemon")
	}
	p := &Pool{
		check:    defaultCheck,
		interval: 10 * time.Second,
		timeout:  3 * time.Second,
		watch:    15 * time.Second,
		logger:   slog.New(slog.DiscardHandler),
		now:      time.Now,
		freed:    make(chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	seen := map[string]bool{}
	for _, d := range daemons {
		if d.Address == "" {
			return nil, errors.New("buildkit: daemon without an address")
		}
		if !strings.HasPrefix(d.Address, "unix://") && !strings.HasPrefix(d.Address, "tcp://") {
			return nil, fmt.Errorf("buildkit: daemon address %q: want unix:// or tcp://", d.Address)
		}
		if seen[d.Address] {
			return nil, fmt.Errorf("buildkit: daemon %s listed twice", d.Address)
		}
		seen[d.Address] = true
		if d.MaxBuilds <= 0 {
			d.MaxBuilds = 1
		}
		p.daemons = append(p.daemons, &daemon{cfg: d})
	}
	return p, nil
}

func defaultCheck(ctx context.Context, _ string, c *client.Client) error {
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return errors.New("daemon has no workers")
	}
	return nil
}

// conn returns the daemon's client, creating it on first use.
func (d *daemon) conn(ctx context.Context) (*client.Client, error) {
	d.clientOnce.Do(func() {
		var opts []client.ClientOpt
		if t := d.cfg.TLS; t != nil {
			sn := t.ServerName
			if sn == "" {
				sn = hostOf(d.cfg.Address)
			}
			opts = append(opts, client.WithServerConfig(sn, t.CACert), client.WithCredentials(t.Cert, t.Key))
		}
		d.client, d.clientErr = client.New(context.WithoutCancel(ctx), d.cfg.Address, opts...)
		if d.clientErr != nil {
			d.clientErr = fmt.Errorf("buildkit: connect %s: %w", d.cfg.Address, d.clientErr)
		}
	})
	return d.client, d.clientErr
}

func hostOf(addr string) string {
	h := strings.TrimPrefix(addr, "tcp://")
	if i := strings.LastIndex(h, ":"); i >= 0 {
		h = h[:i]
	}
	return strings.Trim(h, "[]")
}

// Lease is one build slot on one daemon. Release it when the build ends.
type Lease struct {
	p    *Pool
	d    *daemon
	once sync.Once
	c    *client.Client
}

// Address is the daemon's address.
func (l *Lease) Address() string { return l.d.cfg.Address }

// Client is the connection to the daemon.
func (l *Lease) Client() *client.Client { return l.c }

// Release gives the slot back. It is safe to call more than once.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.p.mu.Lock()
		l.d.inFlight--
		l.p.signal()
		l.p.mu.Unlock()
	})
}

// signal wakes the waiters of Acquire; p.mu is held.
func (p *Pool) signal() {
	close(p.freed)
	p.freed = make(chan struct{})
}

// Acquire returns a lease on the healthy daemon with the most free slots,
// skipping the addresses in exclude. It waits for a slot while every
// healthy daemon is busy, and returns ErrNoDaemon when no daemon outside
// exclude is healthy.
func (p *Pool) Acquire(ctx context.Context, exclude ...string) (*Lease, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		cands := p.candidates(exclude)
		wait := p.freed
		p.mu.Unlock()
		busy := false
		var errs []error
		for _, d := range cands {
			ok, err := p.healthy(ctx, d)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.cfg.Address, err))
			}
			if !ok {
				continue
			}
			p.mu.Lock()
			if d.inFlight < d.cfg.MaxBuilds {
				d.inFlight++
				d.builds++
				p.mu.Unlock()
				c, err := d.conn(ctx)
				if err != nil {
					p.markDown(d, err)
					(&Lease{p: p, d: d}).Release()
					errs = append(errs, err)
					continue
				}
				return &Lease{p: p, d: d, c: c}, nil
			}
			busy = true
			p.mu.Unlock()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !busy {
			if len(errs) > 0 {
				return nil, fmt.Errorf("%w: %w", ErrNoDaemon, errors.Join(errs...))
			}
			return nil, ErrNoDaemon
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// candidates returns the daemons outside exclude, most free slots first;
// p.mu is held.
func (p *Pool) candidates(exclude []string) []*daemon {
	var out []*daemon
	for _, d := range p.daemons {
		if !slices.Contains(exclude, d.cfg.Address) {
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b *daemon) int {
		return (b.cfg.MaxBuilds - b.inFlight) - (a.cfg.MaxBuilds - a.inFlight)
	})
	return out
}

// healthy reports whether d passed a health check within the interval,
// checking it now when its last result is too old.
func (p *Pool) healthy(ctx context.Context, d *daemon) (bool, error) {
	d.probeMu.Lock() // one check at a time; the others wait for its result
	defer d.probeMu.Unlock()
	p.mu.Lock()
	if !d.checked.IsZero() && p.now().Sub(d.checked) < p.interval {
		ok, err := d.healthy, d.lastErr
		p.mu.Unlock()
		return ok, err
	}
	p.mu.Unlock()

	err := p.probe(ctx, d)
	if err != nil && ctx.Err() != nil {
		return false, ctx.Err()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	was := d.healthy
	d.healthy, d.checked, d.lastErr = err == nil, p.now(), err
	if was != d.healthy {
		p.logger.LogAttrs(ctx, slog.LevelInfo, "buildkit: daemon health", slog.String("daemon", d.cfg.Address), slog.Bool("healthy", d.healthy), slog.Any("error", errText(err)))
	}
	return d.healthy, err
}

func (p *Pool) probe(ctx context.Context, d *daemon) error {
	c, err := d.conn(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	return p.check(cctx, d.cfg.Address, c)
}

// markDown records that d failed; it is not chosen again until a health
// check made after the interval passes.
func (p *Pool) markDown(d *daemon, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d.healthy, d.checked, d.lastErr = false, p.now(), err
	p.logger.LogAttrs(context.Background(), slog.LevelWarn, "buildkit: daemon down", slog.String("daemon", d.cfg.Address), slog.String("error", errText(err)))
}

// check probes the daemon of l now, bypassing the cached result, and
// records the outcome. It reports whether the daemon answered.
func (p *Pool) recheck(ctx context.Context, l *Lease) bool {
	err := p.probe(ctx, l.d)
	if err != nil {
		p.markDown(l.d, err)
		return false
	}
	return true
}

// DaemonStatus is a snapshot of one daemon of a pool.
type DaemonStatus struct {
	Address   string
	InFlight  int   // builds running now
	MaxBuilds int   // the daemon's limit
	Builds    int   // leases handed out so far
	Healthy   bool  // result of the last health check
	Checked   bool  // whether a health check has run
	Err       error // the last health check's error
}

// Status returns a snapshot of the pool's daemons, in the order given to
// NewPool.
func (p *Pool) Status() []DaemonStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]DaemonStatus, len(p.daemons))
	for i, d := range p.daemons {
		out[i] = DaemonStatus{Address: d.cfg.Address, InFlight: d.inFlight, MaxBuilds: d.cfg.MaxBuilds,
			Builds: d.builds, Healthy: d.healthy, Checked: !d.checked.IsZero(), Err: d.lastErr}
	}
	return out
}

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("buildkit: pool closed")

// Close closes the pool's connections, those of leases still out
// included; later Acquire calls fail with ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	var errs []error
	for _, d := range p.daemons {
		// Waits for a connection being opened; stops new ones.
		d.clientOnce.Do(func() { d.clientErr = ErrClosed })
		if d.client != nil {
			errs = append(errs, d.client.Close())
		}
	}
	return errors.Join(errs...)
}

// errText is the first line of err for a log record ("" for nil); the
// errors of BuildKit's client print stack traces with %+v.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return firstLine(err.Error())
}

// errDaemonLost is the cause of a build abandoned because its daemon
// stopped answering health checks.
var errDaemonLost = errors.New("daemon stopped answering")

// watch health-checks the daemon of l every watch interval until ctx
// ends, and cancels the build (cancel) after two failed checks in a row.
func (p *Pool) watchLease(ctx context.Context, l *Lease, cancel context.CancelCauseFunc) {
	if p.watch <= 0 {
		return
	}
	t := time.NewTicker(p.watch)
	defer t.Stop()
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := p.probe(ctx, l.d)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failed = 0
			continue
		}
		if failed++; failed >= 2 {
			cancel(fmt.Errorf("buildkit: %s: %w: %w", l.d.cfg.Address, errDaemonLost, err))
			return
		}
	}
}
