package console

import (
	"context"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/secret"
)

// service is what the console calls on the orchestrator.
type service interface {
	Images() []abs.Image
	GetImage(ctx context.Context, name string) (abs.Image, error)
	UpdateImage(ctx context.Context, name string, u abs.ImageUpdate) (abs.Image, abs.Change, error)
	SetSSHKey(ctx context.Context, image string, key, passphrase secret.Value) (abs.Credential, error)
	SetToken(ctx context.Context, image string, token secret.Value) (abs.Credential, error)
	TestAccess(ctx context.Context, image string) error
	Plan(ctx context.Context, opts abs.CycleOptions) (*abs.Report, error)
	Report(ctx context.Context, cycleID string) (*abs.Report, error)
	Retry(ctx context.Context, image string) (string, error)
	RebuildNow(ctx context.Context, image string) (string, error)
	RebuildHistory(ctx context.Context, image string, page, pageSize int) ([]abs.RebuildReport, int, error)
	Cycles(ctx context.Context, page, pageSize int) ([]abs.CycleInfo, int, error)
	// Status is one image's grade, findings, timeline and last rebuild.
	Status(ctx context.Context, name string) (status, error)
	// Statuses is every image's, for the fleet page.
	Statuses(ctx context.Context) ([]status, error)
}

// status is an image as the console shows it.
type status struct {
	Image     abs.Image
	Digest    string
	Platforms []platform
	Grade     string
	NextDrop  *time.Time
	NextGrade string
	Timeline  []step
	Findings  []advisory.Finding
	Unfixed   []string
	// LastRebuild is the image's newest rebuild, nil when it never had one.
	LastRebuild *abs.RebuildReport
}

type platform struct{ Platform, Digest, Grade string }

// step is one freshness grade of the timeline, over [From, Until).
type step struct {
	Grade      string
	From       time.Time
	Until      *time.Time
	Advisories []string
}

// orchestrator is the service of a real *abs.Orchestrator.
type orchestrator struct{ *abs.Orchestrator }

var _ service = orchestrator{}

func (o orchestrator) Status(ctx context.Context, name string) (status, error) {
	st, err := o.ImageStatus(ctx, name)
	if err != nil {
		return status{}, err
	}
	s := statusOf(st)
	past, err := o.past(ctx, name)
	if err != nil {
		return status{}, err
	}
	s.Timeline = withPast(past, s.Timeline)
	return s, nil
}

// pastCycles bounds how many of the newest cycles the image page reads
// for the grades an image had before its current digest.
const pastCycles = 20

// past returns the grades the image had in the newest cycles, oldest
// first, one step per change, each with the Critical and Important
// advisories unapplied then.
func (o orchestrator) past(ctx context.Context, name string) ([]step, error) {
	cycles, _, err := o.Cycles(ctx, 0, pastCycles)
	if err != nil {
		return nil, err
	}
	var out []step
	for i := len(cycles) - 1; i >= 0; i-- {
		c := cycles[i]
		if c.DryRun || c.State == abs.CycleFailed || c.State == abs.CycleQueued || c.State == abs.CycleRunning {
			continue
		}
		rep, err := o.Report(ctx, c.ID)
		if err != nil {
			continue // a cycle that cannot be read adds nothing
		}
		for _, ir := range rep.Images {
			if ir.Name != name || !ir.Grade.Valid() {
				continue
			}
			g := ir.Grade.String()
			if n := len(out); n > 0 && out[n-1].Grade == g {
				break
			}
			out = append(out, step{Grade: g, From: c.Started, Advisories: urgent(ir.Findings)})
			break
		}
	}
	return out, nil
}

// withPast puts the past steps that started before the timeline in front
// of it, each ending where the next starts.
func withPast(past, timeline []step) []step {
	if len(timeline) == 0 {
		return timeline
	}
	start := timeline[0].From
	var out []step
	for _, p := range past {
		if !p.From.Before(start) {
			break
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return timeline
	}
	if last := out[len(out)-1]; last.Grade == timeline[0].Grade {
		out = out[:len(out)-1]
		timeline = append([]step(nil), timeline...)
		timeline[0].From = last.From
		start = last.From
	}
	for i := range out {
		until := start
		if i+1 < len(out) {
			until = out[i+1].From
		}
		out[i].Until = &until
	}
	return append(out, timeline...)
}

func (o orchestrator) Statuses(ctx context.Context) ([]status, error) {
	var out []status
	for _, img := range o.Images() {
		st, err := o.ImageStatus(ctx, img.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, statusOf(st))
	}
	return out, nil
}

func statusOf(st abs.ImageStatus) status {
	s := status{Image: st.Image, Digest: st.Digest, Grade: st.Grade, NextDrop: st.NextDrop, NextGrade: st.NextGrade,
		Findings: st.Findings, Unfixed: st.Unfixed, LastRebuild: st.LastRebuild}
	for _, p := range st.Platforms {
		s.Platforms = append(s.Platforms, platform{Platform: p.Platform, Digest: p.Digest, Grade: p.Grade})
	}
	for _, g := range st.Timeline {
		s.Timeline = append(s.Timeline, step{Grade: g.Grade, From: g.From, Until: g.Until, Advisories: g.Advisories})
	}
	return s
}
