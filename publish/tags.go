package publish

import (
	"fmt"
	"regexp"
	"slices"
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
