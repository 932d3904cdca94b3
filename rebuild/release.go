package rebuild

import (
	"maps"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	rel "github.com/openabs/abs/internal/release"
)

// Label and annotation keys written on every rebuilt image.
const (
	// LabelRelease is the Red Hat release label, bumped on every rebuild.
	LabelRelease = "release"
	// LabelAdvisories lists the advisory ids that caused the rebuild,
	// comma separated.
	LabelAdvisories = "io.openabs.rebuild.advisories"
	// LabelReason is a short human sentence saying why the image was rebuilt.
	LabelReason = "io.openabs.rebuild.reason"
	// LabelRebuilt is the time of the rebuild (RFC 3339, UTC).
	LabelRebuilt = "io.openabs.rebuild.time"
	// LabelMethod names the Builder that produced the image ("buildah",
	// "rebase", "command").
	LabelMethod = "io.openabs.rebuild.method"
	// AnnotationBaseName is the OCI annotation (and label) naming the base
	// image the rebuilt image was built on.
	AnnotationBaseName = "org.opencontainers.image.base.name"
	// AnnotationBaseDigest is the OCI annotation (and label) recording the
	// digest of that base image.
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
	// AnnotationRevision is the OCI annotation (and label) recording the
	// source commit.
	AnnotationRevision = "org.opencontainers.image.revision"
	// AnnotationSource is the OCI annotation (and label) recording the
	// source repository URL (without credentials).
	AnnotationSource = "org.opencontainers.image.source"
)

// Reason records why an image is rebuilt. It ends up in the image's labels
// and annotations.
type Reason struct {
	// Advisories are the advisory ids (e.g. "RHSA-2026:1234") whose fixes
	// the rebuild picks up.
	Advisories []string
	// Text is a short explanation, e.g. "base image updated".
	Text string
}

// String renders the reason on one line.
func (r Reason) String() string {
	var parts []string
	if r.Text != "" {
		parts = append(parts, r.Text)
	}
	if len(r.Advisories) > 0 {
		parts = append(parts, strings.Join(r.Advisories, ", "))
	}
	return strings.Join(parts, ": ")
}

// NextRelease returns the release label that follows release: its last
// dot-separated component made only of digits is incremented, keeping its
// width, and every other component is kept. A release without such a
// component gets ".1" appended, and an empty release becomes "1".
//
//	"7"          -> "8"
//	"7.1"        -> "7.2"
//	"1.el9"      -> "2.el9"
//	"3.2.el9_4"  -> "3.3.el9_4"
//	"1.el9.1"    -> "1.el9.2"
//	"beta"       -> "beta.1"
//	""           -> "1"
//
// Why the last number: a Red Hat image's release is either its team's own
// counter ("3", "1.el9") or that counter followed by a rebuild counter
// ("1.el9.1"). Automated rebuilds (Freshmaker, the Automated Build
// Service) own the trailing counter; bumping the leading one instead
// ("1.el9.1" -> "2.el9.1") takes the number of the team's next own build,
// and both then claim one immutable tag. Registry.NextRelease in
// package publish uses the same rule.
func NextRelease(release string) string { return rel.Next(release) }

// NextFreeRelease returns the release for the next rebuild of an image of
// version whose current release label is current, given the tags of its
// repository: NextRelease(current), or the release after the highest
// "VERSION-RELEASE" tag of the same form when that tag already took it
// (the team's own CI pushed release=1 while "1.0-2" exists: "3"). The tag
// version+"-"+NextFreeRelease(...) is never among tags.
func NextFreeRelease(version, current string, tags []string) string {
	return rel.NextFree(version, current, tags)
}

// Stamp describes what a rebuilt image records about itself.
type Stamp struct {
	Release    string // the new release label ("" leaves it alone)
	Reason     Reason
	Method     string    // Builder name
	BaseName   string    // base image reference built on
	BaseDigest string    // its digest
	Commit     string    // source commit
	Source     string    // source URL without credentials
	Time       time.Time // when (zero: not recorded)
}

// Labels returns the labels of s; empty values are left out.
func (s Stamp) Labels() map[string]string {
	m := map[string]string{
		LabelRelease:         s.Release,
		LabelAdvisories:      strings.Join(s.Reason.Advisories, ","),
		LabelReason:          s.Reason.String(),
		LabelMethod:          s.Method,
		AnnotationBaseName:   s.BaseName,
		AnnotationBaseDigest: s.BaseDigest,
		AnnotationRevision:   s.Commit,
		AnnotationSource:     s.Source,
	}
	if !s.Time.IsZero() {
		m[LabelRebuilt] = s.Time.UTC().Format(time.RFC3339)
	}
	maps.DeleteFunc(m, func(_, v string) bool { return v == "" })
	return m
}

// Annotations returns the manifest annotations of s: the OCI base, source
// and revision keys plus the advisories.
func (s Stamp) Annotations() map[string]string {
	m := s.Labels()
	maps.DeleteFunc(m, func(k, _ string) bool {
		return k == LabelRelease || k == LabelMethod || k == LabelRebuilt || k == LabelReason
	})
	return m
}

// Apply returns img with the labels of s merged into its config and the
// annotations of s merged into its manifest. The rest of the image is
// unchanged.
func (s Stamp) Apply(img v1.Image) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg := *cf.Config.DeepCopy()
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, s.Labels())
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return nil, err
	}
	ann := s.Annotations()
	if len(ann) == 0 {
		return img, nil
	}
	out, ok := mutate.Annotations(img, ann).(v1.Image)
	if !ok {
		return img, nil
	}
	return out, nil
}
