package partnerapi

import (
	"errors"
	"fmt"
	"strings"
)

// Filter is an RSQL expression for the catalog's filter query parameter.
// Build one with Eq, Ne, In, NotIn, And and Or; values are quoted and
// escaped as needed, so any string (spaces, quotes, commas, semicolons) is
// matched literally. Field names are dotted paths into the object, such as
// "repositories.tags.name"; a path element may not hold RSQL operator
// characters.
//
// The zero Filter matches everything and is left out of the request. A
// Filter built from an invalid field carries the error (see Err); the
// client returns it instead of sending the request.
type Filter struct {
	expr string
	op   byte // 0 for a comparison, ';' for And, ',' for Or
	err  error
}

// ErrInvalidFilter is wrapped by Filter.Err for a field name that is empty
// or holds RSQL operator characters, or an In/NotIn with no values.
var ErrInvalidFilter = errors.New("partnerapi: invalid filter")

// RawFilter wraps an RSQL expression written by a person, such as a
// command-line flag, and passes it on as it is. Never build one from
// untrusted input: use Eq, In and the others, which quote values.
func RawFilter(expr string) Filter {
	if strings.TrimSpace(expr) == "" {
		return Filter{}
	}
	// Parenthesized so that And keeps the expression's own grouping.
	return Filter{expr: expr, op: ','}
}

// String returns the RSQL text, or "" for the zero Filter.
func (f Filter) String() string { return f.expr }

// Err returns the error of the first invalid part of f, or nil.
func (f Filter) Err() error { return f.err }

// IsZero reports whether f is the empty filter.
func (f Filter) IsZero() bool { return f.expr == "" && f.err == nil }

// Eq matches objects whose field equals value. On a list field (or a path
// crossing a list, such as "repositories.tags.name") any element may match.
func Eq(field, value string) Filter { return compare(field, "==", value) }

// Ne matches objects whose field differs from value.
func Ne(field, value string) Filter { return compare(field, "!=", value) }

// In matches objects whose field equals one of values.
func In(field string, values ...string) Filter { return set(field, "=in=", values) }

// NotIn matches objects whose field equals none of values.
func NotIn(field string, values ...string) Filter { return set(field, "=out=", values) }

// And matches objects that every filter matches. Zero filters are skipped.
func And(filters ...Filter) Filter { return join(';', filters) }

// Or matches objects that any filter matches. Zero filters are skipped.
func Or(filters ...Filter) Filter { return join(',', filters) }

func compare(field, op, value string) Filter {
	if err := checkField(field); err != nil {
		return Filter{err: err}
	}
	return Filter{expr: field + op + Quote(value)}
}

func set(field, op string, values []string) Filter {
	if err := checkField(field); err != nil {
		return Filter{err: err}
	}
	if len(values) == 0 {
		return Filter{err: fmt.Errorf("%w: %s%s needs at least one value", ErrInvalidFilter, field, op)}
	}
	var b strings.Builder
	b.WriteString(field)
	b.WriteString(op)
	b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Quote(v))
	}
	b.WriteByte(')')
	return Filter{expr: b.String()}
}

func join(op byte, filters []Filter) Filter {
	var parts []string
	for _, f := range filters {
		if f.err != nil {
			return Filter{err: f.err}
		}
		if f.expr == "" {
			continue
		}
		// ';' binds tighter than ',': an Or inside an And needs parentheses.
		if op == ';' && f.op == ',' {
			parts = append(parts, "("+f.expr+")")
		} else {
			parts = append(parts, f.expr)
		}
	}
	switch len(parts) {
	case 0:
		return Filter{}
	case 1:
		for _, f := range filters {
			if f.expr != "" {
				return f
			}
		}
	}
	return Filter{expr: strings.Join(parts, string(op)), op: op}
}

// reserved reports whether c has a meaning in RSQL outside quotes.
func reserved(c byte) bool {
	switch c {
	case '"', '\'', '(', ')', ';', ',', '=', '!', '~', '<', '>', ' ', '\t', '\n', '\r', '\f', '\v', '\\':
		return true
	}
	return c < 0x20 || c == 0x7f
}

func checkField(field string) error {
	if field == "" {
		return fmt.Errorf("%w: empty field name", ErrInvalidFilter)
	}
	for _, part := range strings.Split(field, ".") {
		if part == "" {
			return fmt.Errorf("%w: field %q has an empty path element", ErrInvalidFilter, field)
		}
	}
	for i := 0; i < len(field); i++ {
		if reserved(field[i]) {
			return fmt.Errorf("%w: field %q holds %q", ErrInvalidFilter, field, field[i])
		}
	}
	return nil
}

// Quote returns value as an RSQL argument: unchanged when it holds no
// reserved character, otherwise in double quotes with backslashes and
// double quotes escaped by a backslash. The empty string becomes "".
func Quote(value string) string {
	plain := value != ""
	for i := 0; i < len(value) && plain; i++ {
		plain = !reserved(value[i])
	}
	if plain {
		return value
	}
	var b strings.Builder
	b.Grow(len(value) + 2)
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
