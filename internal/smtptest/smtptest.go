// Package smtptest runs an in-process SMTP server on loopback for tests
// (github.com/emersion/go-smtp) and records every message it accepts.
//
//	srv := smtptest.Start(t, smtptest.WithAuth("user", "pass"), smtptest.WithTLS(smtptest.StartTLS))
//	// ... send mail to srv.Host:srv.Port, trusting srv.RootCAs() ...
//	msgs := srv.Messages()
//
// With WithAuth the server offers PLAIN and LOGIN, rejects wrong
// credentials and refuses MAIL FROM before a successful AUTH. With TLS
// (STARTTLS or implicit) it presents a fresh self-signed certificate for
// 127.0.0.1 and localhost, and offers AUTH only over TLS. Messages are
// recorded before the server answers the DATA command, so they are visible
// as soon as the client's send returns. The server stops in t.Cleanup.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode is how the server offers TLS.
type TLSMode int

// TLS modes.
const (
	// NoTLS speaks plain SMTP (AUTH is then allowed without TLS).
	NoTLS TLSMode = iota
	// StartTLS offers the STARTTLS extension.
	StartTLS
	// ImplicitTLS speaks TLS from the first byte (SMTPS).
	ImplicitTLS
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	// Data is the raw message as received, headers and body.
	Data []byte
	// Username is the authenticated user ("" without auth), Mechanism
	// the SASL mechanism used.
	Username, Mechanism string
	// TLS reports whether the message came over TLS.
	TLS bool
}

// Server is a running SMTP server.
type Server struct {
	// Host is "127.0.0.1", Port the listening port, Addr "host:port".
	Host string
	Port int
	Addr string

	user, pass string
	mode       TLSMode
	pool       *x509.CertPool

	tlsCfg *tls.Config
	srvMu  sync.Mutex
	srv    *smtp.Server
	done   chan struct{}

	mu       sync.Mutex
	msgs     []Message
	authFail int
	failData int
}

// Option configures a Server.
type Option func(*Server)

// WithAuth requires authentication with these credentials.
func WithAuth(username, password string) Option {
	return func(s *Server) { s.user, s.pass = username, password }
}

// WithTLS selects the TLS mode (default NoTLS).
func WithTLS(mode TLSMode) Option { return func(s *Server) { s.mode = mode } }

// WithFailures makes the first n DATA commands fail with a temporary
// error (451), to test retries.
func WithFailures(n int) Option { return func(s *Server) { s.failData = n } }

// Start starts a server on 127.0.0.1 and a free port.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{Host: "127.0.0.1"}
	for _, o := range opts {
		o(s)
	}
	if s.mode != NoTLS {
		cfg, pool, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: %v", err)
		}
		s.pool, s.tlsCfg = pool, cfg
	}
	if err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) listen(addr string) error {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.AllowInsecureAuth = s.mode == NoTLS
	srv.TLSConfig = s.tlsCfg
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if s.mode == ImplicitTLS {
		l = tls.NewListener(l, s.tlsCfg)
	}
	s.Addr = l.Addr().String()
	s.Port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	s.srvMu.Lock()
	s.srv, s.done = srv, done
	s.srvMu.Unlock()
	return nil
}

// Stop stops the server: nothing listens on its port until Restart.
// Messages accepted so far stay readable.
func (s *Server) Stop() {
	s.srvMu.Lock()
	srv, done := s.srv, s.done
	s.srv, s.done = nil, nil
	s.srvMu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// Restart starts a stopped server again on the same port.
func (s *Server) Restart() error {
	s.Stop()
	return s.listen(s.Addr)
}

// PortString returns the port as a string.
func (s *Server) PortString() string { return strconv.Itoa(s.Port) }

// RootCAs returns a pool holding the server's self-signed certificate, nil
// without TLS.
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// AuthFailures returns the number of rejected authentication attempts.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, tls: isTLS, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	tls  bool
	user string
	mech string
	from string
	to   []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.user == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (se *session) check(mech, user, pass string) error {
	if user != se.s.user || pass != se.s.pass {
		se.s.mu.Lock()
		se.s.authFail++
		se.s.mu.Unlock()
		return errors.New("smtptest: invalid credentials")
	}
	se.user, se.mech = user, mech
	return nil
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return se.check(sasl.Plain, user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: func(user, pass string) error { return se.check(sasl.Login, user, pass) }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.user != "" && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if se.s.user != "" && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := se.conn.TLSConnectionState()
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if se.s.failData > 0 {
		se.s.failData--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "smtptest: try again later"}
	}
	se.s.msgs = append(se.s.msgs, Message{
		From: se.from, To: append([]string(nil), se.to...), Data: data,
		Username: se.user, Mechanism: se.mech, TLS: isTLS || se.tls,
	})
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// loginServer implements the LOGIN SASL mechanism (username, then
// password, each after a challenge).
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // initial response carries the username
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pool, nil
}
