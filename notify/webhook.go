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
	"strings"
	"time"

	"github.com/openabs/abs/internal/retry"
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
// 5xx answers (but not 501 and 505) with exponential backoff, honouring
// Retry-After up to 5 minutes (see WithRetry). Errors name the
// URL's scheme and host only: webhook URLs often carry tokens in the path.
type Webhook struct {
	url     *url.URL
	secret  Secret
	doer    Doer
	timeout time.Duration
	retry   retry.Policy
	logger  *slog.Logger
	now     func() time.Time
}

var _ Notifier = (*Webhook)(nil)

// Option configures a Webhook.
type Option func(*Webhook)

// WithHTTPClient sends requests with d (default: a plain *http.Client;
// the per-attempt timeout comes from WithTimeout).
func WithHTTPClient(d Doer) Option { return func(w *Webhook) { w.doer = d } }

// WithTimeout bounds each attempt (default 10 s).
func WithTimeout(d time.Duration) Option { return func(w *Webhook) { w.timeout = d } }

// WithRetry sets the number of attempts (at least 1) and the first and
// longest wait between them: the wait doubles from first up to longest
// (default 4 attempts, 1 s doubling up to 30 s). A Retry-After answer is
// waited for instead, up to 5 minutes.
func WithRetry(attempts int, first, longest time.Duration) Option {
	return func(w *Webhook) {
		w.retry.Attempts, w.retry.Initial, w.retry.Max = max(attempts, 1), first, longest
	}
}

// WithLogger logs failed attempts to l. By default the Webhook is quiet.
func WithLogger(l *slog.Logger) Option {
	return func(w *Webhook) {
		if l != nil {
			w.logger = l
		}
	}
}

// WithClock sets the clock used for Payload.SentAt.
func WithClock(now func() time.Time) Option { return func(w *Webhook) { w.now = now } }

// NewWebhook returns a webhook notifier for an http or https URL. The
// secret keys the signature; an empty secret is refused.
func NewWebhook(rawURL string, secret Secret, opts ...Option) (*Webhook, error) {
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
		retry:   retry.Policy{Attempts: 4, Initial: time.Second, Max: 30 * time.Second},
		logger:  slog.New(slog.DiscardHandler),
		now:     time.Now,
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
	p := w.retry
	p.OnRetry = func(attempt int, d time.Duration, err error) {
		w.logger.LogAttrs(ctx, slog.LevelWarn, "notify: webhook attempt failed, retrying",
			slog.String("endpoint", endpoint), slog.Int("attempt", attempt), slog.Duration("wait", d), slog.String("error", err.Error()))
	}
	tried := 0
	err = p.Do(ctx, func(attempt int) error {
		tried = attempt
		return w.post(ctx, body, sig, hex.EncodeToString(id), endpoint)
	})
	if err != nil {
		return fmt.Errorf("notify: webhook: attempt %d of %d: %w", tried, p.Tries(), err)
	}
	return nil
}

// post makes one attempt. A failure worth retrying is marked with
// retry.Again, with how long the server asked to wait.
func (w *Webhook) post(ctx context.Context, body []byte, sig, delivery, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return errors.New("notify: webhook: cannot build request")
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
		err = fmt.Errorf("POST %s: %w", endpoint, err)
		if transportTransient(err) {
			return retry.Again(err, 0)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	herr := &HTTPError{Endpoint: endpoint, Status: resp.StatusCode}
	if retry.Status(resp.StatusCode) {
		return retry.Again(herr, retry.After(resp, w.now()))
	}
	return herr
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
