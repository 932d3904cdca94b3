package abs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
)

func rebuildID(image, digest, key string) string {
	h := sha256.Sum256([]byte(image + "\x00" + digest + "\x00" + key))
	return "rb-" + hex.EncodeToString(h[:8])
}

// decide chooses the images to rebuild and orders them parents first. It
// reads only what the cycle learned (states), the rebuild policy and
// whether a rebaser is configured: it does no I/O.
func decide(states []*imageState, policy RebuildPolicy, canRebase bool) ([]PlanStep, error) {
	type cand struct {
		s      *imageState
		advs   []string
		reason Reason
		why    string
		rebase bool // only base-image advisories: a rebase onto the fixed base fixes them
	}
	cands := map[string]*cand{}
	var held []PlanStep // images waiting for a fixed base
	for _, s := range states {
		if s.err != nil {
			continue
		}
		if !s.img.AutoRebuild {
			if s.manual != "" {
				cands[s.img.Name] = &cand{s: s, reason: ReasonManual, why: "rebuild requested by hand"}
			}
			continue
		}
		advs, why := policy(*s.img, s.findings)
		base := baseAdvisories(s.findings, advs)
		switch {
		case len(base) > 0:
			bw := baseWhy(s, base)
			if fixedBase(s, s.findings, base) {
				cands[s.img.Name] = &cand{s: s, advs: advs, reason: ReasonAffected, rebase: len(base) == len(advs), why: bw}
				if len(base) < len(advs) {
					cands[s.img.Name].why = why + ": " + strings.Join(advs, ", ") + "; " + bw
				}
				break
			}
			// No fixed base yet: the base advisories wait for it, the
			// others are rebuilt for now.
			wait := "waiting for the fixed base: " + bw + "; " + s.baseName + " still points at an affected image"
			rest := slices.DeleteFunc(slices.Clone(advs), func(a string) bool { return slices.Contains(base, a) })
			if len(rest) == 0 {
				held = append(held, PlanStep{ID: rebuildID(s.img.Name, s.digest, "base-wait:"+store.AdvisoryKey(base)), Image: s.img.Name, Reason: ReasonAffected, Why: bw, Advisories: advs,
					BeforeGrade: s.expl.Grade, Method: MethodRebase, Key: "base-wait:" + store.AdvisoryKey(base),
					Duplicate: true, Waiting: wait, holdBase: true})
				break
			}
			cands[s.img.Name] = &cand{s: s, advs: rest, reason: ReasonAffected, why: why + ": " + strings.Join(rest, ", ") + "; " + wait}
		case len(advs) > 0:
			cands[s.img.Name] = &cand{s: s, advs: advs, reason: ReasonAffected, why: why + ": " + strings.Join(advs, ", ")}
		case s.baseDigest != "" && s.baseNow != "" && s.baseNow != s.baseDigest:
			cands[s.img.Name] = &cand{s: s, reason: ReasonBaseMoved,
				why: fmt.Sprintf("base %s moved from %s to %s", s.baseName, short(s.baseDigest), short(s.baseNow))}
		case s.manual != "":
			cands[s.img.Name] = &cand{s: s, reason: ReasonManual, why: "rebuild requested by hand"}
		}
	}
	// Children of rebuilt parents are rebuilt on the parents' new digests.
	repoOf := map[string]*imageState{}
	for _, s := range states {
		repoOf[s.img.Repository] = s
	}
	parentOf := func(s *imageState) *imageState {
		if s.baseName == "" {
			return nil
		}
		return repoOf[rebuild.Repository(s.baseName)]
	}
	for changed := true; changed; {
		changed = false
		for _, s := range states {
			if s.err != nil || !s.img.AutoRebuild || cands[s.img.Name] != nil {
				continue
			}
			if p := parentOf(s); p != nil && cands[p.img.Name] != nil {
				cands[s.img.Name] = &cand{s: s, reason: ReasonDependency, why: "parent " + p.img.Name + " is rebuilt"}
				changed = true
			}
		}
	}
	if len(cands) == 0 {
		return held, nil
	}
	var targets []*rebuild.Target
	for _, n := range sortedKeys(cands) {
		c := cands[n]
		t := &rebuild.Target{Name: n, Ref: c.s.img.Ref()}
		if c.s.baseName != "" {
			t.Bases = []string{c.s.baseName}
		}
		targets = append(targets, t)
	}
	plan, err := rebuild.NewPlan(targets)
	if err != nil {
		return nil, err
	}
	var steps []PlanStep
	ids := map[string]string{}
	for bi, batch := range plan.Batches {
		for _, st := range batch {
			c := cands[st.Target.Name]
			ps := PlanStep{Image: c.s.img.Name, Reason: c.reason, Why: c.why, Advisories: c.advs, Batch: bi,
				BeforeGrade: c.s.expl.Grade, Method: method(c.s, c.reason, canRebase || c.rebase)}
			if c.rebase {
				ps.Method = MethodBuild
				if canRebase && c.s.baseName != "" {
					ps.Method = MethodRebase
				}
			}
			if len(st.Parents) > 0 {
				ps.Parent = st.Parents[0]
				ps.ParentID = ids[ps.Parent]
			}
			switch c.reason {
			case ReasonAffected:
				ps.Key = store.AdvisoryKey(c.advs)
			case ReasonBaseMoved:
				ps.Key = "base:" + c.s.baseNow
			case ReasonManual:
				ps.Key = "manual:" + c.s.manual
			default:
				ps.Key = "parent:" + ps.ParentID
			}
			// What else can change the outcome is part of the id: a
			// rebuild refused or failed on some inputs is planned anew
			// when they change.
			ps.Key += "|in:" + c.s.inputs
			ps.ID = rebuildID(ps.Image, c.s.digest, ps.Key)
			ids[ps.Image] = ps.ID
			steps = append(steps, ps)
		}
	}
	return append(steps, held...), nil
}

