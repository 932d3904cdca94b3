package secret

import (
	"cmp"
	"context"
	"encoding/base64"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Scrubber replaces configured secret values in text with [Placeholder],
// so that a credential a server echoes back in an error message never
// reaches a log line, a database row or a mail. It knows each value in
// the forms it travels in: as is, URL-escaped, and base64-encoded (padded
// and unpadded, standard and URL alphabets); [Scrubber.AddBasic] also
// knows a login as HTTP Basic ("user:pass") and SASL PLAIN
// ("\x00user\x00pass") base64.
//
// Values shorter than [MinScrubLength] bytes are not scrubbed: they
// would turn every message into placeholders and are too short to be a
// credential worth the name.
//
// A Scrubber is safe for concurrent use; the zero Scrubber and a nil
// *Scrubber scrub nothing.
type Scrubber struct {
	mu  sync.RWMutex
	set map[string]bool
	r   *strings.Replacer
}

// MinScrubLength is the length of the shortest value a Scrubber scrubs.
const MinScrubLength = 4

// NewScrubber returns a Scrubber that knows values; values shorter than
// MinScrubLength are ignored.
func NewScrubber(values ...string) *Scrubber {
	s := &Scrubber{}
	s.Add(values...)
	return s
}

// Add adds secret values (and their encoded forms).
func (s *Scrubber) Add(values ...string) {
	var forms []string
	for _, v := range values {
		if len(v) < MinScrubLength {
			continue
		}
		forms = append(forms, v, url.QueryEscape(v), url.PathEscape(v))
		forms = append(forms, encodings(v)...)
		// A multi-line secret (a PEM key) is also caught line by line,
		// for a message that quotes a fragment of it.
		if strings.Contains(v, "\n") {
			for line := range strings.Lines(v) {
				if line = strings.TrimSpace(line); len(line) > 8 {
					forms = append(forms, line)
				}
			}
		}
	}
	s.addForms(forms)
}

// AddValue adds a Value's secret, as Add does.
func (s *Scrubber) AddValue(v Value) { s.Add(v.Reveal()) }

// AddBasic adds a login: the password as Add does, and the base64 forms
// in which user and password travel together, HTTP Basic
// ("user:password") and SASL PLAIN ("\x00user\x00password", also with the
// user as authorization identity).
func (s *Scrubber) AddBasic(user, password string) {
	if len(password) < MinScrubLength {
		return
	}
	s.Add(password)
	var forms []string
	for _, joined := range []string{user + ":" + password, "\x00" + user + "\x00" + password, user + "\x00" + user + "\x00" + password} {
		forms = append(forms, encodings(joined)...)
	}
	s.addForms(forms)
}

func encodings(v string) []string {
	b := []byte(v)
	return []string{
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
	}
}

func (s *Scrubber) addForms(forms []string) {
	if len(forms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[string]bool{}
	}
	added := false
	for _, f := range forms {
		if f != "" && !s.set[f] {
			s.set[f] = true
			added = true
		}
	}
	if !added {
		return // known already: keep the replacer
	}
	all := make([]string, 0, len(s.set))
	for f := range s.set {
		all = append(all, f)
	}
	// Longest first: where two forms start at the same place the longer
	// one (the whole base64 of "user:pass", not its prefix) is replaced.
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(all))
	for _, f := range all {
		pairs = append(pairs, f, Placeholder)
	}
	s.r = strings.NewReplacer(pairs...)
}

// Scrub returns text with every known secret form replaced by
// [Placeholder].
func (s *Scrubber) Scrub(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	r := s.r
	s.mu.RUnlock()
	if r == nil {
		return text
	}
	return r.Replace(text)
}

// ScrubError returns err when its message holds no secret, and otherwise
// an error whose message is the scrubbed one. The returned error still
// unwraps to err, so errors.Is and errors.As see the original chain; only
// its message is clean, so print the returned error, never what it
// unwraps to.
func (s *Scrubber) ScrubError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := s.Scrub(msg)
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// Handler returns a slog.Handler that scrubs the message and every
// attribute value (strings, errors, anything printed with fmt) with s
// before passing the record to h.
func (s *Scrubber) Handler(h slog.Handler) slog.Handler { return &scrubHandler{s: s, h: h} }

type scrubHandler struct {
	s *Scrubber
	h slog.Handler
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.s.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *scrubHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &scrubHandler{s: h.s, h: h.h.WithAttrs(clean)}
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	return &scrubHandler{s: h.s, h: h.h.WithGroup(name)}
}

func (h *scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.s.Scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case Value:
			return slog.String(a.Key, Placeholder)
		case error:
			return slog.String(a.Key, h.s.Scrub(x.Error()))
		default:
			// Anything else is printed the way a text handler would,
			// then scrubbed.
			return slog.String(a.Key, h.s.Scrub(v.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
