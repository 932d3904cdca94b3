package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Checker is a notifier that can check its settings before anything is
// sent, so that a wrong host, port, TLS mode or password is told at start
// instead of when the first message is lost.
type Checker interface {
	Check(ctx context.Context) error
}

var (
	_ Checker = (*Email)(nil)
	_ Checker = (*Webhook)(nil)
	_ Checker = Fanout(nil)
)

// CheckTimeout bounds each Check when the context has no earlier
// deadline.
const CheckTimeout = 10 * time.Second

// ErrCheck is wrapped by every Check error.
var ErrCheck = errors.New("notify: check failed")

// Check connects to the SMTP server the way Notify does (greeting, EHLO,
// the STARTTLS upgrade or implicit TLS the TLS mode asks for, and the
// AUTH login) and disconnects without sending. It returns an error
// wrapping ErrCheck that names the server and says which step failed, for
// example a relay that does not offer STARTTLS. It waits at most
// CheckTimeout (or the email Timeout, if shorter).
func (n *Email) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(CheckTimeout, n.cfg.Timeout))
	defer cancel()
	c, err := n.client()
	if err != nil {
		return fmt.Errorf("%w: email: %w", ErrCheck, err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("%w: email via %s:%d (tls %s): %w", ErrCheck, n.cfg.Host, n.cfg.Port, n.cfg.TLS, err)
	}
	_ = c.Close()
	return nil
}

// String names the TLS mode as the configuration file does: "starttls",
// "tls" or "none".
func (m TLSMode) String() string {
	switch m {
	case StartTLS:
		return "starttls"
	case ImplicitTLS:
		return "tls"
	case NoTLS:
		return "none"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// Check connects to the webhook's host without sending a request, and
// for an https URL completes the TLS handshake with the system roots
// unless WithHTTPClient set a client of its own (whose TLS settings Check
// cannot see). Errors wrap ErrCheck and name the URL's scheme and host
// only.
func (w *Webhook) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(CheckTimeout, w.timeout))
	defer cancel()
	host, port := w.url.Hostname(), w.url.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[w.url.Scheme]
	}
	endpoint := w.url.Scheme + "://" + w.url.Host
	addr := net.JoinHostPort(host, port)
	var conn net.Conn
	var err error
	hc, ok := w.doer.(*http.Client)
	defaultClient := ok && hc.Transport == nil
	if w.url.Scheme == "https" && defaultClient {
		d := &tls.Dialer{Config: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}}
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("%w: webhook %s: %w", ErrCheck, endpoint, err)
	}
	return conn.Close()
}

// Check checks every notifier of f that is a Checker and returns the
// failures joined.
func (f Fanout) Check(ctx context.Context) error {
	var errs []error
	for _, n := range f {
		if c, ok := n.(Checker); ok {
			errs = append(errs, c.Check(ctx))
		}
	}
	return errors.Join(errs...)
}
