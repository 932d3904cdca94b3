package abs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/publish"
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
	wait, next := o.afterFailure(store.Rebuild{Method: string(MethodRebase), Attempt: 1}, "verify", nil)
	assert.Equal(t, store.WaitInputs, wait, "a refused rebase waits for its inputs")
	assert.True(t, next.IsZero())
	wait, next = o.afterFailure(store.Rebuild{Method: string(MethodBuild), Attempt: 2}, "build", nil)
	assert.Equal(t, store.WaitBackoff, wait)
	assert.Equal(t, now.Add(20*time.Minute), next)
	refused := fmt.Errorf("push: %w", &publish.CredentialError{Host: "registry.example", Status: 401})
	wait, next = o.afterFailure(store.Rebuild{Method: string(MethodBuild), Attempt: 1}, "publish", refused)
	assert.Equal(t, store.WaitInputs, wait, "refused credentials wait for new ones")
	assert.True(t, next.IsZero())
}

// TestWaitingTextNoTail: a failed build's stored detail carries the log
// tail after its first line; what the rebuild waits for names the reason
// once (a plan step) or not at all (a rebuild report, whose Detail says
// it), and never the tail, which the report's Log holds.
func TestWaitingTextNoTail(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o := &Orchestrator{retryLimit: 3, rbBackoff: backoff{base: 10 * time.Minute, max: time.Hour}, wall: func() time.Time { return now }}
	r := store.Rebuild{State: store.StateFailed, Detail: "build: buildah failed (exit 1)\nSTEP 3/3: COPY missing.txt /app/\nError: no such file",
		Attempt: 1, NextAttempt: now.Add(time.Hour), Wait: store.WaitBackoff}
	rs := o.retryState(r, now)
	assert.Equal(t, 1, strings.Count(rs.waiting, "buildah failed (exit 1)"), rs.waiting)
	assert.NotContains(t, rs.waiting, "missing.txt")
	assert.NotContains(t, rs.waiting, "\n")
	waiting, _, _ := o.retryOf(r)
	assert.NotContains(t, waiting, "buildah failed", "the report's Detail gives the reason")
	assert.NotContains(t, waiting, "missing.txt")
	assert.Contains(t, waiting, "next attempt at")
}
