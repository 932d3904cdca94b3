package publish

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// tagRE is the OCI distribution tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidTag reports whether tag is a valid OCI tag.
func ValidTag(tag string) bool { return tagRE.MatchString(tag) }

// VersionTag returns the immutable tag of a rebuild, "VERSION-RELEASE",
// e.g. VersionTag("1.2.3", "5") = "1.2.3-5". It fails when the result is
// not a valid tag.
func VersionTag(version, release string) (string, error) {
	if version == "" || release == "" {
		return "", fmt.Errorf("%w: version and release are required", ErrInvalidRequest)
	}
	tag := version + "-" + release
	if !ValidTag(tag) {
		return "", fmt.Errorf("%w: %q is not a valid tag", ErrInvalidRequest, tag)
	}
	return tag, nil
}

// BumpRelease returns the release of the next rebuild: the last numeric
// component of release plus one ("1" → "2", "4.1" → "4.2",
// "3.el9" → "4.el9"). A release without a number gets ".1" appended.
func BumpRelease(release string) string {
	parts := strings.Split(release, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		if p := parts[i]; p != "" && strings.Trim(p, "0123456789") == "" {
			parts[i] = incDecimal(p)
			return strings.Join(parts, ".")
		}
	}
	if release == "" {
		return "1"
	}
	return release + ".1"
}

// tags validates the request's tags and returns them in publish order:
// version tag first, then the floating tags without duplicates.
func (req Request) tags() ([]string, error) {
	if req.VersionTag == "" {
		return nil, fmt.Errorf("%w: version tag is required", ErrInvalidRequest)
	}
	out := []string{req.VersionTag}
	for _, t := range req.FloatingTags {
		if t == req.VersionTag {
			return nil, fmt.Errorf("%w: tag %q is both immutable and floating", ErrInvalidRequest, t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, t := range out {
		if !ValidTag(t) {
			return nil, fmt.Errorf("%w: %q is not a valid tag", ErrInvalidRequest, t)
		}
	}
	return out, nil
}

// incDecimal adds one to a string of decimal digits of any length, so
// that no release wraps around to a smaller one.
func incDecimal(d string) string {
	b := []byte(strings.TrimLeft(d, "0"))
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}
