package rpmver

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is returned (wrapped) by Parse for strings that are not an EVR.
var ErrInvalid = errors.New("rpmver: invalid EVR")

// EVR is a parsed epoch:version-release. The zero Epoch is rpm's default
// epoch; an empty Release means the release was not given.
type EVR struct {
	Epoch   int
	Version string
	Release string
}

// Parse reads "[epoch:]version[-release]". The epoch defaults to 0; the
// release is everything after the last '-' and may be absent.
func Parse(s string) (EVR, error) {
	var v EVR
	if s == "" {
		return v, errors.Join(ErrInvalid, errors.New("empty string"))
	}
	rest := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		e := s[:i]
		if e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 0 {
				return v, errors.Join(ErrInvalid, errors.New("bad epoch in "+strconv.Quote(s)))
			}
			v.Epoch = n
		}
		rest = s[i+1:]
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Version, v.Release = rest[:i], rest[i+1:]
		if v.Release == "" {
			return EVR{}, errors.Join(ErrInvalid, errors.New("empty release in "+strconv.Quote(s)))
		}
	} else {
		v.Version = rest
	}
	if v.Version == "" {
		return EVR{}, errors.Join(ErrInvalid, errors.New("empty version in "+strconv.Quote(s)))
	}
	if strings.ContainsAny(v.Version, ":") {
		return EVR{}, errors.Join(ErrInvalid, errors.New("':' in version of "+strconv.Quote(s)))
	}
	return v, nil
}

// MustParse is Parse for constants in tests and examples; it panics on
// invalid input.
func MustParse(s string) EVR {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns "epoch:version-release", always with the epoch, and
// without "-release" when the release is absent.
func (v EVR) String() string {
	s := strconv.Itoa(v.Epoch) + ":" + v.Version
	if v.Release != "" {
		s += "-" + v.Release
	}
	return s
}

// Compare orders two EVRs as rpm does: by epoch, then version, then release,
// each with rpmvercmp. A missing release sorts before any release, as in
// rpm.vercmp. It returns -1, 0 or +1.
func (v EVR) Compare(o EVR) int {
	switch {
	case v.Epoch < o.Epoch:
		return -1
	case v.Epoch > o.Epoch:
		return 1
	}
	if c := Vercmp(v.Version, o.Version); c != 0 {
		return c
	}
	return Vercmp(v.Release, o.Release)
}

// Compare parses and compares two EVR strings. Strings that do not parse
// are compared as whole versions with Vercmp, so the result is always
// defined.
func Compare(a, b string) int {
	va, ea := Parse(a)
	vb, eb := Parse(b)
	if ea != nil || eb != nil {
		return Vercmp(a, b)
	}
	return va.Compare(vb)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// Vercmp compares two version (or release) strings with rpm's rpmvercmp
// algorithm and returns -1, 0 or +1. Runs of letters and runs of digits are
// compared segment by segment (digits numerically, and a digit segment is
// newer than a letter segment); other characters only separate segments,
// except '~', which sorts before everything (even the end of the string),
// and '^', which sorts after the end of the string but before anything
// else.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		// Tilde sorts before everything else.
		ta, tb := i < len(a) && a[i] == '~', j < len(b) && b[j] == '~'
		if ta || tb {
			if !ta {
				return 1
			}
			if !tb {
				return -1
			}
			i++
			j++
			continue
		}
		// Caret sorts after the end of the string but before anything else.
		ca, cb := i < len(a) && a[i] == '^', j < len(b) && b[j] == '^'
		if ca || cb {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if !ca {
				return 1
			}
			if !cb {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		num := isDigit(a[i])
		if num {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		// b's segment is of the other kind: numbers are newer than letters.
		if sj == j {
			if num {
				return 1
			}
			return -1
		}
		sa, sb := a[si:i], b[sj:j]
		if num {
			sa = strings.TrimLeft(sa, "0")
			sb = strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	ea, eb := i >= len(a), j >= len(b)
	switch {
	case ea && eb:
		return 0
	case ea:
		return -1
	default:
		return 1
	}
}
