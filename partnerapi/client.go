package partnerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openabs/abs/internal/retry"
)

// DefaultBaseURL is the production catalog API.
const DefaultBaseURL = "https://catalog.redhat.com/api/containers/v1"

// DefaultTimeout bounds each HTTP attempt unless WithTimeout says otherwise.
const DefaultTimeout = 60 * time.Second

// Doer sends an HTTP request. *http.Client implements it; tests and callers
// with their own transport stack (proxies, tracing) plug in here.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

var _ Doer = (*http.Client)(nil)

// Client talks to the catalog API. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	key      APIKey
	doer     Doer
	timeout  time.Duration
	log      *slog.Logger
	attempts int
	backoff  backoff
	poll     backoff
	agent    string
	sleep    func(context.Context, time.Duration) error
}

// backoff is a poll or retry schedule: min doubling up to max, jittered.
type backoff struct{ min, max time.Duration }

// policy returns the retry policy of b.
func (b backoff) policy(attempts int) retry.Policy {
	return retry.Policy{Attempts: attempts, Initial: b.min, Max: b.max, Jitter: true}
}

// delay returns the wait before retry n (0-based): exponential growth from
// min, capped at max, with up to 50% jitter removed.
func (b backoff) delay(n int) time.Duration { return b.policy(0).Backoff(n + 1) }

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another API root, such as a staging host
// or a partnerapitest server. The path is kept: pass the root up to and
// including /v1.
func WithBaseURL(u string) Option {
	return func(c *Client) {
		if parsed, err := url.Parse(strings.TrimRight(u, "/")); err == nil {
			c.base = parsed
		} else {
			c.base = nil
		}
	}
}

// WithHTTPClient sends requests through d instead of http.DefaultClient.
func WithHTTPClient(d Doer) Option { return func(c *Client) { c.doer = d } }

// WithTimeout bounds each HTTP attempt; zero or less means no bound beyond
// the caller's context.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithLogger logs each attempt at debug level and each retry at info level.
// The client is silent by default. The API key is never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithRetry sets how many times a request is sent in all (attempts, at
// least 1) and the first and longest wait between attempts: the wait
// doubles from first up to longest, less up to half at random. Requests
// are retried on 408, 425, 429 and 5xx (but not 501 and 505), waiting for
// Retry-After when given (up to 5 minutes), and on transport errors for
// GET requests. The defaults are 4 attempts, 500ms to 15s.
func WithRetry(attempts int, first, longest time.Duration) Option {
	return func(c *Client) {
		c.attempts = max(attempts, 1)
		c.backoff = backoff{first, longest}
	}
}

// WithPollInterval sets the backoff between polls of WaitImageRequest. The
// defaults are 2s growing to 30s.
func WithPollInterval(minDelay, maxDelay time.Duration) Option {
	return func(c *Client) { c.poll = backoff{minDelay, maxDelay} }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a client that authenticates with key. An empty key is allowed
// for the public, read-only parts of the API.
func New(key APIKey, opts ...Option) (*Client, error) {
	base, _ := url.Parse(DefaultBaseURL)
	c := &Client{
		base:     base,
		key:      key,
		doer:     http.DefaultClient,
		timeout:  DefaultTimeout,
		log:      slog.New(slog.DiscardHandler),
		attempts: 4,
		backoff:  backoff{500 * time.Millisecond, 15 * time.Second},
		poll:     backoff{2 * time.Second, 30 * time.Second},
		agent:    "openabs-partnerapi",
		sleep:    sleep,
	}
	for _, o := range opts {
		o(c)
	}
	if c.base == nil || c.base.Scheme == "" || c.base.Host == "" {
		return nil, errors.New("partnerapi: base URL must be absolute (scheme and host)")
	}
	if c.doer == nil {
		c.doer = http.DefaultClient
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// BaseURL returns the API root the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// sleep waits for d or until ctx ends.
var sleep = retry.Sleep

// endpoint joins path segments (each escaped) onto the base URL.
func (c *Client) endpoint(segments ...string) *url.URL {
	u := *c.base
	var raw strings.Builder
	raw.WriteString(strings.TrimRight(u.EscapedPath(), "/"))
	for _, s := range segments {
		raw.WriteByte('/')
		raw.WriteString(url.PathEscape(s))
	}
	u.RawPath = raw.String()
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = ""
	return &u
}

// maxBody bounds how much of an answer is read.
const maxBody = 64 << 20

// do sends a request and decodes a JSON answer into out (when out is not
// nil), retrying temporary failures.
func (c *Client) do(ctx context.Context, method string, u *url.URL, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("partnerapi: encode %s %s: %w", method, u.Path, err)
		}
	}
	p := c.backoff.policy(c.attempts)
	p.Sleep = c.sleep
	p.OnRetry = func(attempt int, wait time.Duration, err error) {
		c.log.LogAttrs(ctx, slog.LevelInfo, "partnerapi: retrying",
			slog.String("method", method), slog.String("path", u.Path),
			slog.Int("attempt", attempt+1), slog.Duration("wait", wait), slog.Any("error", err))
	}
	var last error
	err := p.Do(ctx, func(int) error {
		again, after, err := c.once(ctx, method, u, body, out)
		last = err
		if !again || ctx.Err() != nil {
			return err
		}
		var apiErr *Error
		if after == 0 && errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
			after = c.backoff.min // a 429 waits at least the first wait
		}
		return retry.Again(err, after)
	})
	if err != nil && last != nil && err != last && ctx.Err() != nil {
		return fmt.Errorf("partnerapi: %s %s: %w (last error: %w)", method, u.Path, context.Cause(ctx), last)
	}
	return err
}

// once sends one attempt. It reports whether a failure is worth retrying
// and how long the server asked to wait first.
func (c *Client) once(ctx context.Context, method string, u *url.URL, body []byte, out any) (bool, time.Duration, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return false, 0, fmt.Errorf("partnerapi: %s %s: %w", method, u.Path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.agent != "" {
		req.Header.Set("User-Agent", c.agent)
	}
	if !c.key.IsZero() {
		req.Header.Set("X-API-KEY", c.key.Reveal())
	}
	start := time.Now()
	resp, err := c.doer.Do(req)
	if err != nil {
		// The transport error may quote the request; it never holds headers.
		c.log.LogAttrs(ctx, slog.LevelDebug, "partnerapi: request failed",
			slog.String("method", method), slog.String("path", u.Path), slog.Any("error", err))
		return method == http.MethodGet, 0, fmt.Errorf("partnerapi: %s %s: %w", method, u.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.log.LogAttrs(ctx, slog.LevelDebug, "partnerapi: request",
		slog.String("method", method), slog.String("path", u.Path),
		slog.Int("status", resp.StatusCode), slog.Duration("elapsed", time.Since(start)))
	if err != nil {
		return method == http.MethodGet, 0, fmt.Errorf("partnerapi: %s %s: read answer: %w", method, u.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := ParseError(resp.StatusCode, data)
		e.Method, e.Path = method, u.Path
		if !retry.Status(resp.StatusCode) {
			return false, 0, e
		}
		return true, retry.After(resp, time.Now()), e
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return false, 0, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, 0, fmt.Errorf("partnerapi: %s %s: decode answer: %w", method, u.Path, err)
	}
	return false, 0, nil
}
