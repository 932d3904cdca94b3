package abs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/store"
)

func imageGrade(n, digest string, findings []advisory.Finding, unfixed []advisory.Unfixed, expl healthindex.Explanation) ImageGrade {
	gd := ImageGrade{Image: n, Digest: digest, Grade: expl.Grade, Findings: findings, Unfixed: unfixed, Explanation: expl}
	if !expl.NextDrop.IsZero() {
		t := expl.NextDrop
		gd.NextDrop = &t
	}
	return gd
}

// appendFindings appends to dst the findings of add it does not hold
// yet (platforms often share findings, with the same package build).
func appendFindings(dst, add []advisory.Finding) []advisory.Finding {
	type key struct{ adv, pkg, installed, fixed, match string }
	seen := make(map[key]bool, len(dst))
	for _, f := range dst {
		seen[key{f.Advisory, f.Package, f.Installed, f.Fixed, string(f.Match)}] = true
	}
	for _, f := range add {
		if k := (key{f.Advisory, f.Package, f.Installed, f.Fixed, string(f.Match)}); !seen[k] {
			seen[k] = true
			dst = append(dst, f)
		}
	}
	return dst
}

// appendUnfixed appends to dst the unfixed CVEs of add it does not hold
// yet.
func appendUnfixed(dst, add []advisory.Unfixed) []advisory.Unfixed {
	seen := make(map[advisory.Unfixed]bool, len(dst))
	for _, u := range dst {
		seen[u] = true
	}
	for _, u := range add {
		if !seen[u] {
			seen[u] = true
			dst = append(dst, u)
		}
	}
	return dst
}

// grade regrades the cycle's images and records the grade history.
func (o *Orchestrator) grade(ctx context.Context, cycle string, states []*imageState, now time.Time) error {
	grades, err := o.Regrade(ctx)
	if err != nil {
		return err
	}
	byName := map[string]ImageGrade{}
	for _, g := range grades {
		byName[g.Image] = g
	}
	for _, s := range states {
		if s.err != nil {
			continue
		}
		g, ok := byName[s.img.Name]
		if !ok {
			s.err = errors.New("no stored inventory")
			continue
		}
		s.findings, s.unfixed, s.expl = g.Findings, g.Unfixed, g.Explanation
		if err := s.setPlatformGrades(g.Platforms); err != nil {
			s.err = err
			continue
		}
		if overlayOf(ctx) == nil { // a dry run records no grade history
			if _, err := store.RecordGrade(ctx, o.db, store.GradeRecord{Image: s.img.Name, Digest: s.digest,
				Grade: letter(g.Grade), At: now, NextDrop: s.expl.NextDrop}); err != nil {
				return err
			}
		}
		n := len(idsOf(s.findings, nil))
		text := fmt.Sprintf("%s: grade %s, %d unapplied advisories", s.img.Name, g.Grade, n)
		if len(g.Platforms) > 0 {
			text += " (" + platformText(g.Platforms) + ")"
		}
		kv := []any{"grade", g.Grade, "unapplied", n, "unfixed", len(s.unfixed)}
		if len(g.Platforms) > 0 {
			kv = append(kv, "platforms", platformText(g.Platforms))
		}
		o.note(cycle, "grade", s.img.Name, "graded", text, kv...)
	}
	return nil
}

// warnings finds the grade drops due within the warning window that were
// not announced before, and records them.
func (o *Orchestrator) warnings(ctx context.Context, c store.Cycle, states []*imageState, now time.Time) ([]Warning, error) {
	var out []Warning
	for _, s := range states {
		if s.err != nil || s.expl.NextDrop.IsZero() || s.expl.NextDrop.Sub(now) > o.warn {
			continue
		}
		w := Warning{Image: s.img.Name, Digest: s.digest, From: s.expl.Grade, To: s.expl.NextGrade, At: s.expl.NextDrop}
		if len(s.expl.NextCauses) > 0 {
			w.Advisory = s.expl.NextCauses[0].Finding.Advisory
		}
		if !c.DryRun {
			ok, err := store.RecordWarning(ctx, o.db, s.img.Name, s.digest, s.expl.NextDrop, letter(w.To), now)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		o.note(c.ID, "warn", s.img.Name, "grade drop due",
			fmt.Sprintf("%s: grade drops %s -> %s on %s (%s)", s.img.Name, w.From, w.To, w.At.Format(time.DateOnly), w.Advisory),
			"from", w.From, "to", w.To, "at", w.At, "advisory", w.Advisory)
		out = append(out, w)
	}
	return out, nil
}

func idsOf(findings []advisory.Finding, keep func(advisory.Finding) bool) []string {
	var ids []string
	for _, f := range findings {
		if keep == nil || keep(f) {
			ids = append(ids, f.Advisory)
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}
