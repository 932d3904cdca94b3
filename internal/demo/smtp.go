package demo

import (
	"bytes"
	"io"
	"log"
	"net"
	"sync"

	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP sink received.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// SMTPSink is an in-process SMTP server on loopback that keeps every
// message (no TLS, no auth: a local relay).
type SMTPSink struct {
	Host string
	Port int
	srv  *smtp.Server
	mu   sync.Mutex
	mail []Mail
	done chan struct{}
}

// StartSMTP starts the sink.
func StartSMTP() (*SMTPSink, error) {
	s := &SMTPSink{done: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.srv = smtp.NewServer(sinkBackend{s})
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = discardLogger()
	s.Host, s.Port = "127.0.0.1", l.Addr().(*net.TCPAddr).Port
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// Messages returns what arrived so far.
func (s *SMTPSink) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

// Close stops the sink.
func (s *SMTPSink) Close() {
	_ = s.srv.Close()
	<-s.done
}

type sinkBackend struct{ s *SMTPSink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: b.s}, nil }

type sinkSession struct {
	s *SMTPSink
	m Mail
}

func (se *sinkSession) Mail(from string, _ *smtp.MailOptions) error { se.m.From = from; return nil }
func (se *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.m.To = append(se.m.To, to)
	return nil
}
func (se *sinkSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	se.m.Data = buf.Bytes()
	se.s.mu.Lock()
	se.s.mail = append(se.s.mail, se.m)
	se.s.mu.Unlock()
	se.m = Mail{}
	return nil
}
func (se *sinkSession) Reset()        { se.m = Mail{} }
func (se *sinkSession) Logout() error { return nil }

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
