package healthindex

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openabs/abs/advisory"
)

// Interval is one stretch of time during which an image keeps one grade,
// in the shape of the Red Hat catalog's freshness_grades entries. Start is
// inclusive and End exclusive; End is nil for the last, open interval.
type Interval struct {
	Grade Grade      `json:"grade"`
	Start time.Time  `json:"start_date"`
	End   *time.Time `json:"end_date,omitempty"`
}

// Timeline is the sequence of grades an image will have from an instant
// on, given the findings known at that instant: contiguous intervals (each
// End equals the next Start), adjacent grades different, the last interval
// open. Marshalled to JSON it is a catalog freshness_grades array.
type Timeline []Interval

// ErrInvalidTimeline is returned by [Timeline.Validate].
var ErrInvalidTimeline = errors.New("healthindex: invalid timeline")

// defaultPolicy is used wherever a nil Policy is passed.
func orDefault(p Policy) Policy {
	if p == nil {
		return RedHat()
	}
	return p
}

// normalize returns a policy's schedule in UTC, sorted by time (stable, so a
// later step at the same instant wins), with invalid grades read as A.
func normalize(steps []Step) []Step {
	out := make([]Step, len(steps))
	for i, s := range steps {
		if !s.Grade.Valid() {
			s.Grade = GradeA
		}
		s.At = s.At.UTC()
		out[i] = s
	}
	slices.SortStableFunc(out, func(a, b Step) int { return a.At.Compare(b.At) })
	return out
}

// gradeAt returns the grade a normalised schedule imposes at t, and the
// instant that grade started (zero when the finding imposes nothing yet).
func gradeAt(steps []Step, t time.Time) (Grade, time.Time) {
	g, since := GradeA, time.Time{}
	for _, s := range steps {
		if t.Before(s.At) {
			break
		}
		g, since = s.Grade, s.At
	}
	return g, since
}

// GradeAt returns the grade of an image carrying findings, at instant at,
// under policy p (nil means [RedHat]).
func GradeAt(p Policy, findings []advisory.Finding, at time.Time) Grade {
	p = orDefault(p)
	at = at.UTC()
	worst := GradeA
	for _, f := range findings {
		if g, _ := gradeAt(normalize(p.Schedule(f)), at); g > worst {
			worst = g
		}
	}
	return worst
}

// NewTimeline returns the grades an image carrying findings will have from
// instant from on, under policy p (nil means [RedHat]). The first interval
// starts at from; the grade changes only when a finding crosses one of the
// policy's thresholds. Findings issued after from weigh only once issued,
// so a timeline started at an image's build date replays its history.
func NewTimeline(p Policy, findings []advisory.Finding, from time.Time) Timeline {
	p = orDefault(p)
	from = from.UTC()
	type event struct {
		at       time.Time
		old, new Grade
	}
	var (
		counts [GradeF + 1]int
		events []event
	)
	for _, f := range findings {
		initial, g := GradeA, GradeA
		for _, s := range normalize(p.Schedule(f)) {
			if !from.Before(s.At) {
				initial, g = s.Grade, s.Grade
				continue
			}
			events = append(events, event{at: s.At, old: g, new: s.Grade})
			g = s.Grade
		}
		counts[initial]++
	}
	worst := func() Grade {
		for g := GradeF; g > GradeA; g-- {
			if counts[g] > 0 {
				return g
			}
		}
		return GradeA
	}
	// Order within one instant does not matter: counts are updated in batches.
	slices.SortFunc(events, func(a, b event) int { return a.at.Compare(b.at) })

	tl := Timeline{{Grade: worst(), Start: from}}
	for i := 0; i < len(events); {
		at := events[i].at
		for ; i < len(events) && events[i].at.Equal(at); i++ {
			counts[events[i].old]--
			counts[events[i].new]++
		}
		if g := worst(); g != tl[len(tl)-1].Grade {
			end := at
			tl[len(tl)-1].End = &end
			tl = append(tl, Interval{Grade: g, Start: at})
		}
	}
	return tl
}

// Grade returns the grade at the start of the timeline (0 when empty).
func (tl Timeline) Grade() Grade {
	if len(tl) == 0 {
		return 0
	}
	return tl[0].Grade
}

// At returns the grade at instant t, or 0 when t is before the timeline's
// start or the timeline is empty.
func (tl Timeline) At(t time.Time) Grade {
	for _, iv := range tl {
		if t.Before(iv.Start) {
			return 0
		}
		if iv.End == nil || t.Before(*iv.End) {
			return iv.Grade
		}
	}
	return 0
}

// NextDrop returns the first instant after the timeline's start at which
// the grade becomes worse than it is at the start, and false when it never
// does (the image is F, or carries nothing that will age into a worse
// grade).
func (tl Timeline) NextDrop() (time.Time, bool) {
	for _, iv := range tl {
		if iv.Grade > tl.Grade() {
			return iv.Start, true
		}
	}
	return time.Time{}, false
}

// Validate checks the timeline's shape: at least one interval, valid
// grades, each interval ending after it starts and exactly where the next
// one starts, and only the last one open. It accepts equal adjacent grades,
// which catalog data may carry; NewTimeline never produces them.
func (tl Timeline) Validate() error {
	if len(tl) == 0 {
		return fmt.Errorf("%w: no intervals", ErrInvalidTimeline)
	}
	for i, iv := range tl {
		if !iv.Grade.Valid() {
			return fmt.Errorf("%w: interval %d: grade %d", ErrInvalidTimeline, i, iv.Grade)
		}
		last := i == len(tl)-1
		switch {
		case last && iv.End != nil:
			return fmt.Errorf("%w: last interval ends at %s", ErrInvalidTimeline, iv.End.Format(time.RFC3339))
		case last:
		case iv.End == nil:
			return fmt.Errorf("%w: interval %d is open but not last", ErrInvalidTimeline, i)
		case !iv.End.After(iv.Start):
			return fmt.Errorf("%w: interval %d ends at or before its start", ErrInvalidTimeline, i)
		case !iv.End.Equal(tl[i+1].Start):
			return fmt.Errorf("%w: interval %d ends at %s but interval %d starts at %s", ErrInvalidTimeline,
				i, iv.End.Format(time.RFC3339), i+1, tl[i+1].Start.Format(time.RFC3339))
		}
	}
	return nil
}

// ByUrgency orders timelines most urgent first, for slices.SortFunc: a
// worse current grade first; at equal grades, the one that drops sooner
// (a timeline that never drops comes last); then the worse grade after the
// drop. It returns a negative number when a is more urgent than b.
func ByUrgency(a, b Timeline) int {
	if c := cmp.Compare(b.Grade(), a.Grade()); c != 0 {
		return c
	}
	da, oka := a.NextDrop()
	db, okb := b.NextDrop()
	switch {
	case oka && !okb:
		return -1
	case !oka && okb:
		return 1
	case !oka && !okb:
		return 0
	}
	if c := da.Compare(db); c != 0 {
		return c
	}
	return cmp.Compare(b.At(db), a.At(da))
}
