package release

import (
	"strings"
)

// Next returns the release that follows r: its last dot-separated
// component made only of digits is incremented (keeping its width:
// "0099" → "0100"), and every other component is kept. A release without
// such a component gets ".1" appended; an empty release becomes "1".
//
//	"7"         → "8"
//	"1.el9"     → "2.el9"
//	"3.2.el9_4" → "3.3.el9_4"
//	"1.el9.1"   → "1.el9.2"
//	"beta"      → "beta.1"
//
// Why the last number: a Red Hat image's release is either the team's own
// counter ("3", "1.el9") or that counter followed by a rebuild counter
// ("1.el9.1"). Automated rebuilds (Freshmaker, the Automated Build
// Service) own the trailing counter; bumping the leading one instead
// ("1.el9.1" → "2.el9.1") takes the number the team's next own build will
// use, and the two builds then fight over one immutable tag.
func Next(r string) string {
	if r == "" {
		return "1"
	}
	parts := strings.Split(r, ".")
	if i := lastNumber(parts); i >= 0 {
		parts[i] = increment(parts[i])
		return strings.Join(parts, ".")
	}
	return r + ".1"
}

// NextFree returns the release for the next rebuild of an image of
// version whose current release is current, given the repository's
// existing tags: Next(current), or, when tags already hold
// "VERSION-RELEASE" tags of the same form with an equal or higher number
// (another pipeline, or the team's own CI, took it), the release after
// the highest of them. The result's tag version+"-"+result is never in
// tags.
//
// For example, with current "1" and the tags "1.0-1" and "1.0-2", NextFree
// returns "3", not "2".
func NextFree(version, current string, tags []string) string {
	next := Next(current)
	taken := make(map[string]bool, len(tags))
	for _, t := range tags {
		r, ok := strings.CutPrefix(t, version+"-")
		if !ok || r == "" {
			continue
		}
		taken[r] = true
		if sameForm(r, next) && atMost(next, r) {
			next = Next(r)
		}
	}
	// A tag of another form can still hold exactly the next release
	// ("2" and "2" have the same form, so this only guards odd inputs).
	for taken[next] {
		next = Next(next)
	}
	return next
}

// lastNumber returns the index of the last all-digit component, or -1.
func lastNumber(parts []string) int {
	for i := len(parts) - 1; i >= 0; i-- {
		if p := parts[i]; p != "" && strings.Trim(p, "0123456789") == "" {
			return i
		}
	}
	return -1
}

// sameForm reports whether a and b differ at most in their last numeric
// component: "1.el9.3" and "1.el9.7" do, "2.el9.3" and "1.el9.3" do not.
func sameForm(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	ia, ib := lastNumber(pa), lastNumber(pb)
	if len(pa) != len(pb) || ia != ib || ia < 0 {
		return false
	}
	for i := range pa {
		if i != ia && pa[i] != pb[i] {
			return false
		}
	}
	return true
}

// atMost reports whether the last number of a (of the same form as b) is
// at most b's, comparing numbers of any length.
func atMost(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	i := lastNumber(pa)
	x, y := strings.TrimLeft(pa[i], "0"), strings.TrimLeft(pb[i], "0")
	if len(x) != len(y) {
		return len(x) < len(y)
	}
	return x <= y
}

// increment adds one to a string of decimal digits of any length, keeping
// its width unless it overflows it ("0099" → "0100", "99" → "100").
func increment(digits string) string {
	b := []byte(digits)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}
