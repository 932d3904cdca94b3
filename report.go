package abs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
)

// storedPlan is how a cycle's plan is kept in the database. It is its own
// struct, apart from the public Report, so that renaming a Report field
// needs no data migration; its JSON names are those the first release
// stored, so older databases read as before.
type storedPlan struct {
	Synced   []string            `json:"synced,omitempty"`
	Affected map[string][]string `json:"affected,omitempty"`
	Images   []storedImage       `json:"images"`
	Plan     []storedStep        `json:"plan,omitempty"`
	Warnings []storedWarning     `json:"warnings,omitempty"`
}

type storedImage struct {
	Name        string             `json:"name"`
	Reference   string             `json:"reference"`
	Digest      string             `json:"digest,omitempty"`
	Grade       string             `json:"grade,omitempty"`
	NextDrop    *time.Time         `json:"next_drop,omitempty"`
	Findings    []advisory.Finding `json:"findings,omitempty"`
	Unfixed     []advisory.Unfixed `json:"unfixed,omitempty"`
	Explanation string             `json:"explanation,omitempty"`
	Error       string             `json:"error,omitempty"`
	Warnings    []string           `json:"warnings,omitempty"`
	Platforms   []storedPlatform   `json:"platforms,omitempty"`
}

type storedPlatform struct {
	Platform string             `json:"platform"`
	Digest   string             `json:"digest"`
	Grade    string             `json:"grade,omitempty"`
	Findings []advisory.Finding `json:"findings,omitempty"`
}

func storedPlatforms(pgs []PlatformGrade) []storedPlatform {
	var out []storedPlatform
	for _, p := range pgs {
		out = append(out, storedPlatform{Platform: p.Platform, Digest: p.Digest, Grade: letter(p.Grade), Findings: p.Findings})
	}
	return out
}

func platformGrades(sps []storedPlatform) []PlatformGrade {
	var out []PlatformGrade
	for _, p := range sps {
		out = append(out, PlatformGrade{Platform: p.Platform, Digest: p.Digest, Grade: grade(p.Grade), Findings: p.Findings})
	}
	return out
}

type storedStep struct {
	ID          string           `json:"id"`
	Image       string           `json:"image"`
	Reason      string           `json:"reason"`
	Why         string           `json:"why"`
	Advisories  []string         `json:"advisories,omitempty"`
	Method      string           `json:"method"`
	Parent      string           `json:"parent,omitempty"`
	ParentID    string           `json:"parent_id,omitempty"`
	Batch       int              `json:"batch"`
	BeforeGrade string           `json:"before_grade"`
	Key         string           `json:"key"`
	Duplicate   bool             `json:"duplicate,omitempty"`
	Retry       retryRec         `json:"retry"`
	Platforms   []storedPlatform `json:"platforms,omitempty"`
}

