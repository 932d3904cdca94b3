package abs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

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
	}
	cands := map[string]*cand{}
	for _, s := range states {
		if s.err != nil || !s.img.AutoRebuild {
			continue
		}
		advs, why := policy(*s.img, s.findings)
		switch {
		case len(advs) > 0:
			cands[s.img.Name] = &cand{s: s, advs: advs, reason: ReasonAffected, why: why + ": " + strings.Join(advs, ", ")}
		case s.baseDigest != "" && s.baseNow != "" && s.baseNow != s.baseDigest:
			cands[s.img.Name] = &cand{s: s, reason: ReasonBaseMoved,
				why: fmt.Sprintf("base %s moved from %s to %s", s.baseName, short(s.baseDigest), short(s.baseNow))}
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
		return nil, nil
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
				BeforeGrade: c.s.expl.Grade, Method: method(c.s, c.reason, canRebase)}
			if len(st.Parents) > 0 {
				ps.Parent = st.Parents[0]
				ps.ParentID = ids[ps.Parent]
			}
			switch c.reason {
			case ReasonAffected:
				ps.Key = store.AdvisoryKey(c.advs)
			case ReasonBaseMoved:
				ps.Key = "base:" + c.s.baseNow
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
	return steps, nil
}

// method picks the rebase fast path when the image's packages all live in
// its base's layers (so a new base brings the fixes) and a rebaser is
// configured; otherwise a build from source.
func method(s *imageState, reason Reason, canRebase bool) Method {
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
