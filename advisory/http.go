package advisory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/openabs/abs/internal/retry"
)

// Doer sends HTTP requests; *http.Client satisfies it. Sources and
// loaders take one through WithHTTPClient so callers can add proxies,
// authentication or test transports. notify, partnerapi and publish take
// the same one-method seam under the same name.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// ErrTimeout is matched (errors.Is) by the error of a request whose server
// stalled: no response headers within the header timeout
// (WithHeaderTimeout), or no body bytes within the idle timeout
// (WithIdleTimeout). A stalled request is retried like a dropped
// connection.
var ErrTimeout = errors.New("advisory: server stalled")

// Default timeouts of one request.
const (
	// DefaultHeaderTimeout bounds the wait for a response's headers.
	DefaultHeaderTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds the wait for the next bytes of a body.
	DefaultIdleTimeout = 60 * time.Second
)

// HTTPError is a response with an unexpected status. Client errors (4xx)
// are returned at once; server errors (5xx) after the retries run out.
type HTTPError struct {
	URL        string
	StatusCode int
}

// Error names the URL and the status.
func (e *HTTPError) Error() string {
	return "advisory: GET " + e.URL + ": " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
}

// Option configures the HTTP sources and loaders (NewCSAF, NewOSV,
// LoadRepoCPE, Open).
type Option func(*config)

type config struct {
	client      Doer
	logger      *slog.Logger
	headerWait  time.Duration
	idleWait    time.Duration
	cacheDir    string
	concurrency int
	retry       retry.Policy
	timeout     time.Duration
	documents   []string
	userAgent   string
	maxBody     int64
	progress    func(Progress)
	// Limits set in feed.go; zero means the default there.
	maxInFlight  int64
	maxProducts  int
	maxMembers   int
	maxArchive   int64
	maxIndexRows int
}

func newConfig(opts []Option) *config {
	c := &config{
		client:      http.DefaultClient,
		logger:      slog.New(slog.DiscardHandler),
		concurrency: 4,
		retry:       retry.Policy{Attempts: 4, Initial: 500 * time.Millisecond, Max: 8 * time.Second},
		timeout:     2 * time.Minute,
		headerWait:  DefaultHeaderTimeout,
		idleWait:    DefaultIdleTimeout,
		userAgent:   "openabs-advisory",
		maxBody:     maxDocument,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithHTTPClient sets the client used for every request (default
// http.DefaultClient).
func WithHTTPClient(c Doer) Option { return func(cfg *config) { cfg.client = c } }

// WithLogger sets where progress and skipped documents are logged (default:
// nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) {
		if l != nil {
			cfg.logger = l
		}
	}
}

// WithConcurrency bounds how many documents are downloaded at once
// (default 4).
func WithConcurrency(n int) Option {
	return func(cfg *config) { cfg.concurrency = max(1, n) }
}

// WithRetry sets how many times a request is tried in all (attempts, at
// least 1; default 4) and the first and longest wait between tries: the
// wait doubles from first up to longest (default 500ms up to 8s; a
// longest below first keeps every wait at first). Timeouts (ErrTimeout
// included), connection errors, 429 and 5xx answers are retried, waiting
// for Retry-After when given (up to 5 minutes); other 4xx are not.
func WithRetry(attempts int, first, longest time.Duration) Option {
	return func(cfg *config) {
		cfg.retry.Attempts, cfg.retry.Initial, cfg.retry.Max = max(1, attempts), max(0, first), longest
	}
}

// WithTimeout bounds each request as a whole (default 2 minutes), except
// the download of the full archive, which the idle timeout and the
// context bound instead.
func WithTimeout(d time.Duration) Option { return func(cfg *config) { cfg.timeout = d } }

// WithHeaderTimeout bounds the wait for a response's headers after the
// request is sent (default DefaultHeaderTimeout, 30 s): a server that
// accepts the connection and never answers fails the attempt with
// ErrTimeout, and the attempt is retried. Zero or less disables it.
func WithHeaderTimeout(d time.Duration) Option { return func(cfg *config) { cfg.headerWait = d } }

// WithIdleTimeout bounds the wait for the next bytes of a response body
// (default DefaultIdleTimeout, 60 s): the bytes must keep flowing, so a
// server that trickles or stops mid-body fails with ErrTimeout, however
// long a steady download takes. It also covers the full archive, which
// WithTimeout does not. Zero or less disables it.
func WithIdleTimeout(d time.Duration) Option { return func(cfg *config) { cfg.idleWait = d } }

// WithMaxDocumentSize bounds how many bytes are read for one HTTP response
// or one member of an archive (default 256 MiB). A larger body fails with
// ErrTooLarge; inside a feed, the document is skipped.
func WithMaxDocumentSize(n int64) Option {
	return func(cfg *config) {
		if n > 0 {
			cfg.maxBody = n
		}
	}
}

// WithCacheDir keeps downloaded files that are worth reusing
// (repository-to-cpe.json) in dir.
func WithCacheDir(dir string) Option { return func(cfg *config) { cfg.cacheDir = dir } }

// WithDocuments makes a CSAF feed track only the listed documents (paths
// relative to the feed, e.g. "2024/rhsa-2024_0010.json"): the first sync
// fetches them instead of the full archive, and later syncs only look at
// their changes.
func WithDocuments(paths ...string) Option {
	return func(cfg *config) { cfg.documents = append(cfg.documents, paths...) }
}

// Validator holds the HTTP cache validators of one URL, for conditional
// requests.
type Validator struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

type validator = Validator

var errNotModified = errors.New("not modified")

// ErrTooLarge is matched (errors.Is) by the error for a response body or
// archive member larger than the limit WithMaxDocumentSize sets.
var ErrTooLarge = errors.New("advisory: document too large")

// readBounded reads all of r, or fails with ErrTooLarge when r holds more
// than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, limit)
	}
	return data, nil
}