type storedWarning struct {
	Image    string    `json:"image"`
	Digest   string    `json:"digest"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	At       time.Time `json:"at"`
	Advisory string    `json:"advisory"`
}

// grade reads a stored grade letter; "" (no grade) gives the zero Grade.
func grade(s string) healthindex.Grade {
	g, _ := healthindex.ParseGrade(s)
	return g
}

// letter is the stored form of a grade ("" for none).
func letter(g healthindex.Grade) string {
	if !g.Valid() {
		return ""
	}
	return g.String()
}

func (r *Report) stored() storedPlan {
	p := storedPlan{Synced: r.Synced, Affected: r.Affected, Images: []storedImage{}}
	for _, i := range r.Images {
		p.Images = append(p.Images, storedImage{Name: i.Name, Reference: i.Reference, Digest: i.Digest, Grade: letter(i.Grade),
			NextDrop: i.NextDrop, Findings: i.Findings, Unfixed: i.Unfixed, Explanation: i.Explanation, Error: i.Error, Warnings: i.Warnings,
			Platforms: storedPlatforms(i.Platforms)})
	}
	for _, s := range r.Plan {
		p.Plan = append(p.Plan, storedStep{ID: s.ID, Image: s.Image, Reason: string(s.Reason), Why: s.Why, Advisories: s.Advisories,
			Method: string(s.Method), Parent: s.Parent, ParentID: s.ParentID, Batch: s.Batch, BeforeGrade: letter(s.BeforeGrade),
			Key: s.Key, Duplicate: s.Duplicate, Retry: retryRecOf(s), Platforms: storedPlatforms(s.Platforms)})
	}
	for _, w := range r.Warnings {
		p.Warnings = append(p.Warnings, storedWarning{Image: w.Image, Digest: w.Digest, From: letter(w.From), To: letter(w.To),
			At: w.At, Advisory: w.Advisory})
	}
	return p
}

func (p storedPlan) fill(r *Report) {
	r.Synced, r.Affected = p.Synced, p.Affected
	r.Images = []ImageReport{}
	for _, i := range p.Images {
		r.Images = append(r.Images, ImageReport{Name: i.Name, Reference: i.Reference, Digest: i.Digest, Grade: grade(i.Grade),
			NextDrop: i.NextDrop, Findings: i.Findings, Unfixed: i.Unfixed, Explanation: i.Explanation, Error: i.Error, Warnings: i.Warnings,
			Platforms: platformGrades(i.Platforms)})
	}
	for _, s := range p.Plan {
		r.Plan = append(r.Plan, PlanStep{ID: s.ID, Image: s.Image, Reason: Reason(s.Reason), Why: s.Why, Advisories: s.Advisories,
			Method: Method(s.Method), Parent: s.Parent, ParentID: s.ParentID, Batch: s.Batch, BeforeGrade: grade(s.BeforeGrade),
			Key: s.Key, Duplicate: s.Duplicate, Platforms: platformGrades(s.Platforms)})
		s.Retry.fill(&r.Plan[len(r.Plan)-1])
	}
	for _, w := range p.Warnings {
		r.Warnings = append(r.Warnings, Warning{Image: w.Image, Digest: w.Digest, From: grade(w.From), To: grade(w.To),
			At: w.At, Advisory: w.Advisory})
	}
}

func encodePlan(r *Report) (string, error) {
	b, err := json.Marshal(r.stored())
	return string(b), err
}

func decodePlan(doc string) (storedPlan, error) {
	var p storedPlan
	if doc == "" {
		return p, nil
	}
	err := json.Unmarshal([]byte(doc), &p)
	return p, err
}

// Report returns what a cycle did so far. A failed cycle's report has
// State CycleFailed and says why in Error; the error is for a cycle that
// cannot be read (unknown id, database failure).
func (o *Orchestrator) Report(ctx context.Context, cycleID string) (*Report, error) {
	rep, _, err := o.report(ctx, cycleID)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// report loads a cycle's report and says whether all its work is done.
func (o *Orchestrator) report(ctx context.Context, id string) (*Report, bool, error) {
	c, err := store.GetCycle(ctx, o.db, id)
	if err != nil {
		return nil, false, fmt.Errorf("abs: cycle %s: %w", id, err)
	}
	rep := &Report{Cycle: c.ID, Cause: c.Cause, Advisory: c.Advisory, DryRun: c.DryRun, Started: c.Started, State: CycleState(c.State)}
	switch rep.State {
	case CycleQueued, CycleRunning:
		return rep, false, nil
	case CycleFailed:
		rep.Error = o.scrubText(c.Plan)
		return rep, true, nil
	}
	p, err := decodePlan(c.Plan)
	if err != nil {
		return nil, false, fmt.Errorf("abs: cycle %s plan: %w", id, err)
	}
	p.fill(rep)
	for i := range rep.Images {
		rep.Images[i].Error = o.scrubText(rep.Images[i].Error)
	}
	if rep.State == CycleDryRun {
		return rep, true, nil
	}
	done := true
	rebuilds, err := store.Rebuilds(ctx, o.db, id)
	if err != nil {
		return nil, false, err
	}
	queued, err := o.queueWaiting(ctx, id) // storm.go: paused, frozen, soaking, waiting for a slot
	if err != nil {
		return nil, false, err
	}
	multi := map[string]bool{}
	for _, im := range rep.Images {
		multi[im.Name] = len(im.Platforms) > 0
	}
	for _, r := range rebuilds {
		rr, err := o.rebuildReport(ctx, r)
		if w := queued[r.ID]; w != "" && !rr.State.Final() {
			rr.Waiting = w
		}
		if err != nil {
			return nil, false, err
		}
		if multi[r.Image] && r.NewDigest != "" {
			if d, err := store.LogDetail(ctx, o.db, r.ID, string(RebuildBuilt)); err == nil {
				rr.Platforms = parseVerified(d)
			}
		}
		if !rr.State.Final() {
			done = false
		}
		rep.Rebuilds = append(rep.Rebuilds, rr)
	}
	runs, err := o.supersededRuns(ctx, id)
	if err != nil {
		return nil, false, err
	}
	rep.Rebuilds = append(rep.Rebuilds, runs...)
	notes, err := store.Notifications(ctx, o.db, id)
	if err != nil {
		return nil, false, err
	}
	retried, err := o.retriedBy(ctx, id)
	if err != nil {
		return nil, false, err
	}
	for _, n := range append(notes, retried...) {
		nr := NotificationReport{Owner: n.Owner, State: NotificationState(n.State)}
		if n.Cycle != id {
			nr.Cycle = n.Cycle
		}
		switch {
		case nr.State == NotificationFailed:
			var u undelivered
			_ = json.Unmarshal([]byte(n.Summary), &u)
			nr.Error = o.scrubText(u.Error)
			if nr.Error == "" {
				nr.Error = "not delivered"
			}
		case nr.State != NotificationSent:
			done = false
		default:
			var evs []json.RawMessage
			_ = json.Unmarshal([]byte(n.Summary), &evs)
			nr.Events = len(evs)
		}
		rep.Notifications = append(rep.Notifications, nr)
	}
	return rep, done, nil
}

// rebuildReport is a stored rebuild as reports show it: secrets
// scrubbed, the build log tail apart, its state history and tags.
func (o *Orchestrator) rebuildReport(ctx context.Context, r store.Rebuild) (RebuildReport, error) {
	detail, tail := splitDetail(o.scrubText(r.Detail))
	rr := RebuildReport{ID: r.ID, Image: r.Image, State: RebuildState(r.State), Reason: Reason(r.Reason), Method: Method(r.Method),
		Detail: detail, Log: tail, Advisories: r.Advisories, OldDigest: r.OldDigest, NewDigest: r.NewDigest,
		BeforeGrade: grade(r.BeforeGrade), AfterGrade: grade(r.AfterGrade), Attempt: r.Attempt}
	rr.Waiting, rr.NextAttempt, rr.AttemptsLeft = o.retryOf(r)
	hist, err := store.RebuildLog(ctx, o.db, r.ID)
	if err != nil {
		return rr, err
	}
	for _, h := range hist {
		rr.History = append(rr.History, RebuildState(h))
	}
	if p, err := store.GetPush(ctx, o.db, r.ID); err == nil {
		rr.Tags = p.Tags
	}
	return rr, nil
}

// failureDetail is the stored detail of a failed step: "stage: " and the
// error's first line and, when a build failed, the tail of its log
// (rebuild.BuildError.Tail) on the lines after, secrets scrubbed. Reports
// and notifications split it again with splitDetail.
func (o *Orchestrator) failureDetail(stage string, err error) string {
	detail := stage + ": " + firstLine(err.Error())
	if be, ok := errors.AsType[*rebuild.BuildError](err); ok {
		tail := be.Tail
		if tail == "" {
			tail = lastLines(string(be.Log), rebuild.TailLines)
		}
		if tail = strings.TrimRight(tail, "\n"); tail != "" {
			detail += "\n" + tail
		}
	}
	return o.scrubText(detail)
}

// splitDetail splits a stored detail into its first line and the build
// log tail after it.
func splitDetail(d string) (detail, tail string) {
	detail, tail, _ = strings.Cut(d, "\n")
	return detail, tail
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
