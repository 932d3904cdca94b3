package abs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/internal/store"
)

func TestFreezeWindows(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone data")
	}
	weekend := FreezeWindow{Days: []time.Weekday{time.Saturday, time.Sunday}, Location: paris}
	night := FreezeWindow{Days: []time.Weekday{time.Friday}, From: 18 * time.Hour, To: 6 * time.Hour, Builds: true}
	ws := []FreezeWindow{weekend, night}
	for _, tc := range []struct {
		name   string
		at     time.Time
		builds bool
		until  time.Time // zero: not frozen
	}{
		{"friday noon", time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), false, time.Time{}},
		{"friday night chains into the weekend", time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC), false,
			time.Date(2026, 12, 7, 0, 0, 0, 0, paris)},
		{"friday night holds builds until 06:00", time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC), true,
			time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)},
		{"saturday in Paris is still friday in New York", time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC), false,
			time.Date(2026, 12, 7, 0, 0, 0, 0, paris)},
		{"monday", time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), false, time.Time{}},
		{"sunday, builds not frozen", time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC), true, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			until, ok := frozenUntil(ws, tc.at, tc.builds)
			assert.Equal(t, !tc.until.IsZero(), ok)
			if ok {
				assert.True(t, tc.until.Equal(until), "until %s, want %s", until, tc.until)
			}
		})
	}
	assert.Error(t, FreezeWindow{From: 25 * time.Hour}.Validate())
	assert.NoError(t, night.Validate())
}

func TestBudgetUsage(t *testing.T) {
	b := Budgets{Global: 3, PerProject: 2, PerRegistry: 2, Registries: map[string]int{"quay.io": 1}}
	e := func(p, r string) store.QueueEntry { return store.QueueEntry{Project: p, Registry: r} }
	u := newUsage(b, []store.QueueEntry{e("a", "quay.io")})
	assert.False(t, u.fits(e("b", "quay.io")), "quay.io has a budget of 1")
	assert.True(t, u.fits(e("a", "reg.example")))
	u.add(e("a", "reg.example"))
	assert.False(t, u.fits(e("a", "ghcr.io")), "project a is at 2")
	assert.True(t, u.fits(e("b", "reg.example")))
	u.add(e("b", "reg.example"))
	assert.True(t, u.full())
	assert.False(t, u.fits(e("c", "ghcr.io")), "global budget")
	assert.Equal(t, "quay.io", registryOf("quay.io/ns/app"))
	assert.Equal(t, "index.docker.io", registryOf("library/busybox"))
}
