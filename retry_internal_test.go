package abs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/internal/store"
)

// TestRetryState: what a rebuild planned before waits for, and when it
// runs again.
func TestRetryState(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o := &Orchestrator{retryLimit: 3, rbBackoff: backoff{base: 10 * time.Minute, max: time.Hour}, wall: func() time.Time { return now }}
	failed := func(attempt int, next time.Time, wait string) store.Rebuild {
		return store.Rebuild{State: store.StateFailed, Detail: "build: boom", Attempt: attempt, NextAttempt: next, Wait: wait}
	}
	for _, tc := range []struct {
		name    string
		r       store.Rebuild
		due     bool
		waiting string
		left    int
	}{
		{"backoff not over", failed(1, now.Add(time.Minute), store.WaitBackoff), false, "next attempt at 2026-12-01T12:01:00Z, 2 attempts left", 2},
		{"backoff over", failed(1, now.Add(-time.Minute), store.WaitBackoff), true, "", 2},
		{"attempts used up", failed(3, time.Time{}, store.WaitBackoff), false, "failed 3 of 3 attempts", 0},
		{"refused", failed(1, time.Time{}, store.WaitInputs), false, "waiting for the base, the source commit", 2},
		{"manual retry beats everything", failed(3, now.Add(time.Hour), store.WaitManual), true, "", 0},
		{"in progress", store.Rebuild{State: store.StateBuilding, Attempt: 2}, false, "in progress (building, attempt 2)", 1},
		{"published", store.Rebuild{State: store.StatePublished, Attempt: 1}, false, "published", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := o.retryState(tc.r, now)
			assert.Equal(t, tc.due, rs.due)
			assert.Equal(t, tc.left, rs.left)
			if tc.waiting == "" {
				assert.Empty(t, rs.waiting)
			} else {
				assert.Contains(t, rs.waiting, tc.waiting)
			}
		})
	}
	assert.Equal(t, 10*time.Minute, o.retryWait(1))
	assert.Equal(t, 20*time.Minute, o.retryWait(2))
	assert.Equal(t, time.Hour, o.retryWait(5), "capped")
	wait, next := o.afterFailure(store.Rebuild{Method: string(MethodRebase), Attempt: 1}, "verify")
	assert.Equal(t, store.WaitInputs, wait, "a refused rebase waits for its inputs")
	assert.True(t, next.IsZero())
	wait, next = o.afterFailure(store.Rebuild{Method: string(MethodBuild), Attempt: 2}, "build")
	assert.Equal(t, store.WaitBackoff, wait)
	assert.Equal(t, now.Add(20*time.Minute), next)
}
