package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how the email notifier secures its SMTP connection.
type TLSMode int

// TLS modes.
const (
	// StartTLS connects in plain text and requires the STARTTLS upgrade
	// before anything else (port 587 by default). The default.
	StartTLS TLSMode = iota
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465 by
	// default).
	ImplicitTLS
	// NoTLS sends in plain text (port 25 by default). The mail library
	// refuses to send credentials this way unless the server is on
	// localhost, so use it only for a local relay.
	NoTLS
)

// AuthMechanism is the SMTP AUTH mechanism.
type AuthMechanism string

// Authentication mechanisms.
const (
	// AuthNone sends no credentials; the default when Username is empty.
	AuthNone AuthMechanism = "NONE"
	// AuthPlain is SASL PLAIN (RFC 4616); the default with a Username.
	AuthPlain AuthMechanism = "PLAIN"
	// AuthLogin is the LOGIN mechanism many providers still use.
	AuthLogin AuthMechanism = "LOGIN"
)

// EmailConfig configures an Email notifier. Only Host and From are
// required.
type EmailConfig struct {
	// Host is the SMTP server's name; the TLS certificate must be valid
	// for it unless TLSConfig says otherwise.
	Host string
	// Port defaults to 587 (StartTLS), 465 (ImplicitTLS) or 25 (NoTLS).
	Port int
	TLS  TLSMode
	// TLSConfig customizes TLS (e.g. RootCAs); ServerName defaults to
	// Host.
	TLSConfig *tls.Config

	// Auth defaults to AuthPlain when Username is set, else AuthNone.
	Auth     AuthMechanism
	Username string
	Password Secret

	// From is the sender, e.g. "openabs <abs@example.com>".
	From string
	// Recipients maps an event's Owner to addresses. By default Owner is
	// parsed as an address list ("a@example.com, Team <b@example.com>").
	Recipients func(owner string) ([]string, error)

	// Templates replaces the default subject, text and HTML templates.
	Templates Templates
	// Timeout bounds connecting and each SMTP command (default 30 s).
	Timeout time.Duration
	// Logger receives one record per message sent (default: quiet).
	Logger *slog.Logger
	// Now is the clock used for the Date header and templates.
	Now func() time.Time
}

// Email sends one message per owner per batch over SMTP, with a text and
// an HTML part rendered from templates. Image names and advisory text only
// ever reach the body and the single-line subject, so they cannot add
// headers or recipients.
type Email struct {
	cfg       EmailConfig
	from      *mail.Address
	templates Templates
	logger    *slog.Logger
}

var _ Notifier = (*Email)(nil)

// ErrNoRecipient: an event has no owner, or its owner maps to no valid
// address.
var ErrNoRecipient = errors.New("notify: no recipient")

// NewEmail checks cfg and returns an Email notifier. It does not connect.
func NewEmail(cfg EmailConfig) (*Email, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: email: Host is required")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: email: From %q: %w", cfg.From, err)
	}
	if cfg.Port == 0 {
		cfg.Port = map[TLSMode]int{StartTLS: 587, ImplicitTLS: 465, NoTLS: 25}[cfg.TLS]
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthNone
		if cfg.Username != "" {
			cfg.Auth = AuthPlain
		}
	}
	switch cfg.Auth {
	case AuthNone, AuthPlain, AuthLogin:
	default:
		return nil, fmt.Errorf("notify: email: unsupported auth mechanism %q", cfg.Auth)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Recipients == nil {
		cfg.Recipients = parseOwner
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Email{cfg: cfg, from: from, templates: cfg.Templates.withDefaults(), logger: logger}, nil
}

func parseOwner(owner string) ([]string, error) {
	list, err := mail.ParseAddressList(owner)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.String()
	}
	return out, nil
}