// baseAdvisories returns those of advs that findings report as findings of
// the image's base (advisory.MatchBaseImage).
func baseAdvisories(findings []advisory.Finding, advs []string) []string {
	var out []string
	for _, f := range findings {
		if f.Match == advisory.MatchBaseImage && slices.Contains(advs, f.Advisory) && !slices.Contains(out, f.Advisory) {
			out = append(out, f.Advisory)
		}
	}
	return out
}

// baseWhy says which base advisories affect the image and where they are
// fixed: "base image registry.redhat.io/x has RHSA-1; fixed in sha256:…".
func baseWhy(s *imageState, base []string) string {
	var repo string
	var fixed []string
	for _, f := range s.findings {
		if f.Match != advisory.MatchBaseImage || !slices.Contains(base, f.Advisory) {
			continue
		}
		repo = f.Package
		if f.Fixed != "" && !slices.Contains(fixed, short(f.Fixed)) {
			fixed = append(fixed, short(f.Fixed))
		}
	}
	w := "base image " + repo + " has " + strings.Join(base, ", ")
	if len(fixed) > 0 {
		w += "; fixed in " + strings.Join(fixed, ", ")
	}
	return w
}

// fixedBase reports whether the image's base reference now resolves to a
// base that fixes the base advisories: one of their fixed digests, or a
// digest other than the image's base and than every affected one. A base
// of another product version (an OpenShift minor) never qualifies.
func fixedBase(s *imageState, findings []advisory.Finding, base []string) bool {
	if s.baseNow == "" || s.baseName == "" {
		return false
	}
	if v := refVersion(s.baseName); v != "" {
		for _, f := range findings {
			if f.Match == advisory.MatchBaseImage && slices.Contains(base, f.Advisory) && f.ImageCPE != "" && cpeVersion(f.ImageCPE) != v {
				return false
			}
		}
	}
	fixedDigest, affected := false, s.baseNow == s.baseDigest
	for _, f := range findings {
		if f.Match != advisory.MatchBaseImage || !slices.Contains(base, f.Advisory) {
			continue
		}
		if f.Fixed == s.baseNow {
			fixedDigest = true
		}
		if f.Installed == s.baseNow {
			affected = true
		}
	}
	return fixedDigest || !affected
}

var minorRe = regexp.MustCompile(`^v?(\d+\.\d+)`)

// refVersion is the "major.minor" of an image reference's tag
// ("registry.redhat.io/openshift4/ose-cli:v4.16" → "4.16"), or "".
func refVersion(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	if m := minorRe.FindStringSubmatch(ref[i+1:]); m != nil {
		return m[1]
	}
	return ""
}

// cpeVersion is the version field of a CPE ("cpe:/a:redhat:openshift:4.16" → "4.16").
func cpeVersion(cpe string) string {
	f := strings.Split(strings.TrimPrefix(cpe, "cpe:/"), ":")
	if len(f) < 4 {
		return ""
	}
	return f[3]
}

// method picks the rebase fast path when the image's packages all live in
// its base's layers (so a new base brings the fixes) and a rebaser is
// configured; otherwise a build from source.
func method(s *imageState, reason Reason, canRebase bool) Method {
	if reason == ReasonManual && s.img.Source != nil {
		return MethodBuild // a rebase onto a base that did not move changes nothing
	}
	if canRebase && s.baseName != "" && (s.rpmdbInBase || reason != ReasonAffected) {
		return MethodRebase
	}
	return MethodBuild
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
