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
	TestAccess(ctx context.Context, image string) error
	Plan(ctx context.Context, opts abs.CycleOptions) (*abs.Report, error)
	Report(ctx context.Context, cycleID string) (*abs.Report, error)
	Retry(ctx context.Context, image string) (string, error)
	RebuildNow(ctx context.Context, image string) (string, error)
	RebuildHistory(ctx context.Context, image string, page, pageSize int) ([]abs.RebuildReport, int, error)
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
	return statusOf(st), nil
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
