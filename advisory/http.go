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
)

// HTTPDoer sends HTTP requests; *http.Client satisfies it. Sources and
// loaders take one through WithHTTPClient so callers can add proxies,
// authentication or test transports.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

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
	client      HTTPDoer
	logger      *slog.Logger
	cacheDir    string
	concurrency int
	attempts    int
	backoff     time.Duration
	timeout     time.Duration
	documents   []string
	userAgent   string
	maxBody     int64
	progress    func(Progress)
	// Limits set in feed.go; zero means the default there.
	maxInFlight  int64
	maxIndexRows int
}

func newConfig(opts []Option) *config {
	c := &config{
		client:      http.DefaultClient,
		logger:      slog.New(slog.DiscardHandler),
		concurrency: 4,
		attempts:    4,
		backoff:     500 * time.Millisecond,
		timeout:     2 * time.Minute,
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
func WithHTTPClient(c HTTPDoer) Option { return func(cfg *config) { cfg.client = c } }

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

// WithRetry sets how many times a request is tried (default 4) and the
// first wait between tries, doubled after each (default 500ms). Timeouts,
// connection errors, 429 and 5xx answers are retried; other 4xx are not.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(cfg *config) { cfg.attempts, cfg.backoff = max(1, attempts), max(0, backoff) }
}

// WithTimeout bounds each request (default 2 minutes), except the download
// of the full archive, which only the context bounds.
func WithTimeout(d time.Duration) Option { return func(cfg *config) { cfg.timeout = d } }

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
	var last error
	wait := f.cfg.backoff
	for attempt := 0; attempt < f.cfg.attempts; attempt++ {
		if attempt > 0 {
			f.cfg.logger.DebugContext(ctx, "retrying", "url", url, "attempt", attempt+1, "error", last)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil, ctx.Err()
			case <-t.C:
			}
			wait *= 2
		}
		rctx, cancel := context.WithCancel(ctx)
		if timeout > 0 {
			rctx, cancel = context.WithTimeout(ctx, timeout)
		}
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("advisory: %w", err)
		}
		req.Header.Set("User-Agent", f.cfg.userAgent)
		if v.ETag != "" {
			req.Header.Set("If-None-Match", v.ETag)
		}
		if v.LastModified != "" {
			req.Header.Set("If-Modified-Since", v.LastModified)
		}
		resp, err := f.cfg.client.Do(req)
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			last = fmt.Errorf("advisory: GET %s: %w", url, err)
			if retryable(err) {
				continue
			}
			return nil, nil, last
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return resp, cancel, nil
		case resp.StatusCode == http.StatusNotModified:
			drain(resp)
			cancel()
			return nil, nil, errNotModified
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			drain(resp)
			cancel()
			last = &HTTPError{URL: url, StatusCode: resp.StatusCode}
			continue
		default:
			drain(resp)
			cancel()
			return nil, nil, &HTTPError{URL: url, StatusCode: resp.StatusCode}
		}
	}
	return nil, nil, last
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

func validatorOf(resp *http.Response) Validator {
	return Validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
}

func retryable(err error) bool {
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
