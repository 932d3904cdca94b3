package abs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
)

// Report is what a cycle found, planned and did.
type Report struct {
	Cycle    string    `json:"cycle"`
	Cause    string    `json:"cause"`
	Advisory string    `json:"advisory,omitempty"`
	DryRun   bool      `json:"dry_run,omitempty"`
	Started  time.Time `json:"started"`
	// State is queued, running, planned, dry-run or failed.
	State string `json:"state"`
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
	Name        string             `json:"name"`
	Reference   string             `json:"reference"`
	Digest      string             `json:"digest,omitempty"`
	Grade       string             `json:"grade,omitempty"`
	NextDrop    *time.Time         `json:"next_drop,omitempty"`
	Findings    []advisory.Finding `json:"findings,omitempty"`
	Explanation string             `json:"explanation,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// RebuildReport is the outcome of one planned rebuild.
type RebuildReport struct {
	ID          string   `json:"id"`
	Image       string   `json:"image"`
	State       string   `json:"state"`
	Reason      string   `json:"reason"`
	Method      string   `json:"method"`
	Detail      string   `json:"detail,omitempty"`
	Advisories  []string `json:"advisories,omitempty"`
	OldDigest   string   `json:"old_digest"`
	NewDigest   string   `json:"new_digest,omitempty"`
	BeforeGrade string   `json:"before_grade,omitempty"`
	AfterGrade  string   `json:"after_grade,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// History is the states the rebuild went through.
	History []string `json:"history,omitempty"`
}

// NotificationReport is one owner's message.
type NotificationReport struct {
	Owner  string `json:"owner"`
	State  string `json:"state"`
	Events int    `json:"events"`
}

// ErrCycleFailed is returned by Wait when a cycle gave up.
var ErrCycleFailed = errors.New("abs: cycle failed")

const cycleFailed = "failed"

// report loads a cycle's report and says whether all its work is done.
func (o *Orchestrator) report(ctx context.Context, id string) (*Report, bool, error) {
	c, err := store.GetCycle(ctx, o.db, id)
	if err != nil {
		return nil, false, fmt.Errorf("abs: cycle %s: %w", id, err)
	}
	rep := &Report{Cycle: c.ID, Cause: c.Cause, Advisory: c.Advisory, DryRun: c.DryRun, Started: c.Started}
	switch c.State {
	case cycleQueued, cycleRunning:
		rep.State = c.State
		return rep, false, nil
	case cycleFailed:
		rep.State, rep.Error = c.State, c.Plan
		return rep, true, fmt.Errorf("%w: %s", ErrCycleFailed, c.Plan)
	}
	if err := json.Unmarshal([]byte(c.Plan), rep); err != nil {
		return nil, false, fmt.Errorf("abs: cycle %s plan: %w", id, err)
	}
	rep.State = c.State
	if c.State == cycleDryRun {
		return rep, true, nil
	}
	done := true
	rebuilds, err := store.Rebuilds(ctx, o.db, id)
	if err != nil {
		return nil, false, err
	}
	rep.Rebuilds = nil
	for _, r := range rebuilds {
		rr := RebuildReport{ID: r.ID, Image: r.Image, State: r.State, Reason: r.Reason, Method: r.Method, Detail: r.Detail,
			Advisories: r.Advisories, OldDigest: r.OldDigest, NewDigest: r.NewDigest, BeforeGrade: r.BeforeGrade, AfterGrade: r.AfterGrade}
		if rr.History, err = store.RebuildLog(ctx, o.db, r.ID); err != nil {
			return nil, false, err
		}
		if p, err := store.GetPush(ctx, o.db, r.ID); err == nil {
			rr.Tags = p.Tags
		}
		if !store.Terminal(r.State) {
			done = false
		}
		rep.Rebuilds = append(rep.Rebuilds, rr)
	}
	notes, err := store.Notifications(ctx, o.db, id)
	if err != nil {
		return nil, false, err
	}
	rep.Notifications = nil
	for _, n := range notes {
		nr := NotificationReport{Owner: n.Owner, State: n.State}
		if n.State != store.NoteSent && n.State != store.NoteFailed {
			done = false
		} else {
			var evs []json.RawMessage
			_ = json.Unmarshal([]byte(n.Summary), &evs)
			nr.Events = len(evs)
		}
		rep.Notifications = append(rep.Notifications, nr)
	}
	return rep, done, nil
}

// Summary is the short form of a report that examples print as JSON.
type Summary struct {
	Images        []ImageSummary `json:"images"`
	Notifications int            `json:"notifications"`
}

// ImageSummary is one image in a Summary.
type ImageSummary struct {
	Name        string   `json:"name"`
	BeforeGrade string   `json:"before_grade"`
	AfterGrade  string   `json:"after_grade"`
	OldDigest   string   `json:"old_digest"`
	NewDigest   string   `json:"new_digest"`
	Published   bool     `json:"published"`
	Advisories  []string `json:"advisories"`
	State       string   `json:"state,omitempty"`
	Detail      string   `json:"detail,omitempty"`
}

// Summary returns every image of the report with its grade before and
// after, its digests and the advisories it was rebuilt for; an image not
// rebuilt keeps its grade and digest.
func (r *Report) Summary() Summary {
	s := Summary{Images: []ImageSummary{}}
	byImage := map[string]RebuildReport{}
	for _, rb := range r.Rebuilds {
		byImage[rb.Image] = rb
	}
	for _, img := range r.Images {
		is := ImageSummary{Name: img.Name, BeforeGrade: img.Grade, AfterGrade: img.Grade, OldDigest: img.Digest,
			NewDigest: img.Digest, Advisories: []string{}}
		if rb, ok := byImage[img.Name]; ok {
			is.State, is.Detail = rb.State, rb.Detail
			is.Advisories = append(is.Advisories, rb.Advisories...)
			if rb.State == "published" {
				is.Published, is.NewDigest, is.AfterGrade = true, rb.NewDigest, rb.AfterGrade
			}
		}
		s.Images = append(s.Images, is)
	}
	for _, n := range r.Notifications {
		if n.State == "sent" && n.Events > 0 {
			s.Notifications++
		}
	}
	return s
}