// Notify groups events by owner and sends one message per owner over one
// SMTP connection. Owners are the same when their recipients are (so
// "a@example.com" and "Team A <A@example.com>" get one message). Owners
// that cannot be mailed are reported (joined) and do not stop the others.
func (n *Email) Notify(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	type group struct {
		owner  string
		rcpts  []string
		events []Event
	}
	var (
		errs   []error
		groups []*group
		byKey  = map[string]*group{}
		keyOf  = map[string]string{} // owner -> recipients key
		failed = map[string]bool{}   // owners already reported
	)
	for _, e := range events {
		key, ok := keyOf[e.Owner]
		if !ok && !failed[e.Owner] {
			rcpts, err := n.recipients(e.Owner)
			if err != nil {
				failed[e.Owner] = true
				errs = append(errs, err)
				continue
			}
			key = recipientsKey(rcpts)
			keyOf[e.Owner] = key
			if byKey[key] == nil {
				g := &group{owner: e.Owner, rcpts: rcpts}
				byKey[key] = g
				groups = append(groups, g)
			}
		}
		if failed[e.Owner] {
			continue
		}
		byKey[key].events = append(byKey[key].events, e)
	}
	var msgs []*gomail.Msg
	var sent []*group
	now := n.cfg.Now()
	for _, g := range groups {
		m, err := n.message(g.owner, g.rcpts, g.events, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		msgs = append(msgs, m)
		sent = append(sent, g)
	}
	if len(msgs) == 0 {
		return errors.Join(errs...)
	}
	client, err := n.client()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := client.DialAndSendWithContext(ctx, msgs...); err != nil {
		errs = append(errs, fmt.Errorf("notify: email via %s:%d: %w", n.cfg.Host, n.cfg.Port, err))
	}
	for i, m := range msgs {
		if m.IsDelivered() {
			n.logger.LogAttrs(ctx, slog.LevelInfo, "notify: email sent",
				slog.String("owner", sent[i].owner), slog.Int("events", len(sent[i].events)))
		}
	}
	return errors.Join(errs...)
}

// recipients maps owner to its addresses.
func (n *Email) recipients(owner string) ([]string, error) {
	if strings.TrimSpace(owner) == "" {
		return nil, fmt.Errorf("%w: events without an owner", ErrNoRecipient)
	}
	rcpts, err := n.cfg.Recipients(owner)
	if err != nil || len(rcpts) == 0 {
		return nil, fmt.Errorf("%w: owner %q: %v", ErrNoRecipient, oneLine(owner), err)
	}
	return rcpts, nil
}

// recipientsKey identifies a set of recipients: their addresses, lower
// case, sorted, without display names.
func recipientsKey(rcpts []string) string {
	keys := make([]string, 0, len(rcpts))
	for _, r := range rcpts {
		if a, err := mail.ParseAddress(r); err == nil {
			r = a.Address
		}
		keys = append(keys, strings.ToLower(strings.TrimSpace(r)))
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), ",")
}

func (n *Email) client() (*gomail.Client, error) {
	cfg := n.cfg
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithHELO("localhost")}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = cfg.Host
	}
	opts = append(opts, gomail.WithTLSConfig(tlsCfg))
	switch cfg.TLS {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("notify: email: unknown TLS mode %d", cfg.TLS)
	}
	switch cfg.Auth {
	case AuthPlain:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain))
	case AuthLogin:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthLogin))
	default:
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	}
	if cfg.Auth != AuthNone {
		opts = append(opts, gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password.Reveal()))
	}
	c, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: email client: %w", err)
	}
	return c, nil
}

// message renders the message for one owner.
func (n *Email) message(owner string, rcpts []string, events []Event, now time.Time) (*gomail.Msg, error) {
	data := summarize(owner, events, now)
	var subject, text, html bytes.Buffer
	if err := n.templates.Subject.Execute(&subject, data); err != nil {
		return nil, fmt.Errorf("notify: email subject template: %w", err)
	}
	if err := n.templates.Text.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("notify: email text template: %w", err)
	}
	if err := n.templates.HTML.Execute(&html, data); err != nil {
		return nil, fmt.Errorf("notify: email HTML template: %w", err)
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(n.from)
	if err := m.To(rcpts...); err != nil {
		return nil, fmt.Errorf("%w: owner %q: %v", ErrNoRecipient, oneLine(owner), err)
	}
	m.Subject(oneLine(subject.String()))
	m.SetDateWithValue(now)
	m.SetMessageID()
	m.SetUserAgent("openabs")
	m.SetBodyString(gomail.TypeTextPlain, text.String())
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	return m, nil
}

// oneLine replaces control characters (CR and LF among them) with spaces
// and trims the result, so that text from image names or advisories
// cannot start a new header line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
