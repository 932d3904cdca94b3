package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openabs/abs/api"
)

// cookieName is the session cookie's name.
const cookieName = "abs_console"

// csrfField is the name of the hidden form field carrying the session's
// CSRF token.
const csrfField = "csrf"

// session is one signed-in browser. The store keys it by the SHA-256 of
// the cookie value, so the map never holds a usable cookie.
type session struct {
	principal api.Principal
	csrf      string
	expires   time.Time
	flash     []flash
}

// flash is a one-shot message shown on the next page.
type flash struct {
	Kind string // "ok" or "error"
	Text string
}

// sessions is the server-side session store: bounded, expiring.
type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*session
	ttl time.Duration
	max int
	now func() time.Time
}

func newSessions(ttl time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{m: map[[sha256.Size]byte]*session{}, ttl: ttl, max: max, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for p and returns the cookie value.
func (s *sessions) create(p api.Principal) string {
	id := randomToken()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if len(s.m) >= s.max { // full of live sessions: drop the one expiring first
		var oldest [sha256.Size]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = &session{principal: p, csrf: randomToken(), expires: now.Add(s.ttl)}
	return id
}

// sweep drops expired sessions; s.mu is held.
func (s *sessions) sweep(now time.Time) {
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
}

// get returns a copy of the live session of cookie value id, and takes its
// flash messages.
func (s *sessions) get(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	if !s.now().Before(v.expires) {
		delete(s.m, k)
		return session{}, false
	}
	out := *v
	v.flash = nil
	return out, true
}

// addFlash queues a message for the session's next page.
func (s *sessions) addFlash(id string, f flash) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[k]; ok && len(v.flash) < 8 {
		v.flash = append(v.flash, f)
	}
}

// delete ends a session.
func (s *sessions) delete(id string) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(sess session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(got)) == 1
}

// loopback reports whether the request was addressed to a loopback host
// (localhost, 127.0.0.0/8, ::1), where a cookie may go without TLS.
func loopback(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cookie returns the session cookie for value (an empty value with a
// negative MaxAge removes it).
func (c *Console) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	secure := !loopback(r)
	if c.secure != nil {
		secure = *c.secure
	}
	return &http.Cookie{Name: cookieName, Value: value, Path: c.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
}
