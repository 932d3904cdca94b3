package certify

import (
	"fmt"
	"strings"
)

// Block is one reason a rebuild may not be published: a check that passed
// on the current image (or, for a first certification, any check) does
// not pass on the rebuild.
type Block struct {
	// Platform is the platform the check ran on ("linux/amd64").
	Platform string `json:"platform"`
	// Check is the name of the check that blocked.
	Check string `json:"check"`
	// Before is the check's status on the current image; empty for a first
	// certification.
	Before Status `json:"before,omitempty"`
	// After is its status on the rebuild; empty when the rebuild lacks the
	// platform or the check.
	After Status `json:"after,omitempty"`
	// Reason is the rebuild's result reason, or why the result is missing.
	Reason string `json:"reason"`
}

// String returns a one-line description of the block.
func (b Block) String() string {
	after := string(b.After)
	if after == "" {
		after = "missing"
	}
	if b.Before == "" {
		return fmt.Sprintf("%s on %s: %s: %s", b.Check, b.Platform, after, b.Reason)
	}
	return fmt.Sprintf("%s on %s: %s before, %s now: %s", b.Check, b.Platform, b.Before, after, b.Reason)
}

// Decision is the outcome of [Gate].
type Decision struct {
	// Allowed is true when the rebuild may be published.
	Allowed bool `json:"allowed"`
	// Blocks lists every check that stops publication (empty when allowed).
	Blocks []Block `json:"blocks,omitempty"`
}

// Err returns nil when the rebuild may be published, else a [*GateError]
// (which wraps [ErrBlocked]).
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &GateError{Blocks: d.Blocks}
}

// GateError is the error of a rebuild that may not be published. It
// matches [ErrBlocked] with errors.Is.
type GateError struct {
	Blocks []Block
}

// Error implements error.
func (e *GateError) Error() string {
	parts := make([]string, len(e.Blocks))
	for i, b := range e.Blocks {
		parts[i] = b.String()
	}
	return "certify: publication blocked: " + strings.Join(parts, "; ")
}

// Is reports whether target is [ErrBlocked].
func (e *GateError) Is(target error) bool { return target == ErrBlocked }

// Gate decides whether a rebuild may be published. current holds the
// results of the image customers have now, or is nil for a first
// certification. Every check that passed on a platform of current must
// pass on the same platform of rebuild; for a first certification every
// check of rebuild must pass (and rebuild must have results). A check
// that failed or erred on the current image does not block.
func Gate(current, rebuild *Report) Decision {
	var blocks []Block
	if rebuild == nil || len(rebuild.Platforms) == 0 {
		return Decision{Blocks: []Block{{Reason: "the rebuild has no certification results"}}}
	}
	after := map[string]map[string]Result{}
	for _, p := range rebuild.Platforms {
		m := map[string]Result{}
		for _, r := range p.Results {
			m[r.Check] = r
		}
		after[p.Platform] = m
	}
	if current == nil {
		for _, p := range rebuild.Platforms {
			for _, r := range p.Results {
				if r.Status != Passed {
					blocks = append(blocks, Block{Platform: p.Platform, Check: r.Check, After: r.Status, Reason: r.Reason})
				}
			}
		}
		return Decision{Allowed: len(blocks) == 0, Blocks: blocks}
	}
	for _, p := range current.Platforms {
		now, ok := after[p.Platform]
		for _, r := range p.Results {
			if r.Status != Passed {
				continue
			}
			switch n, has := now[r.Check]; {
			case !ok:
				blocks = append(blocks, Block{Platform: p.Platform, Check: r.Check, Before: Passed, Reason: "the rebuild lacks platform " + p.Platform})
			case !has:
				blocks = append(blocks, Block{Platform: p.Platform, Check: r.Check, Before: Passed, Reason: "the check did not run on the rebuild"})
			case n.Status != Passed:
				blocks = append(blocks, Block{Platform: p.Platform, Check: r.Check, Before: Passed, After: n.Status, Reason: n.Reason})
			}
		}
	}
	return Decision{Allowed: len(blocks) == 0, Blocks: blocks}
}
