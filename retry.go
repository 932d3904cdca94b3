package abs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/publish"
)

// Defaults of the retries of failed rebuilds across cycles.
const (
	// DefaultRetryLimit is how many times a rebuild runs, the first run
	// included, before it waits for its inputs to change or a manual
	// retry (Orchestrator.Retry).
	DefaultRetryLimit = 5
	// DefaultRetryBackoff is the wait before the second run; it doubles
	// with each further run, up to DefaultRetryBackoffMax.
	DefaultRetryBackoff    = 10 * time.Minute
	DefaultRetryBackoffMax = 6 * time.Hour
)

// ErrUnknownImage is returned for an image name the orchestrator does not
// manage.
var ErrUnknownImage error = &kindError{msg: "abs: unknown image", kind: ErrNotFound}

// Retry asks for the failed rebuilds of an image (by name or repository)
// to run again, whatever they wait for (backoff, attempts used up, a
// refusal), and starts a cycle that runs them; it returns the cycle's id.
// The cycle plans as any other: when the image's inputs changed since, the
// new rebuild runs instead.
func (o *Orchestrator) Retry(ctx context.Context, image string) (string, error) {
	if err := o.refreshImages(ctx); err != nil {
		return "", err
	}
	img := o.imageByNameOrRepository(image)
	if img == nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownImage, image)
	}
	var id string
	err := o.db.InTx(ctx, func(tx store.Tx) error {
		n, err := store.RequestRetry(ctx, tx, img.Name)
		if err != nil {
			return err
		}
		o.note("", "plan", img.Name, "retry requested", fmt.Sprintf("%s: retry requested (%d failed rebuilds)", img.Name, n),
			"rebuilds", n)
		if id, err = o.startCycle(ctx, tx, CycleOptions{Cause: "retry", audited: true}); err != nil {
			return err
		}
		return o.audit(ctx, tx, "retry", img.Name, fmt.Sprintf("%d failed rebuilds asked to run again; cycle %s", n, id))
	})
	if err != nil {
		return "", fmt.Errorf("abs: retry %s: %w", img.Name, err)
	}
	return id, nil
}

// retryWait returns the wait before run attempt+1 of a rebuild: the
// backoff base doubled attempt-1 times, at most its max.
func (o *Orchestrator) retryWait(attempt int) time.Duration {
	d := o.rbBackoff.base
	for i := 1; i < attempt && d < o.rbBackoff.max; i++ {
		d *= 2
	}
	return min(d, o.rbBackoff.max)
}

// afterFailure says what a rebuild that failed in stage with err waits
// for and from when it may run again. A refusal of a rebase (the rebased
// image does not fix, the base has not moved) and a registry refusing the
// credentials (publish.ErrCredentials) repeat on the same inputs, so they
// wait for them to change (the credentials are among them); anything else
// (a fetch, a build, a push, a refused build from source whose branch may
// move on) runs again after a backoff while attempts last.
func (o *Orchestrator) afterFailure(r store.Rebuild, stage string, err error) (wait string, next time.Time) {
	if stage == "rebase" || (stage == "verify" && Method(r.Method) == MethodRebase) || errors.Is(err, publish.ErrCredentials) {
		return store.WaitInputs, time.Time{}
	}
	return store.WaitBackoff, o.wall().Add(o.retryWait(r.Attempt))
}

// retryState says whether a rebuild planned before runs again in this
// cycle and, when not, why it waits. waiting names the last failure's
// reason (its first line: the build log's tail stays in the rebuild's
// Log) for a plan step, which carries no detail of its own; bare leaves
// the reason out, for a rebuild report whose Detail says it already.
type retryState struct {
	due     bool
	waiting string
	bare    string
	next    *time.Time
	left    int
}

