package demo

import (
	"bytes"
	"encoding/base64"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
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

// Text returns the message's subject and its text/plain part (the whole
// body when it is not multipart).
func (m Mail) Text() (subject, text string, err error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return "", "", err
	}
	dec := new(mime.WordDecoder)
	subject, err = dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	body, err := textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return subject, body, err
}

func textPart(ctype, cte string, r io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return "", nil
			}
			if err != nil {
				return "", err
			}
			s, err := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err != nil || s != "" {
				return s, err
			}
		}
	}
	if mt != "text/plain" {
		return "", nil
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
