package healthindex

import (
	"errors"
	"fmt"
)

// Grade is a Container Health Index grade. Grades are ordered: a larger
// value is a worse grade, so the worse of two grades is max(a, b). The zero
// value is not a grade; it prints as "?" and does not marshal.
type Grade int

// Grades from best to worst.
const (
	GradeA Grade = iota + 1
	GradeB
	GradeC
	GradeD
	GradeE
	GradeF
)

// ErrInvalidGrade is returned when text or a value is not one of A…F.
var ErrInvalidGrade = errors.New("healthindex: invalid grade")

// Valid reports whether g is one of GradeA…GradeF.
func (g Grade) Valid() bool { return g >= GradeA && g <= GradeF }

// String returns the grade's letter, "A"…"F", or "?" for an invalid grade.
func (g Grade) String() string {
	if !g.Valid() {
		return "?"
	}
	return string(rune('A' + int(g-GradeA)))
}

// MarshalText returns the grade's letter. It fails for an invalid grade.
func (g Grade) MarshalText() ([]byte, error) {
	if !g.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidGrade, int(g))
	}
	return []byte(g.String()), nil
}

// UnmarshalText reads a single letter A…F (either case).
func (g *Grade) UnmarshalText(text []byte) error {
	v, err := ParseGrade(string(text))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// ParseGrade reads a single letter A…F (either case), as the catalog's
// freshness_grades carry it.
func ParseGrade(s string) (Grade, error) {
	if len(s) == 1 {
		c := s[0]
		if c >= 'a' && c <= 'f' {
			c -= 'a' - 'A'
		}
		if c >= 'A' && c <= 'F' {
			return GradeA + Grade(c-'A'), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrInvalidGrade, s)
}
