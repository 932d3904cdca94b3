package abs

import (
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/rpmscan"
)

// Matcher finds the unapplied advisories of one inventory.
type Matcher interface {
	Match(inv *rpmscan.Inventory) []advisory.Finding
}

// MatcherFunc builds a Matcher over a set of advisories. The orchestrator
// calls it again whenever the stored advisories change, and with a single
// advisory to find what a newly released advisory affects.
type MatcherFunc func(advs []advisory.Advisory) (Matcher, error)

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
