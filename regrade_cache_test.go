package abs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rpmscan"
)

// TestRegradeFromNextChange: one orchestrator regrades a fleet again and
// again while time moves on by random steps, advisories arrive and
// images move to other digests; after every step its grades (kept
// between regrades and explained again only past their next change)
// equal those of a new orchestrator on the same database, which computes
// everything.
func TestRegradeFromNextChange(t *testing.T) {
	s := fleetSpec{images: 120, bases: 12, pkgs: 20, ownLayerEvery: 3, advisories: 80, universe: 30, indexes: 15}
	path := seedFleet(t, s)
	ctx := context.Background()
	now := fleetNow
	clock := func() time.Time { return now }
	open := func() *abs.Orchestrator {
		db, err := abs.OpenSQLite(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		o, err := abs.New(ctx, db, nil, abs.WithClock(clock))
		require.NoError(t, err)
		return o
	}
	kept := open()
	sdb, err := store.OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer sdb.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	changes := map[string]int{}
	affected := 0
	for step := range 60 {
		switch r := rng.IntN(10); {
		case r < 6:
			now = now.Add(time.Duration(rng.IntN(40*24)) * time.Hour)
			changes["time"]++
		case r < 8:
			fix := advisory.Fix{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
				Name: pkgName(rng.IntN(s.pkgs)), Version: "1.0", Release: fmt.Sprintf("%d.el9", 1+rng.IntN(2*s.bases))}
			if rng.IntN(3) == 0 { // a package only some images added on their base
				fix.Name, fix.Version, fix.Release = fmt.Sprintf("app-%d", 3*rng.IntN(10)), "2.0", "2.el9"
			}
			a := advisory.Advisory{ID: fmt.Sprintf("RHSA-2026:%04d", 5000+step), Type: advisory.TypeSecurity,
				Severity: advisory.Severity(1 + rng.IntN(4)), Issued: now.Add(-time.Duration(rng.IntN(200)) * 24 * time.Hour), Source: "test",
				Fixes: fixesAllArches(fix)}
			if rng.IntN(2) == 0 { // and a second package
				fix.Name, fix.Version, fix.Release = pkgName(rng.IntN(s.pkgs)), "1.0", fmt.Sprintf("%d.el9", 1+rng.IntN(2*s.bases))
				a.Fixes = append(a.Fixes, fixesAllArches(fix)...)
			}
			_, err := store.PutAdvisory(ctx, sdb, a, now)
			require.NoError(t, err)
			affected += checkAffected(t, kept, sdb, a)
			changes["advisory"]++
		default:
			// Images rebuilt: onto another base layer, onto a layer never
			// seen (with packages the store does not hold yet), or scanned
			// again under the same digest (the record's revision moves);
			// now and then many at once, which a full load answers.
			n := 1
			if rng.IntN(8) == 0 || step > 40 && changes["many images"] == 0 {
				n = s.images
				changes["many images"]++
			}
			managed, err := store.Managed(ctx, sdb)
			require.NoError(t, err)
			for k := range n {
				i := rng.IntN(s.images)
				if s.isIndex(i) {
					continue
				}
				name := fmt.Sprintf("app-%04d", i)
				digest := fmt.Sprintf("sha256:e%055x%08x", step, k)
				b := rng.IntN(s.bases)
				layer := fmt.Sprintf("sha256:base0%059x", b)
				release := func(int) string { return fmt.Sprintf("%d.el9", b+1) }
				switch rng.IntN(3) {
				case 0:
					layer = fmt.Sprintf("sha256:new%053x%08x", step, k)
					release = func(p int) string { return fmt.Sprintf("%d.el9", 1+(b+p+step)%(2*s.bases)) }
					changes["new layer"]++
				case 1:
					digest = managed[name]
					changes["same digest"]++
				}
				inv := &rpmscan.Inventory{Image: rpmscan.ImageInfo{Digest: digest}, OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"},
					RPMDB: &rpmscan.RPMDB{Path: "var/lib/rpm/rpmdb.sqlite", Backend: "sqlite", LayerDigest: layer}}
				for p := range s.pkgs {
					inv.Packages = append(inv.Packages, rpmscan.Package{Name: pkgName(p), Version: "1.0", Release: release(p), Arch: "x86_64"})
				}
				if rng.IntN(2) == 0 {
					inv.Packages = append(inv.Packages, rpmscan.Package{Name: fmt.Sprintf("app-%d", 3*rng.IntN(10)), Version: "1.9", Release: "1.el9", Arch: "x86_64"})
				}
				require.NoError(t, store.PutInventory(ctx, sdb, inv, "", now))
				require.NoError(t, store.SetManaged(ctx, sdb, name, digest, now))
				changes["image"]++
			}
		}
		// Two regrades at once share the kept results.
		var other []abs.ImageGrade
		var otherErr error
		done := make(chan struct{})
		go func() { defer close(done); other, otherErr = kept.Regrade(ctx) }()
		got, err := kept.Regrade(ctx)
		require.NoError(t, err)
		<-done
		require.NoError(t, otherErr)
		want, err := open().Regrade(ctx)
		require.NoError(t, err)
		require.Equal(t, want, got, "step %d at %s", step, now)
		require.Equal(t, want, other, "step %d at %s, the concurrent regrade", step, now)
		checkAgainstIndex(t, sdb, got)
	}
	require.Greater(t, changes["time"], 10)
	require.Greater(t, changes["advisory"], 3)
	require.Greater(t, changes["image"], 3)
	for _, k := range []string{"new layer", "same digest", "many images"} {
		require.Positive(t, changes[k], k)
	}
	require.Positive(t, affected, "some new advisory affected images")
}

// checkAgainstIndex matches every graded image's stored inventory (each
// platform's, for an index) on its own against an index of the stored
// advisories: grouping and signatures change nothing.
func checkAgainstIndex(t *testing.T, db *store.DB, grades []abs.ImageGrade) {
	t.Helper()
	ctx := context.Background()
	advs, err := store.Advisories(ctx, db)
	require.NoError(t, err)
	ix := advisory.NewIndex(advs)
	managed, err := store.Managed(ctx, db)
	require.NoError(t, err)
	flagged := 0
	for _, g := range grades {
		if len(g.Platforms) == 0 {
			inv, err := store.Inventory(ctx, db, managed[g.Image])
			require.NoError(t, err)
			want := ix.Match(inv)
			require.Equal(t, len(want), len(g.Findings), g.Image)
			if len(want) > 0 {
				require.Equal(t, want, g.Findings, g.Image)
				flagged++
			}
			continue
		}
		for _, p := range g.Platforms {
			inv, err := store.Inventory(ctx, db, managed[store.PlatformKey(g.Image, p.Platform)])
			require.NoError(t, err)
			want := ix.Match(inv)
			require.Equal(t, len(want), len(p.Findings), "%s %s", g.Image, p.Platform)
			if len(want) > 0 {
				require.Equal(t, want, p.Findings, "%s %s", g.Image, p.Platform)
			}
		}
	}
	require.Positive(t, flagged)
}

// checkAffected compares Affected with matching every managed image's
// stored inventories (each platform's, for an index) against the
// advisory alone.
func checkAffected(t *testing.T, o *abs.Orchestrator, db *store.DB, a advisory.Advisory) int {
	t.Helper()
	ctx := context.Background()
	got, err := o.Affected(ctx, a.ID)
	require.NoError(t, err)
	ix := advisory.NewIndex([]advisory.Advisory{a})
	managed, err := store.Managed(ctx, db)
	require.NoError(t, err)
	var want []string
	for k, d := range managed {
		inv, err := store.Inventory(ctx, db, d)
		if errors.Is(err, store.ErrNotFound) {
			continue // an index's own digest
		}
		require.NoError(t, err)
		if len(ix.Match(inv)) > 0 {
			n, _, _ := store.SplitPlatformKey(k)
			if !slices.Contains(want, n) {
				want = append(want, n)
			}
		}
	}
	slices.Sort(want)
	require.Equal(t, want, got, a.ID)
	return len(want)
}
