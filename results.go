package abs

import (
	"errors"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

// CycleState is where a cycle stands.
type CycleState string

// Cycle states.
const (
	CycleQueued  CycleState = "queued"
	CycleRunning CycleState = "running"
	// CyclePlanned: the plan is recorded and its jobs are enqueued.
	CyclePlanned CycleState = "planned"
	// CycleDryRun: a dry run's plan is recorded; nothing else runs.
	CycleDryRun CycleState = "dry-run"
	CycleFailed CycleState = "failed"
)

// RebuildState is where one planned rebuild stands.
type RebuildState string

// Rebuild states. Published, failed and skipped are final.
const (
	RebuildPlanned   RebuildState = "planned"
	RebuildBuilding  RebuildState = "building"
	RebuildBuilt     RebuildState = "built" // verified and staged by digest
	RebuildPublished RebuildState = "published"
	RebuildFailed    RebuildState = "failed"
	RebuildSkipped   RebuildState = "skipped"
)

// Final reports whether the rebuild is done (published, failed or
// skipped).
func (s RebuildState) Final() bool {
	return s == RebuildPublished || s == RebuildFailed || s == RebuildSkipped
}

// NotificationState is where one owner's message stands.
type NotificationState string

// Notification states.
const (
	NotificationPending NotificationState = "pending"
	NotificationSending NotificationState = "sending"
	NotificationSent    NotificationState = "sent"
	NotificationFailed  NotificationState = "failed"
)

// Method is how an image is rebuilt.
type Method string

// Build methods.
const (
	// MethodRebase swaps the base layers for the new base's.
	MethodRebase Method = "rebase"
	// MethodBuild builds from the image's git source.
	MethodBuild Method = "build"
)

// Reason is why an image is rebuilt.
type Reason string

// Rebuild reasons.
const (
	ReasonAffected   Reason = "directly affected"
	ReasonBaseMoved  Reason = "base image moved"
	ReasonDependency Reason = "dependency"
	// ReasonManual: a rebuild asked for by hand (Orchestrator.RebuildNow).
	ReasonManual Reason = "manual"
)

// Report is what a cycle found, planned and did.
type Report struct {
	Cycle    string     `json:"cycle"`
	Cause    string     `json:"cause"`
	Advisory string     `json:"advisory,omitempty"`
	DryRun   bool       `json:"dry_run,omitempty"`
	Started  time.Time  `json:"started"`
	State    CycleState `json:"state"`
	// Error says why a failed cycle failed.
	Error string `json:"error,omitempty"`
	// Synced are the advisories new or changed in this cycle's sync.
	Synced []string `json:"synced,omitempty"`
	// Affected maps each new advisory (and the triggering one) to the
	// managed images it affects.
	Affected map[string][]string `json:"affected,omitempty"`
	// Images are every managed image's state at planning time.
	Images []ImageReport `json:"images"`
	// Plan is the rebuilds, parents before children.
	Plan []PlanStep `json:"plan,omitempty"`
	// Warnings are grade drops announced by this cycle.
	Warnings []Warning `json:"warnings,omitempty"`
	// Rebuilds are the outcomes of the plan.
	Rebuilds []RebuildReport `json:"rebuilds,omitempty"`
	// Notifications are the messages of this cycle, one per owner.
	Notifications []NotificationReport `json:"notifications,omitempty"`
}

// ImageReport is one managed image as a cycle saw it.
type ImageReport struct {
	Name      string             `json:"name"`
	Reference string             `json:"reference"`
	Digest    string             `json:"digest,omitempty"`
	Grade     healthindex.Grade  `json:"grade,omitempty"`
	NextDrop  *time.Time         `json:"next_drop,omitempty"`
	Findings  []advisory.Finding `json:"findings,omitempty"`
	// Unfixed are CVEs that affect the image's packages and have no fix
	// yet (VEX known_affected or under_investigation). They are listed
	// for information: they never change the grade or cause a rebuild.
	Unfixed     []advisory.Unfixed `json:"unfixed,omitempty"`
	Explanation string             `json:"explanation,omitempty"`
	Error       string             `json:"error,omitempty"`
	// Warnings are what the cycle could not learn about the image without
	// failing it, such as a source branch it could not resolve (the image
	// was planned on the commit seen last).
	Warnings []string `json:"warnings,omitempty"`
	// Platforms are, for a multi-platform image (Digest is then the
	// index digest), each platform's image, grade and findings in index
	// order. Grade is the worst platform's; Findings and Unfixed are
	// those of every platform together. Nil for a single image.
	Platforms []PlatformGrade `json:"platforms,omitempty"`
}

// PlanStep is one image the cycle rebuilds.
type PlanStep struct {
	ID          string            `json:"id"`
	Image       string            `json:"image"`
	Reason      Reason            `json:"reason"`
	Why         string            `json:"why"`
	Advisories  []string          `json:"advisories,omitempty"`
	Method      Method            `json:"method"`
	Parent      string            `json:"parent,omitempty"`
	ParentID    string            `json:"parent_id,omitempty"`
	Batch       int               `json:"batch"`
	BeforeGrade healthindex.Grade `json:"before_grade,omitempty"`
	// Key is what makes the rebuild unique for the image digest: the
	// advisories, the new base digest, or the parent's rebuild.
	Key string `json:"key"`
	// Duplicate is set when this exact rebuild (same image digest, cause
	// and inputs) was planned before and does not run in this cycle;
	// Waiting says why.
	Duplicate bool `json:"duplicate,omitempty"`
	// Attempt is the run of the rebuild this cycle plans (1 for the
	// first), or of its last run when it does not run; AttemptsLeft is how
	// many runs remain after it (WithRetryLimit).
	Attempt      int `json:"attempt,omitempty"`
	AttemptsLeft int `json:"attempts_left"`
	// NextAttempt is when a failed rebuild may run again.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// Waiting says why a rebuild planned before does not run in this
	// cycle: in progress, the next attempt's time and the attempts left,
	// or that it waits for its base, source, configuration or
	// credentials to change (or a manual retry, Orchestrator.Retry).
	Waiting string `json:"waiting,omitempty"`
	// Platforms are, for a multi-platform image, each platform's digest
	// and grade before the rebuild (BeforeGrade is the worst); every
	// platform is rebuilt or carried over, and published together.
	Platforms []PlatformGrade `json:"platforms,omitempty"`

	// holdBase marks an image whose base-image advisories wait for a
	// fixed base: nothing is recorded or run for it.
	holdBase bool
}

// Warning says an image's grade will drop soon.
type Warning struct {
	Image    string            `json:"image"`
	Digest   string            `json:"digest"`
	From     healthindex.Grade `json:"from"`
	To       healthindex.Grade `json:"to"`
	At       time.Time         `json:"at"`
	Advisory string            `json:"advisory"`
}

// RebuildReport is the outcome of one planned rebuild.
type RebuildReport struct {
	ID          string            `json:"id"`
	Image       string            `json:"image"`
	State       RebuildState      `json:"state"`
	Reason      Reason            `json:"reason"`
	Method      Method            `json:"method"`
	Detail      string            `json:"detail,omitempty"`
	Advisories  []string          `json:"advisories,omitempty"`
	OldDigest   string            `json:"old_digest"`
	NewDigest   string            `json:"new_digest,omitempty"`
	BeforeGrade healthindex.Grade `json:"before_grade,omitempty"`
	AfterGrade  healthindex.Grade `json:"after_grade,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	// History is the states the rebuild went through.
	History []RebuildState `json:"history,omitempty"`
	// Log is the tail of a failed build's log (rebuild.BuildError.Tail,
	// secrets scrubbed).
	Log string `json:"log,omitempty"`
	// Attempt is the rebuild's run (1 for the first, more for the
	// retries of later cycles); AttemptsLeft the runs that remain.
	Attempt      int `json:"attempt,omitempty"`
	AttemptsLeft int `json:"attempts_left"`
	// NextAttempt and Waiting say, for a failed rebuild, when it runs
	// again or what it waits for.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	Waiting     string     `json:"waiting,omitempty"`
	// RetriedBy is set on a run of the rebuild that a later cycle ran
	// again: this report keeps the run as it ended here, and the named
	// cycle's report lists the rebuild as it stands now.
	RetriedBy string `json:"retried_by,omitempty"`
	// Platforms are, for a verified multi-platform rebuild, each
	// platform's new image and grade (AfterGrade is the worst). A
	// rebuild that failed on one platform names it in Detail.
	Platforms []PlatformGrade `json:"platforms,omitempty"`
}

// NotificationReport is one owner's message.
type NotificationReport struct {
	Owner  string            `json:"owner"`
	State  NotificationState `json:"state"`
	Events int               `json:"events"`
	// Error is why the message could not be delivered yet; an
	// undelivered message is tried again in later cycles.
	Error string `json:"error,omitempty"`
	// Cycle is set on the message of an earlier cycle that this cycle
	// tried again (its Error, if any, is from that try).
	Cycle string `json:"cycle,omitempty"`
}

// ImageGrade is one image's grade as of a regrade (Orchestrator.Regrade).
type ImageGrade struct {
	Image       string                  `json:"image"`
	Digest      string                  `json:"digest"`
	Grade       healthindex.Grade       `json:"grade"`
	NextDrop    *time.Time              `json:"next_drop,omitempty"`
	Findings    []advisory.Finding      `json:"findings,omitempty"`
	Unfixed     []advisory.Unfixed      `json:"unfixed,omitempty"`
	Explanation healthindex.Explanation `json:"-"`
	// Platforms are, for a multi-platform image, each platform's grade in
	// platform order; Grade is the worst of them, Findings and Unfixed
	// those of every platform together. Nil for a single image.
	Platforms []PlatformGrade `json:"platforms,omitempty"`
}

// ErrCycleFailed is returned by Wait and Report when a cycle gave up; the
// error says why.
var ErrCycleFailed = errors.New("abs: cycle failed")

// Summary is the short form of a report that examples print as JSON.
type Summary struct {
	Images []ImageSummary `json:"images"`
	// Notifications counts the messages delivered (sent with at least one
	// event); NotificationsFailed those that could not be delivered yet
	// (a later cycle tries again) and NotificationsPending those still
	// waiting or being sent.
	Notifications        int `json:"notifications"`
	NotificationsFailed  int `json:"notifications_failed"`
	NotificationsPending int `json:"notifications_pending"`
}

// ImageSummary is one image in a Summary.
type ImageSummary struct {
	Name        string            `json:"name"`
	BeforeGrade healthindex.Grade `json:"before_grade,omitempty"`
	AfterGrade  healthindex.Grade `json:"after_grade,omitempty"`
	OldDigest   string            `json:"old_digest"`
	NewDigest   string            `json:"new_digest"`
	Published   bool              `json:"published"`
	Advisories  []string          `json:"advisories"`
	State       RebuildState      `json:"state,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	// Error says why the image or its rebuild failed: the image could not
	// be read or scanned (a wrong registry password), or the rebuild
	// failed. Empty when nothing failed.
	Error string `json:"error,omitempty"`
	// Log is the tail of a failed build's log.
	Log string `json:"log,omitempty"`
	// Waiting says why the image's rebuild does not run now (see
	// PlanStep.Waiting and RebuildReport.Waiting).
	Waiting string `json:"waiting,omitempty"`
	// Warnings are the image's warnings (ImageReport.Warnings).
	Warnings []string `json:"warnings,omitempty"`
	// Platforms are, for a multi-platform image, each platform's digests
	// and grades before and after (as the image's, they stay the same
	// unless the new index was published).
	Platforms []PlatformSummary `json:"platforms,omitempty"`
}

// PlatformSummary is one platform of a multi-platform image in a
// Summary.
type PlatformSummary struct {
	Platform    string            `json:"platform"`
	BeforeGrade healthindex.Grade `json:"before_grade,omitempty"`
	AfterGrade  healthindex.Grade `json:"after_grade,omitempty"`
	OldDigest   string            `json:"old_digest"`
	NewDigest   string            `json:"new_digest"`
}

// Summary returns every image of the report with its grade before and
// after, its digests and the advisories it was rebuilt for; an image not
// rebuilt keeps its grade and digest.
func (r *Report) Summary() Summary {
	s := Summary{Images: []ImageSummary{}}
	byImage := map[string]RebuildReport{}
	for _, rb := range r.Rebuilds {
		if _, ok := byImage[rb.Image]; ok && rb.RetriedBy != "" {
			continue // the rebuild of this cycle says more than an earlier run
		}
		byImage[rb.Image] = rb
	}
	waiting := map[string]string{}
	for _, st := range r.Plan {
		if st.Duplicate && st.Waiting != "" {
			waiting[st.Image] = st.Waiting
		}
	}
	for _, img := range r.Images {
		is := ImageSummary{Waiting: waiting[img.Name], Name: img.Name, BeforeGrade: img.Grade, AfterGrade: img.Grade, OldDigest: img.Digest,
			NewDigest: img.Digest, Advisories: []string{}}
		is.Error, is.Warnings = img.Error, img.Warnings
		if rb, ok := byImage[img.Name]; ok {
			is.State, is.Detail, is.Log = rb.State, rb.Detail, rb.Log
			if rb.Waiting != "" {
				is.Waiting = rb.Waiting
			}
			if rb.State == RebuildFailed {
				is.Error = rb.Detail
			}
			is.Advisories = append(is.Advisories, rb.Advisories...)
			if rb.State == RebuildPublished {
				is.Published, is.NewDigest, is.AfterGrade = true, rb.NewDigest, rb.AfterGrade
			}
		}
		is.Platforms = platformSummaries(img.Platforms, byImage[img.Name])
		s.Images = append(s.Images, is)
	}
	for _, n := range r.Notifications {
		switch n.State {
		case NotificationSent:
			if n.Events > 0 {
				s.Notifications++
			}
		case NotificationFailed:
			s.NotificationsFailed++
		default:
			s.NotificationsPending++
		}
	}
	return s
}

// Failed reports whether a step of the cycle failed: the cycle itself, an
// image that could not be read or scanned, a rebuild, or a notification
// that could not be delivered.
func (r *Report) Failed() bool {
	if r.State == CycleFailed {
		return true
	}
	for _, i := range r.Images {
		if i.Error != "" {
			return true
		}
	}
	for _, rb := range r.Rebuilds {
		if rb.State == RebuildFailed {
			return true
		}
	}
	for _, n := range r.Notifications {
		if n.State == NotificationFailed || n.Error != "" {
			return true
		}
	}
	return false
}

// platformSummaries pairs an image's platforms before a rebuild with
// those of its published rebuild (when rb is one).
func platformSummaries(before []PlatformGrade, rb RebuildReport) []PlatformSummary {
	if len(before) == 0 {
		return nil
	}
	out := make([]PlatformSummary, 0, len(before))
	for _, b := range before {
		ps := PlatformSummary{Platform: b.Platform, BeforeGrade: b.Grade, AfterGrade: b.Grade, OldDigest: b.Digest, NewDigest: b.Digest}
		if rb.State == RebuildPublished {
			for _, a := range rb.Platforms {
				if a.Platform == b.Platform {
					ps.AfterGrade, ps.NewDigest = a.Grade, a.Digest
				}
			}
		}
		out = append(out, ps)
	}
	return out
}
