package notify

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what happened to an image.
type Kind string

// Event kinds.
const (
	// KindRebuilt: the image was rebuilt and republished.
	KindRebuilt Kind = "rebuilt"
	// KindRebuildFailed: a rebuild was attempted and failed.
	KindRebuildFailed Kind = "rebuild_failed"
	// KindPublishSkipped: a rebuild succeeded but was not published.
	KindPublishSkipped Kind = "publish_skipped"
	// KindGradeDropping: the image's health grade will fall soon unless
	// it is rebuilt; sent before the grade falls.
	KindGradeDropping Kind = "grade_dropping"
	// KindImageFailed: the image could not be read or scanned (for
	// example a registry refused the configured credentials), so it could
	// be neither graded nor rebuilt. Failure says why.
	KindImageFailed Kind = "image_failed"
)

// Event is one thing an image owner should learn. Kind selects which of
// the detail fields is set.
type Event struct {
	Kind Kind      `json:"kind"`
	Time time.Time `json:"time"`
	// Image is the image's repository or reference, e.g.
	// "registry.example.com/team/app:1.2".
	Image string `json:"image"`
	// Owner says whom to tell. The email notifier reads it as an address
	// list unless configured with EmailConfig.Recipients.
	Owner string `json:"owner,omitempty"`

	Rebuilt   *Rebuilt   `json:"rebuilt,omitempty"`
	Failure   *Failure   `json:"failure,omitempty"`
	Skip      *Skip      `json:"skip,omitempty"`
	GradeDrop *GradeDrop `json:"grade_drop,omitempty"`
}

// Rebuilt details a KindRebuilt event.
type Rebuilt struct {
	OldDigest string   `json:"old_digest,omitempty"`
	NewDigest string   `json:"new_digest"`
	Tags      []string `json:"tags,omitempty"`
	// Advisories are the advisories the rebuild fixed, e.g.
	// "RHSA-2024:0010".
	Advisories  []string `json:"advisories,omitempty"`
	GradeBefore string   `json:"grade_before,omitempty"`
	GradeAfter  string   `json:"grade_after,omitempty"`
}

// Failure details a KindRebuildFailed or KindImageFailed event.
type Failure struct {
	// Stage is the pipeline step that failed, e.g. "build" or "publish".
	Stage string `json:"stage"`
	Cause string `json:"cause"`
	// Log is the tail of the failed build's log (the last lines, secrets
	// scrubbed), when a build failed.
	Log string `json:"log,omitempty"`
}

// Skip details a KindPublishSkipped event.
type Skip struct {
	Reason string `json:"reason"`
}

// GradeDrop details a KindGradeDropping event.
type GradeDrop struct {
	// At is when the grade falls.
	At time.Time `json:"at"`
	// Advisory is the advisory whose age makes the grade fall.
	Advisory string `json:"advisory"`
	// From and To are the grade now and after At.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// ErrInvalidEvent is wrapped by Validate's errors.
var ErrInvalidEvent = errors.New("notify: invalid event")

// Validate reports whether the event names an image and carries the
// details its Kind needs.
func (e Event) Validate() error {
	if e.Image == "" {
		return fmt.Errorf("%w: no image", ErrInvalidEvent)
	}
	var ok bool
	switch e.Kind {
	case KindRebuilt:
		ok = e.Rebuilt != nil
	case KindRebuildFailed, KindImageFailed:
		ok = e.Failure != nil
	case KindPublishSkipped:
		ok = e.Skip != nil
	case KindGradeDropping:
		ok = e.GradeDrop != nil
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, e.Kind)
	}
	if !ok {
		return fmt.Errorf("%w: %s event for %s without details", ErrInvalidEvent, e.Kind, e.Image)
	}
	return nil
}