func (o *Orchestrator) retryState(r store.Rebuild, now time.Time) retryState {
	left := max(o.retryLimit-r.Attempt, 0)
	rs := retryState{left: left}
	const change = "waiting for the base, the source commit, the configuration or the credentials to change, or a manual retry"
	reason, _ := splitDetail(r.Detail)
	set := func(what, rest string) {
		rs.bare = what
		if rest != "" {
			rs.bare += "; " + rest
		}
		rs.waiting = what + " (" + reason + ")"
		if rest != "" {
			rs.waiting += "; " + rest
		}
	}
	switch st := RebuildState(r.State); {
	case st == RebuildPublished:
		rs.waiting, rs.bare = "published", "published"
	case st == RebuildSkipped:
		set("skipped", "")
	case !st.Final():
		rs.waiting = fmt.Sprintf("in progress (%s, attempt %d)", st, r.Attempt)
		rs.bare = rs.waiting
	case r.Wait == store.WaitManual:
		rs.due = true
	case r.Wait == store.WaitInputs:
		set("refused", change)
	case left == 0:
		set(fmt.Sprintf("failed %d of %d attempts", r.Attempt, o.retryLimit), change)
	case now.Before(r.NextAttempt):
		t := r.NextAttempt
		rs.next = &t
		set("failed", fmt.Sprintf("next attempt at %s, %d attempts left", t.UTC().Format(time.RFC3339), left))
	default:
		rs.due = true
	}
	return rs
}

// retryOf returns what a stored rebuild waits for, for reports: the
// rebuild's Detail gives the reason, so the text leaves it out.
func (o *Orchestrator) retryOf(r store.Rebuild) (waiting string, next *time.Time, left int) {
	if RebuildState(r.State) != RebuildFailed {
		return "", nil, max(o.retryLimit-r.Attempt, 0)
	}
	rs := o.retryState(r, o.wall())
	if rs.due {
		return "runs again in the next cycle", nil, rs.left
	}
	return rs.bare, rs.next, rs.left
}

// retryRec is the stored form of a plan step's retry fields.
type retryRec struct {
	Attempt      int        `json:"attempt,omitempty"`
	AttemptsLeft int        `json:"left,omitempty"`
	NextAttempt  *time.Time `json:"next,omitempty"`
	Waiting      string     `json:"waiting,omitempty"`
}

func retryRecOf(s PlanStep) retryRec {
	return retryRec{Attempt: s.Attempt, AttemptsLeft: s.AttemptsLeft, NextAttempt: s.NextAttempt, Waiting: s.Waiting}
}

func (f retryRec) fill(s *PlanStep) {
	s.Attempt, s.AttemptsLeft, s.NextAttempt, s.Waiting = f.Attempt, f.AttemptsLeft, f.NextAttempt, f.Waiting
}

// supersededRuns returns, for a cycle's report, the runs of its rebuilds
// that a later cycle ran again: each as it ended in this cycle, with
// RetriedBy naming the cycle that runs it now (whose report lists the
// rebuild as well), so neither report loses it.
func (o *Orchestrator) supersededRuns(ctx context.Context, cycle string) ([]RebuildReport, error) {
	runs, err := store.Runs(ctx, o.db, cycle)
	if err != nil {
		return nil, err
	}
	var out []RebuildReport
	for _, run := range runs {
		r, err := store.GetRebuild(ctx, o.db, run.Rebuild)
		if err != nil {
			return nil, err
		}
		detail, tail := splitDetail(o.scrubText(run.Detail))
		out = append(out, RebuildReport{ID: r.ID, Image: r.Image, State: RebuildState(run.State), Reason: Reason(r.Reason),
			Method: Method(r.Method), Detail: detail, Log: tail, Advisories: r.Advisories, OldDigest: r.OldDigest,
			BeforeGrade: grade(r.BeforeGrade), Attempt: run.Attempt, AttemptsLeft: max(o.retryLimit-run.Attempt, 0),
			Waiting: fmt.Sprintf("run again by cycle %s (attempt %d)", run.RetriedBy, run.Attempt+1), RetriedBy: run.RetriedBy})
	}
	return out, nil
}