type fetcher struct{ cfg *config }

// open GETs url, retrying transient failures, and returns a 200 response
// (the caller closes its body) or errNotModified.
// A zero timeout leaves the request bounded by ctx only (the archive).
func (f *fetcher) open(ctx context.Context, url string, v Validator, timeout time.Duration) (*http.Response, context.CancelFunc, error) {
	p := f.cfg.retry
	p.OnRetry = func(attempt int, wait time.Duration, err error) {
		f.cfg.logger.DebugContext(ctx, "retrying", "url", url, "attempt", attempt+1, "wait", wait, "error", err)
	}
	var (
		resp *http.Response
		done context.CancelFunc
	)
	err := p.Do(ctx, func(int) error {
		var err error
		resp, done, err = f.once(ctx, url, v, timeout)
		return err
	})
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, errNotModified) {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	return resp, done, nil
}

// once makes one attempt of open. A failure worth retrying is marked with
// retry.Again.
func (f *fetcher) once(ctx context.Context, url string, v Validator, timeout time.Duration) (*http.Response, context.CancelFunc, error) {
	rctx, cancel := f.requestContext(ctx, timeout)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		cancel(nil)
		return nil, nil, fmt.Errorf("advisory: %w", err)
	}
	req.Header.Set("User-Agent", f.cfg.userAgent)
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	var headers *time.Timer
	if f.cfg.headerWait > 0 {
		headers = time.AfterFunc(f.cfg.headerWait, func() {
			cancel(fmt.Errorf("%w: no response headers within %v", ErrTimeout, f.cfg.headerWait))
		})
	}
	resp, err := f.cfg.client.Do(req)
	if headers != nil {
		headers.Stop()
	}
	if err != nil {
		cause := context.Cause(rctx)
		cancel(nil)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if errors.Is(cause, ErrTimeout) {
			err = cause
		}
		last := fmt.Errorf("advisory: GET %s: %w", url, err)
		if retryable(err) {
			return nil, nil, retry.Again(last, 0)
		}
		return nil, nil, last
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if f.cfg.idleWait > 0 {
			resp.Body = newIdleBody(resp.Body, f.cfg.idleWait, rctx, cancel)
		}
		return resp, func() { cancel(nil) }, nil
	case resp.StatusCode == http.StatusNotModified:
		drain(resp)
		cancel(nil)
		return nil, nil, errNotModified
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		drain(resp)
		cancel(nil)
		return nil, nil, retry.Again(&HTTPError{URL: url, StatusCode: resp.StatusCode}, retry.After(resp, time.Now()))
	default:
		drain(resp)
		cancel(nil)
		return nil, nil, &HTTPError{URL: url, StatusCode: resp.StatusCode}
	}
}

// get is open plus reading the whole body, at most cfg.maxBody bytes; a
// body cut short is retried like any transient failure.
func (f *fetcher) get(ctx context.Context, url string, v Validator) ([]byte, Validator, error) {
	var err error
	for range 2 {
		var resp *http.Response
		var cancel context.CancelFunc
		resp, cancel, err = f.open(ctx, url, v, f.cfg.timeout)
		if err != nil {
			return nil, Validator{}, err
		}
		var body []byte
		body, err = readBounded(resp.Body, f.cfg.maxBody)
		resp.Body.Close()
		cancel()
		if err == nil {
			return body, validatorOf(resp), nil
		}
		if errors.Is(err, ErrTooLarge) {
			return nil, Validator{}, fmt.Errorf("advisory: GET %s: %w", url, err)
		}
		err = fmt.Errorf("advisory: GET %s: reading body: %w", url, err)
	}
	return nil, Validator{}, err
}

// requestContext returns the context of one attempt: ctx, bounded by
// timeout when it is positive, and cancellable with a cause (the header and
// idle timeouts).
func (f *fetcher) requestContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelCauseFunc) {
	rctx, cancelCause := context.WithCancelCause(ctx)
	if timeout <= 0 {
		return rctx, cancelCause
	}
	tctx, cancelTimeout := context.WithTimeout(rctx, timeout)
	return tctx, func(cause error) { cancelCause(cause); cancelTimeout() }
}

// idleBody fails a body read with ErrTimeout when no byte arrived for
// idle: a timer, reset by every read that returns data, cancels the
// request.
type idleBody struct {
	body  io.ReadCloser
	ctx   context.Context
	timer *time.Timer
	idle  time.Duration
}

func newIdleBody(body io.ReadCloser, idle time.Duration, ctx context.Context, cancel context.CancelCauseFunc) *idleBody {
	b := &idleBody{body: body, ctx: ctx, idle: idle}
	b.timer = time.AfterFunc(idle, func() {
		cancel(fmt.Errorf("%w: no data for %v", ErrTimeout, idle))
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrTimeout) {
			err = cause
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.body.Close()
}

func validatorOf(resp *http.Response) Validator {
	return Validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
}

func retryable(err error) bool {
	if errors.Is(err, ErrTimeout) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // timeouts, refused and reset connections
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}
