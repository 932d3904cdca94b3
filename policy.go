package abs

import (
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/rpmscan"
)

// Matcher finds the unapplied advisories of one inventory. It is an
// extension point (WithMatcher); *advisory.Index implements it.
type Matcher interface {
	Match(inv *rpmscan.Inventory) []advisory.Finding
}

// UnfixedMatcher is a Matcher that also lists the CVEs affecting an
// inventory that have no fix yet (from VEX documents); reports carry them
// as ImageReport.Unfixed. *advisory.Index implements it.
type UnfixedMatcher interface {
	Matcher
	Unfixed(inv *rpmscan.Inventory) []advisory.Unfixed
}

var _ UnfixedMatcher = (*advisory.Index)(nil)

// MatcherFunc builds a Matcher over a set of advisories and VEX documents.
// The orchestrator calls it again whenever the stored ones change, and
// with a single advisory (and no VEX) to find what a newly released
// advisory affects.
type MatcherFunc func(advs []advisory.Advisory, vex []advisory.VEX) (Matcher, error)

// RebuildPolicy decides whether an image with the given findings must be
// rebuilt, and says why. The default rebuilds an image that carries an
// unapplied Critical or Important advisory.
type RebuildPolicy func(img Image, findings []advisory.Finding) (advisories []string, why string)

// DefaultRebuildPolicy rebuilds for unapplied Critical and Important
// advisories, which are the ones that lower the health grade.
func DefaultRebuildPolicy(_ Image, findings []advisory.Finding) ([]string, string) {
	ids := idsOf(findings, func(f advisory.Finding) bool { return f.Severity >= advisory.SeverityImportant })
	if len(ids) == 0 {
		return nil, ""
	}
	return ids, "unapplied Critical/Important advisories"
}

// Clock returns the current time; tests pin it.
type Clock func() time.Time
