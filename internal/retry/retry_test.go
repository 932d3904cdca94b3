package retry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false}, // overflows int64: malformed
		{"86400", MaxRetryAfter, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"Tue, 01 Dec 2026 10:00:10 GMT", 10 * time.Second, true},
		{"Tuesday, 01-Dec-26 10:00:10 GMT", 10 * time.Second, true}, // RFC 850
	}
	for _, tc := range tests {
		got, ok := ParseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
	assert.Zero(t, After(nil, now))
	assert.Equal(t, 3*time.Second, After(&http.Response{Header: http.Header{"Retry-After": {"3"}}}, now))
}

func TestBackoff(t *testing.T) {
	p := Policy{Attempts: 6, Initial: 100 * time.Millisecond, Max: time.Second}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, p.Backoff(n))
	}
	assert.Equal(t, []time.Duration{100e6, 200e6, 400e6, 800e6, 1e9, 1e9}, got)
	assert.Equal(t, 100*time.Millisecond, Policy{Initial: 100 * time.Millisecond}.Backoff(5), "Max below Initial keeps Initial")
	assert.Zero(t, Policy{}.Backoff(3))
	assert.Equal(t, 1, Policy{}.Tries())
	assert.Equal(t, 7*time.Second, p.Wait(1, 7*time.Second), "Retry-After beats Max")
	assert.Equal(t, MaxRetryAfter, p.Wait(1, time.Hour))
	j := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: true}
	for range 100 {
		d := j.Backoff(2)
		require.True(t, d >= 100*time.Millisecond && d <= 200*time.Millisecond, d)
	}
}

func TestDo(t *testing.T) {
	errTransient, errFatal := errors.New("transient"), errors.New("fatal")
	tests := []struct {
		name      string
		attempts  int
		results   []error // what each call returns
		wantCalls int
		wantErr   error
		waits     []time.Duration
	}{
		{"first try", 3, []error{nil}, 1, nil, nil},
		{"transient then ok", 3, []error{Again(errTransient, 0), nil}, 2, nil, []time.Duration{time.Millisecond}},
		{"retry after honoured", 3, []error{Again(errTransient, 2*time.Second), nil}, 2, nil, []time.Duration{2 * time.Second}},
		{"fatal stops", 3, []error{errFatal}, 1, errFatal, nil},
		{"used up", 3, []error{Again(errTransient, 0), Again(errTransient, 0), Again(errTransient, 0)}, 3, errTransient, []time.Duration{time.Millisecond, 2 * time.Millisecond}},
		{"one attempt", 0, []error{Again(errTransient, 0)}, 1, errTransient, nil},
		{"wrapped mark still retried", 2, []error{errors.Join(Again(errTransient, 0)), nil}, 2, nil, []time.Duration{time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waits []time.Duration
			var retried []int
			p := Policy{Attempts: tc.attempts, Initial: time.Millisecond, Max: time.Second,
				Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
				OnRetry: func(a int, _ time.Duration, err error) {
					retried = append(retried, a)
					assert.NotErrorIs(t, err, errFatal)
				},
			}
			calls := 0
			err := p.Do(t.Context(), func(attempt int) error {
				calls++
				assert.Equal(t, calls, attempt)
				return tc.results[attempt-1]
			})
			assert.Equal(t, tc.wantCalls, calls)
			if tc.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.wantErr)
				_, marked := err.(*again)
				assert.False(t, marked, "the mark does not leak")
			}
			assert.Equal(t, tc.waits, waits)
			assert.Len(t, retried, len(tc.waits))
		})
	}
	assert.NoError(t, Again(nil, time.Second))
}

func TestDoStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	errTransient := io.ErrUnexpectedEOF
	calls := 0
	start := time.Now()
	p := Policy{Attempts: 10, Initial: time.Hour, OnRetry: func(int, time.Duration, error) { cancel() }}
	err := p.Do(ctx, func(int) error { calls++; return Again(errTransient, 0) })
	assert.Less(t, time.Since(start), time.Minute, "the hour-long wait is cut short")
	assert.Equal(t, 1, calls)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, errTransient, "the last failure stays in the chain")

	// Cancelled before the first wait: no second try.
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	calls = 0
	err = Policy{Attempts: 3}.Do(ctx, func(int) error { calls++; return Again(errTransient, 0) })
	assert.Equal(t, 1, calls)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, errTransient)
}

func TestSleep(t *testing.T) {
	require.NoError(t, Sleep(t.Context(), time.Millisecond))
	require.NoError(t, Sleep(t.Context(), 0))
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("shutting down")
	cancel(cause)
	require.ErrorIs(t, Sleep(ctx, time.Hour), cause)
}

func TestStatus(t *testing.T) {
	for code, want := range map[int]bool{200: false, 404: false, 408: true, 425: true, 429: true, 500: true, 501: false, 502: true, 503: true, 505: false, 599: true} {
		assert.Equal(t, want, Status(code), "%d", code)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-1", "Tue, 01 Dec 2026 10:00:10 GMT", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := ParseRetryAfter(h, now)
		if d < 0 || d > MaxRetryAfter || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", h, d, ok)
		}
	})
}
