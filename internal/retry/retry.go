package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps how long a server's Retry-After can make a client
// wait before its next attempt.
const MaxRetryAfter = 5 * time.Minute

// Policy says how often and how patiently an operation is retried.
type Policy struct {
	// Attempts is the total number of tries; less than 1 means 1.
	Attempts int
	// Initial is the wait before the second try. It doubles after each
	// further failure, up to Max (a Max below Initial keeps every wait at
	// Initial).
	Initial time.Duration
	Max     time.Duration
	// Jitter removes up to half of each backoff wait at random, so that
	// clients that failed together do not retry together. A Retry-After
	// wait is never shortened.
	Jitter bool
	// OnRetry, when set, is called before each wait with the attempt that
	// failed (1 for the first), the wait and the error.
	OnRetry func(attempt int, wait time.Duration, err error)
	// Sleep waits for d or until ctx ends (default [Sleep]); tests replace
	// it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Tries returns the number of tries p makes, at least 1.
func (p Policy) Tries() int { return max(p.Attempts, 1) }

// Backoff returns the wait after the n-th failure (n ≥ 1) when the server
// named none: Initial·2^(n-1), at most max(Max, Initial), less jitter.
func (p Policy) Backoff(n int) time.Duration {
	limit := max(p.Max, p.Initial)
	d := max(p.Initial, 0)
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if p.Jitter && d > 0 {
		d -= time.Duration(rand.Int64N(int64(d)/2 + 1))
	}
	return d
}

// Wait returns the wait after the n-th failure: the server's after
// (capped at MaxRetryAfter) when it is positive, otherwise Backoff(n).
func (p Policy) Wait(n int, after time.Duration) time.Duration {
	if after > 0 {
		return min(after, MaxRetryAfter)
	}
	return p.Backoff(n)
}

// again marks an error as worth another try.
type again struct {
	err   error
	after time.Duration
}

func (e *again) Error() string { return e.err.Error() }
func (e *again) Unwrap() error { return e.err }

// Again marks err as transient: Policy.Do tries again, after at least
// after when it is positive (a server's Retry-After), otherwise after the
// policy's backoff. Again(nil, …) is nil.
func Again(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &again{err: err, after: after}
}

// Do calls f (with the attempt number, 1 for the first) until it returns
// nil, an error not marked with Again, or the tries are used up, and
// returns f's last error without the Again mark. When ctx ends during a
// wait, Do returns that last error joined with the context's cause, so
// that both match errors.Is.
func (p Policy) Do(ctx context.Context, f func(attempt int) error) error {
	sleep := p.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for attempt := 1; ; attempt++ {
		err := f(attempt)
		var a *again
		if err == nil || !errors.As(err, &a) {
			return err
		}
		last := unmark(err)
		if attempt >= p.Tries() || ctx.Err() != nil {
			if ctx.Err() != nil && !errors.Is(last, ctx.Err()) {
				return errors.Join(last, context.Cause(ctx))
			}
			return last
		}
		wait := p.Wait(attempt, a.after)
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, last)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return errors.Join(last, serr)
		}
	}
}

// unmark removes the Again mark from the top of err (where Again put it).
func unmark(err error) error {
	if a, ok := err.(*again); ok {
		return a.err
	}
	return err
}

// Sleep waits for d, or until ctx ends, then returning its cause.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// ParseRetryAfter reads a Retry-After header value, delay-seconds ("120")
// or an HTTP date, relative to now. It reports false for an empty or
// malformed value; a date in the past is a zero wait. The result is capped
// at MaxRetryAfter.
func ParseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// After returns the wait resp's Retry-After header asks for, or 0.
func After(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	d, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	return d
}

// Status reports whether an HTTP status is worth retrying: 408, 425, 429
// and 5xx except 501 and 505 (which will not change).
func Status(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}
