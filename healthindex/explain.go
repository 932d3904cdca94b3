package healthindex

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openabs/abs/advisory"
)

// Cause is a finding that sets a grade, and since when it does.
type Cause struct {
	Finding advisory.Finding `json:"finding"`
	// Grade is the grade the finding imposes.
	Grade Grade `json:"grade"`
	// Since is the instant the finding started to impose Grade.
	Since time.Time `json:"since"`
}

// Explanation says why an image has its grade at an instant and what will
// lower it next.
type Explanation struct {
	At    time.Time `json:"at"`
	Grade Grade     `json:"grade"`
	// Causes are the findings that impose Grade at At, oldest first; empty
	// for grade A.
	Causes []Cause `json:"causes,omitempty"`
	// NextDrop is the first instant after At at which the grade gets worse;
	// zero when it never will.
	NextDrop time.Time `json:"next_drop,omitzero"`
	// NextGrade is the grade from NextDrop on; 0 when there is no drop.
	NextGrade Grade `json:"next_grade,omitzero"`
	// NextCauses are the findings that impose NextGrade at NextDrop.
	NextCauses []Cause `json:"next_causes,omitempty"`
}

// Explain returns why an image carrying findings has its grade at instant
// at under policy p (nil means [RedHat]): the findings that set the grade,
// and the next drop with the findings that will cause it. Its result agrees
// with [GradeAt] and [NewTimeline] for the same inputs.
func Explain(p Policy, findings []advisory.Finding, at time.Time) Explanation {
	e, _ := ExplainUntil(p, findings, at)
	return e
}

// ExplainUntil is [Explain], and the instant until which its explanation
// holds: for every instant t in [at, until), Explain(p, findings, t)
// differs from it only in At, since no finding's grade changes before
// until (a grade, a cause or the next drop can change only when one
// does). A zero until means the explanation holds for ever. A fleet can
// thus regrade from each image's next change instead of recomputing
// every explanation.
func ExplainUntil(p Policy, findings []advisory.Finding, at time.Time) (Explanation, time.Time) {
	p = orDefault(p)
	at = at.UTC()
	schedules := make([][]Step, len(findings))
	var until time.Time
	for i, f := range findings {
		schedules[i] = normalize(p.Schedule(f))
		for _, s := range schedules[i] {
			if s.At.After(at) {
				if until.IsZero() || s.At.Before(until) {
					until = s.At
				}
				break // sorted: the first later step is the finding's next change
			}
		}
	}
	causes := func(t time.Time, want Grade) []Cause {
		var cs []Cause
		for i, f := range findings {
			if g, since := gradeAt(schedules[i], t); g == want {
				cs = append(cs, Cause{Finding: f, Grade: g, Since: since})
			}
		}
		slices.SortFunc(cs, func(a, b Cause) int {
			return cmp.Or(a.Since.Compare(b.Since),
				a.Finding.Issued.Compare(b.Finding.Issued),
				cmp.Compare(a.Finding.Advisory, b.Finding.Advisory),
				cmp.Compare(a.Finding.Package, b.Finding.Package),
				cmp.Compare(a.Finding.Installed, b.Finding.Installed))
		})
		return cs
	}

	tl := NewTimeline(p, findings, at)
	e := Explanation{At: at, Grade: tl.Grade()}
	if e.Grade > GradeA {
		e.Causes = causes(at, e.Grade)
	}
	if drop, ok := tl.NextDrop(); ok {
		e.NextDrop, e.NextGrade = drop, tl.At(drop)
		e.NextCauses = causes(drop, e.NextGrade)
	}
	return e, until
}

// String renders the explanation for people, one finding per line.
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grade %s at %s", e.Grade, e.At.Format(time.RFC3339))
	if len(e.Causes) == 0 {
		b.WriteString(": no unapplied errata that the policy counts\n")
	} else {
		b.WriteString(", set by:\n")
		writeCauses(&b, e.Causes, e.At)
	}
	if e.NextDrop.IsZero() {
		b.WriteString("no further drop\n")
		return b.String()
	}
	fmt.Fprintf(&b, "drops to %s at %s, because of:\n", e.NextGrade, e.NextDrop.Format(time.RFC3339))
	writeCauses(&b, e.NextCauses, e.NextDrop)
	return b.String()
}

func writeCauses(b *strings.Builder, cs []Cause, at time.Time) {
	for _, c := range cs {
		f := c.Finding
		issued := "issue date unknown"
		if !f.Issued.IsZero() {
			issued = fmt.Sprintf("issued %s, %d days old", f.Issued.UTC().Format(time.DateOnly),
				int(at.Sub(f.Issued)/(24*time.Hour)))
		}
		fmt.Fprintf(b, "  %s (%s, %s) %s %s, fixed in %s: %s since %s\n",
			f.Advisory, f.Severity, issued, f.Package, f.Installed, f.Fixed,
			c.Grade, c.Since.Format(time.RFC3339))
		if f.Match != "" {
			fmt.Fprintf(b, "    via %s\n", f.Path())
		}
	}
}
