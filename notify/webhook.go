package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openabs/abs/secret"
)

// Webhook headers.
const (
	// SignatureHeader carries the body's signature, secret.Sign of the
	// body keyed with the webhook secret: "sha256=" and the hex
	// HMAC-SHA256. Receivers check it with secret.Verify.
	SignatureHeader = secret.SignatureHeader
	// DeliveryHeader carries an id that stays the same across retries of
	// one delivery, so receivers can drop duplicates.
	DeliveryHeader = "X-Openabs-Delivery"
)

// Payload is the JSON body of a webhook request.
type Payload struct {
	Delivery string    `json:"delivery"`
	SentAt   time.Time `json:"sent_at"`
	Events   []Event   `json:"events"`
}

// Doer sends HTTP requests; *http.Client implements it.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Webhook POSTs each batch as one signed JSON Payload to a URL, retrying
// connection failures (but not TLS certificate errors), 408, 425, 429 and
// 5xx answers with exponential
// backoff (honouring Retry-After up to the longest wait). Errors name the
// URL's scheme and host only: webhook URLs often carry tokens in the path.
type Webhook struct {
	url     *url.URL
	secret  Secret
	doer    Doer
	timeout time.Duration
	retries int
	first   time.Duration
	longest time.Duration
	logger  *slog.Logger
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
}

var _ Notifier = (*Webhook)(nil)

// WebhookOption configures a Webhook.
type WebhookOption func(*Webhook)

// WithHTTPClient sends requests with d (default: a plain *http.Client;
// the per-attempt timeout comes from WithTimeout).
func WithHTTPClient(d Doer) WebhookOption { return func(w *Webhook) { w.doer = d } }

// WithTimeout bounds each attempt (default 10 s).
func WithTimeout(d time.Duration) WebhookOption { return func(w *Webhook) { w.timeout = d } }

// WithRetry sets the number of attempts and the first and longest wait
// between them (default 4 attempts, 1 s doubling up to 30 s).
func WithRetry(attempts int, first, longest time.Duration) WebhookOption {
	return func(w *Webhook) { w.retries, w.first, w.longest = max(attempts, 1), first, max(first, longest) }
}

// WithWebhookLogger logs failed attempts to l.
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(w *Webhook) {
		if l != nil {
			w.logger = l
		}
	}
}

// WithClock sets the clock used for Payload.SentAt.
func WithClock(now func() time.Time) WebhookOption { return func(w *Webhook) { w.now = now } }

// NewWebhook returns a webhook notifier for an http or https URL. The
// secret keys the signature; an empty secret is refused.
func NewWebhook(rawURL string, secret Secret, opts ...WebhookOption) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Do not echo the URL: it may hold a token.
		return nil, errors.New("notify: webhook: URL must be an absolute http or https URL")
	}
	if secret.IsZero() {
		return nil, errors.New("notify: webhook: a signing secret is required")
	}
	w := &Webhook{
		url: u, secret: secret,
		doer:    &http.Client{},
		timeout: 10 * time.Second,
		retries: 4, first: time.Second, longest: 30 * time.Second,
		logger: slog.New(slog.DiscardHandler),
		now:    time.Now,
		sleep:  sleepCtx,
	}
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

// HTTPError is a webhook answer that is not 2xx.
type HTTPError struct {
	// Endpoint is the URL's scheme and host.
	Endpoint string
	Status   int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("notify: webhook %s answered %d %s", e.Endpoint, e.Status, http.StatusText(e.Status))
}

// Notify sends events as one signed request.
func (w *Webhook) Notify(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	body, err := json.Marshal(Payload{Delivery: hex.EncodeToString(id), SentAt: w.now().UTC(), Events: events})
	if err != nil {
		return fmt.Errorf("notify: webhook: encode: %w", err)
	}
	sig := secret.Sign(w.secret, body)
	endpoint := w.url.Scheme + "://" + w.url.Host
	wait := w.first
	for attempt := 1; ; attempt++ {
		retry, after, err := w.post(ctx, body, sig, hex.EncodeToString(id), endpoint)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.retries || ctx.Err() != nil {
			return fmt.Errorf("notify: webhook: attempt %d of %d: %w", attempt, w.retries, err)
		}
		d := wait
		if after > 0 {
			d = min(after, w.longest)
		}
		w.logger.LogAttrs(ctx, slog.LevelWarn, "notify: webhook attempt failed, retrying",
			slog.String("endpoint", endpoint), slog.Int("attempt", attempt), slog.Duration("wait", d), slog.String("error", err.Error()))
		if serr := w.sleep(ctx, d); serr != nil {
			return fmt.Errorf("notify: webhook: %w", errors.Join(err, serr))
		}
		wait = min(wait*2, w.longest)
	}
}

// post makes one attempt. It reports whether a failure is worth retrying
// and how long the server asked to wait.
func (w *Webhook) post(ctx context.Context, body []byte, sig, delivery, endpoint string) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return false, 0, errors.New("notify: webhook: cannot build request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "openabs-notify")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set(DeliveryHeader, delivery)
	resp, err := w.doer.Do(req)
	if err != nil {
		// *url.Error repeats the full URL; keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return transportTransient(err), 0, fmt.Errorf("POST %s: %w", endpoint, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	herr := &HTTPError{Endpoint: endpoint, Status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooEarly,
		resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, retryAfter(resp.Header.Get("Retry-After"), w.now()), herr
	}
	return false, 0, herr
}

// transportTransient reports whether a failure to get an answer may pass
// when tried again. A certificate the client does not trust, or a server
// that does not speak TLS where TLS was asked for, will not.
func transportTransient(err error) bool {
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		herr  x509.HostnameError
		cierr x509.CertificateInvalidError
		rherr tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uaerr), errors.As(err, &herr),
		errors.As(err, &cierr), errors.As(err, &rherr):
		return false
	}
	// net/http replaces the tls.RecordHeaderError with a plain error.
	return !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
