package abs

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
)

// overlay is what a dry run's sync would store: each batch applied by
// advisory.ApplyBatch to memory, over the stored advisories and VEX
// documents. A dry run matches and grades against it and stores nothing,
// so the real run after it finds the same new advisories.
type overlay struct {
	q       store.Querier
	now     time.Time
	advs    map[string]advisory.Advisory
	vex     map[string]advisory.VEX
	deleted map[string]bool
}

var _ advisory.Sink = (*overlay)(nil)

func newOverlay(q store.Querier, now time.Time) *overlay {
	return &overlay{q: q, now: now, advs: map[string]advisory.Advisory{}, vex: map[string]advisory.VEX{}, deleted: map[string]bool{}}
}

type overlayKey struct{}

func withOverlay(ctx context.Context, ov *overlay) context.Context {
	return context.WithValue(ctx, overlayKey{}, ov)
}

// overlayOf returns the dry run's overlay, or nil outside a dry run.
func overlayOf(ctx context.Context) *overlay {
	ov, _ := ctx.Value(overlayKey{}).(*overlay)
	return ov
}

func (ov *overlay) Updated(ctx context.Context, id string, vex bool) (time.Time, bool, error) {
	if vex {
		if v, ok := ov.vex[id]; ok {
			return v.Updated, true, nil
		}
	} else if a, ok := ov.advs[id]; ok {
		return a.Updated, true, nil
	}
	if ov.deleted[id] {
		return time.Time{}, false, nil
	}
	return store.Sink(ov.q, ov.now).Updated(ctx, id, vex)
}

func (ov *overlay) PutAdvisory(ctx context.Context, a advisory.Advisory) (bool, error) {
	doc, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	if old, ok := ov.advs[a.ID]; ok {
		od, _ := json.Marshal(old)
		if string(od) == string(doc) {
			return false, nil
		}
	} else if !ov.deleted[a.ID] {
		old, ok, err := store.AdvisoryDoc(ctx, ov.q, a.ID)
		if err != nil {
			return false, err
		}
		if ok && old == string(doc) {
			return false, nil
		}
	}
	ov.advs[a.ID] = a
	return true, nil
}

func (ov *overlay) PutVEX(ctx context.Context, v advisory.VEX) (bool, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	if old, ok := ov.vex[v.CVE]; ok {
		od, _ := json.Marshal(old)
		if string(od) == string(doc) {
			return false, nil
		}
	} else if !ov.deleted[v.CVE] {
		old, ok, err := store.VEXDoc(ctx, ov.q, v.CVE)
		if err != nil {
			return false, err
		}
		if ok && old == string(doc) {
			return false, nil
		}
	}
	ov.vex[v.CVE] = v
	return true, nil
}

func (ov *overlay) IDs(ctx context.Context, source string) ([]string, []string, error) {
	advs, vex, err := store.Sink(ov.q, ov.now).IDs(ctx, source)
	if err != nil {
		return nil, nil, err
	}
	keep := func(ids []string) []string {
		return slices.DeleteFunc(ids, func(id string) bool { return ov.deleted[id] })
	}
	advs, vex = keep(advs), keep(vex)
	for id, a := range ov.advs {
		if a.Source == source {
			advs = append(advs, id)
		}
	}
	for id, v := range ov.vex {
		if v.Source == source {
			vex = append(vex, id)
		}
	}
	sort.Strings(advs)
	sort.Strings(vex)
	return slices.Compact(advs), slices.Compact(vex), nil
}

func (ov *overlay) Delete(ctx context.Context, id string) (bool, error) {
	_, inA := ov.advs[id]
	_, inV := ov.vex[id]
	delete(ov.advs, id)
	delete(ov.vex, id)
	if ov.deleted[id] {
		return inA || inV, nil
	}
	_, sa, err := store.AdvisoryDoc(ctx, ov.q, id)
	if err != nil {
		return false, err
	}
	_, sv, err := store.VEXDoc(ctx, ov.q, id)
	if err != nil {
		return false, err
	}
	ov.deleted[id] = true
	return inA || inV || sa || sv, nil
}

// advisories returns the stored advisories with the overlay applied.
func (ov *overlay) advisories(stored []advisory.Advisory) []advisory.Advisory {
	var out []advisory.Advisory
	for _, a := range stored {
		if _, ok := ov.advs[a.ID]; !ok && !ov.deleted[a.ID] {
			out = append(out, a)
		}
	}
	for _, id := range sortedKeys(ov.advs) {
		out = append(out, ov.advs[id])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// vexDocs returns the stored VEX documents with the overlay applied.
func (ov *overlay) vexDocs(stored []advisory.VEX) []advisory.VEX {
	var out []advisory.VEX
	for _, v := range stored {
		if _, ok := ov.vex[v.CVE]; !ok && !ov.deleted[v.CVE] {
			out = append(out, v)
		}
	}
	for _, id := range sortedKeys(ov.vex) {
		out = append(out, ov.vex[id])
	}
	return out
}
