package healthindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/openabs/abs/advisory"
)

// Policy decides how one unapplied advisory weighs on an image's grade as it
// ages. It is the package's extension point: [Table] implements it from a
// table of thresholds, [PolicyFunc] adapts a function, and callers may plug
// in anything else.
//
// An image's grade at an instant is the worst grade any of its findings
// imposes at that instant, or A when none imposes one; the policy only has
// to describe findings one at a time.
type Policy interface {
	// Schedule returns the grades f imposes, as steps in increasing At
	// order: each step's grade applies from its At (inclusive) until the
	// next step's At (exclusive); the last applies forever. Before the first
	// step, and for an empty schedule, f does not affect the grade.
	Schedule(f advisory.Finding) []Step
}

// Step is one change in the grade a finding imposes: from At on, the
// finding holds the image at Grade or worse.
type Step struct {
	At    time.Time `json:"at"`
	Grade Grade     `json:"grade"`
}

// PolicyFunc adapts a function to the [Policy] interface.
type PolicyFunc func(f advisory.Finding) []Step

// Schedule calls fn(f).
func (fn PolicyFunc) Schedule(f advisory.Finding) []Step { return fn(f) }

var (
	_ Policy = Table(nil)
	_ Policy = PolicyFunc(nil)
)

// Age is a span of calendar time measured from an advisory's issue
// instant: Months calendar months, then Days days, added in UTC.
type Age struct {
	Months int `json:"months,omitempty"`
	Days   int `json:"days,omitempty"`
}

// Days returns an Age of n days (n×24 hours, in UTC).
func Days(n int) Age { return Age{Days: n} }

// Months returns an Age of n calendar months.
func Months(n int) Age { return Age{Months: n} }

// From returns the instant at which something issued at t reaches age a:
// t in UTC plus a.Months calendar months plus a.Days days
// ([time.Time.AddDate] normalisation: 29 February + 12 months is 1 March).
func (a Age) From(t time.Time) time.Time {
	return t.UTC().AddDate(0, a.Months, a.Days)
}

// String describes the age, e.g. "7 days", "12 months", "1 month 2 days".
func (a Age) String() string {
	unit := func(n int, one string) string {
		s := strconv.Itoa(n) + " " + one
		if n != 1 {
			s += "s"
		}
		return s
	}
	switch {
	case a.Months != 0 && a.Days != 0:
		return unit(a.Months, "month") + " " + unit(a.Days, "day")
	case a.Months != 0:
		return unit(a.Months, "month")
	default:
		return unit(a.Days, "day")
	}
}

// Threshold says that a finding imposes Grade once it is After old.
type Threshold struct {
	After Age   `json:"after"`
	Grade Grade `json:"grade"`
}

// Table is a grading policy written as one table: for each severity, the
// thresholds its findings pass as they age, youngest first. A finding
// imposes the grade of the last threshold it has reached (see the package
// documentation for the exact boundary rule); severities absent from the
// table never affect the grade.
//
// [RedHat] returns Red Hat's published index as a Table; a stricter or
// broader policy is a modified copy of it:
//
//	t := healthindex.RedHat()
//	t[advisory.SeverityCritical][1].After = healthindex.Days(3) // C after 3 days, not 7
//	t[advisory.SeverityModerate] = []healthindex.Threshold{{After: healthindex.Months(6), Grade: healthindex.GradeC}}
type Table map[advisory.Severity][]Threshold

// RedHat returns Red Hat's Container Health Index as a [Table]; each call
// returns a fresh copy that the caller may modify.
//
//	grade  Critical            Important
//	A      none                none
//	B      < 7 days            < 30 days
//	C      7 days – 30 days    30 days – 90 days
//	D      30 days – 90 days   90 days – 12 months
//	E      90 days – 12 months (Important skips E)
//	F      ≥ 12 months         ≥ 12 months
//
// Red Hat's grade E reads "Critical or Important errata no older than 12
// months" and F "Critical or Important errata older than 12 months". An
// Important erratum no older than 12 months is already D, so E only ever
// comes from Critical errata, and an Important erratum goes from D straight
// to F on reaching 12 months. Moderate and Low errata never lower the grade.
func RedHat() Table {
	return Table{
		advisory.SeverityCritical: {
			{After: Days(0), Grade: GradeB},
			{After: Days(7), Grade: GradeC},
			{After: Days(30), Grade: GradeD},
			{After: Days(90), Grade: GradeE},
			{After: Months(12), Grade: GradeF},
		},
		advisory.SeverityImportant: {
			{After: Days(0), Grade: GradeB},
			{After: Days(30), Grade: GradeC},
			{After: Days(90), Grade: GradeD},
			{After: Months(12), Grade: GradeF},
		},
	}
}

// ErrInvalidPolicy is returned by [Table.Validate] for a table that cannot
// grade.
var ErrInvalidPolicy = errors.New("healthindex: invalid policy")

// Validate reports a table whose thresholds are not usable: an invalid
// grade, a negative age, or ages that do not increase (checked from a fixed
// reference date, since months and days do not compare in general).
func (t Table) Validate() error {
	ref := time.Date(2001, time.January, 31, 0, 0, 0, 0, time.UTC)
	for _, sev := range slices.Sorted(maps.Keys(t)) {
		var prev time.Time
		for i, th := range t[sev] {
			if !th.Grade.Valid() {
				return fmt.Errorf("%w: severity %s threshold %d: grade %d", ErrInvalidPolicy, sev, i, th.Grade)
			}
			if th.After.Months < 0 || th.After.Days < 0 {
				return fmt.Errorf("%w: severity %s threshold %d: negative age %s", ErrInvalidPolicy, sev, i, th.After)
			}
			at := th.After.From(ref)
			if i > 0 && !at.After(prev) {
				return fmt.Errorf("%w: severity %s threshold %d: %s does not come after the previous threshold", ErrInvalidPolicy, sev, i, th.After)
			}
			prev = at
		}
	}
	return nil
}

// Schedule returns the steps of f's severity row, measured from f.Issued.
// A finding without an issue date counts as issued at the zero time, so it
// weighs as much as the table allows instead of being ignored. Like Red
// Hat's index, a table counts security errata only: a bug fix or
// enhancement erratum (RHBA, RHEA; by f.Type, or by its id when Type is
// empty) never lowers the grade, whatever severity it carries.
func (t Table) Schedule(f advisory.Finding) []Step {
	typ := f.Type
	if typ == "" {
		typ = advisory.TypeOf(f.Advisory)
	}
	if typ == advisory.TypeBugFix || typ == advisory.TypeEnhancement {
		return nil
	}
	row := t[f.Severity]
	if len(row) == 0 {
		return nil
	}
	steps := make([]Step, len(row))
	for i, th := range row {
		steps[i] = Step{At: th.After.From(f.Issued), Grade: th.Grade}
	}
	// Equal instants keep table order, so the later threshold wins.
	slices.SortStableFunc(steps, func(a, b Step) int { return a.At.Compare(b.At) })
	return steps
}

// ParseTable reads a [Table] from JSON, as [json.Marshal] writes one:
// severities by name, ages as {"months": m, "days": d}, grades as letters,
// for example
//
//	{"Critical": [{"after": {}, "grade": "B"}, {"after": {"days": 3}, "grade": "C"}],
//	 "Moderate": [{"after": {"months": 6}, "grade": "C"}]}
//
// Unknown fields are rejected and the table is validated.
func ParseTable(data []byte) (Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the table", ErrInvalidPolicy)
	}
	if t == nil {
		return nil, fmt.Errorf("%w: no table", ErrInvalidPolicy)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}
