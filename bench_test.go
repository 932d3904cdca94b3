package abs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rpmscan"
)

// fleetSpec shapes a synthetic fleet: images over shared bases, some with
// their own rpmdb layer (they installed packages on top of their base).
type fleetSpec struct {
	images, bases, pkgs, ownLayerEvery, advisories int
	// indexes of the images are four-platform indexes (every image i
	// with i%4 == 1 until there are that many): one inventory per
	// platform, on that platform's base layer.
	indexes int
	// universe is how many package names the advisories cover; images
	// install the first pkgs of them.
	universe int
}

var benchFleet = fleetSpec{images: 2000, bases: 20, pkgs: 200, ownLayerEvery: 4, advisories: 3000, universe: 2000, indexes: 500}

// fleetArches are the platforms of a multi-platform image in the fleet,
// as the package architectures their rpmdbs list; advisories fix every
// one.
var fleetArches = []struct{ platform, arch string }{
	{"linux/amd64", "x86_64"}, {"linux/arm64", "aarch64"}, {"linux/ppc64le", "ppc64le"}, {"linux/s390x", "s390x"},
}

// isIndex reports whether image i of s is a four-platform index.
func (s fleetSpec) isIndex(i int) bool { return i%4 == 1 && i/4 < s.indexes }

// fixesAllArches is fix for every architecture of fleetArches.
func fixesAllArches(f advisory.Fix) []advisory.Fix {
	out := make([]advisory.Fix, len(fleetArches))
	for i, a := range fleetArches {
		out[i] = f
		out[i].Arch = a.arch
	}
	return out
}

var fleetNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func pkgName(i int) string {
	if i == 0 {
		return "openssl-libs"
	}
	return fmt.Sprintf("pkg-%03d", i)
}

// seedFleet stores inventories and advisories straight into a database,
// as earlier cycles would have, and returns the database path.
func seedFleet(tb testing.TB, s fleetSpec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "fleet.db")
	seedFleetAt(tb, path, s)
	return path
}

// seedFleetAt seeds a fleet into a new SQLite database at path.
func seedFleetAt(tb testing.TB, path string, s fleetSpec) {
	tb.Helper()
	db, err := store.OpenSQLite(context.Background(), path)
	require.NoError(tb, err)
	defer db.Close()
	seedFleetInto(tb, db, s)
}

// seedFleetInto seeds a fleet into a new database of either dialect.
func seedFleetInto(tb testing.TB, db *store.DB, s fleetSpec) {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, db.Migrate(ctx))
	base := func(b int, arch string) []rpmscan.Package {
		var out []rpmscan.Package
		for p := range s.pkgs {
			out = append(out, rpmscan.Package{Name: pkgName(p), Version: "1.0", Release: fmt.Sprintf("%d.el9", b+1), Arch: arch})
		}
		return out
	}
	err := db.InTx(ctx, func(tx store.Tx) error {
		inventory := func(i, plat int) *rpmscan.Inventory {
			b, arch := i%s.bases, fleetArches[plat].arch
			inv := &rpmscan.Inventory{
				Image:    rpmscan.ImageInfo{Digest: fmt.Sprintf("sha256:%d%063x", plat, i+1)},
				OS:       rpmscan.OS{ID: "rhel", VersionID: "9.4"},
				Packages: base(b, arch),
				RPMDB:    &rpmscan.RPMDB{Path: "var/lib/rpm/rpmdb.sqlite", Backend: "sqlite", LayerDigest: fmt.Sprintf("sha256:base%d%059x", plat, b)},
			}
			if s.ownLayerEvery > 0 && i%s.ownLayerEvery == 0 {
				inv.RPMDB.LayerDigest = fmt.Sprintf("sha256:own%d%060x", plat, i)
				inv.Packages = append(inv.Packages, rpmscan.Package{Name: fmt.Sprintf("app-%d", i%50), Version: "2.0", Release: "1.el9", Arch: arch})
			}
			return inv
		}
		for i := range s.images {
			n := fmt.Sprintf("app-%04d", i)
			if !s.isIndex(i) {
				inv := inventory(i, 0)
				if err := store.PutInventory(ctx, tx, inv, "", fleetNow); err != nil {
					return err
				}
				if err := store.SetManaged(ctx, tx, n, inv.Image.Digest, fleetNow); err != nil {
					return err
				}
				continue
			}
			plats := map[string]string{}
			for p := range fleetArches {
				inv := inventory(i, p)
				if err := store.PutInventory(ctx, tx, inv, "", fleetNow); err != nil {
					return err
				}
				plats[fleetArches[p].platform] = inv.Image.Digest
			}
			if err := store.SetManaged(ctx, tx, n, fmt.Sprintf("sha256:f%063x", i+1), fleetNow); err != nil {
				return err
			}
			if err := store.SetManagedPlatforms(ctx, tx, n, plats, fleetNow); err != nil {
				return err
			}
		}
		for k := range s.advisories {
			sev := []advisory.Severity{advisory.SeverityLow, advisory.SeverityModerate, advisory.SeverityImportant, advisory.SeverityCritical}[k%4]
			a := advisory.Advisory{ID: fmt.Sprintf("RHSA-2025:%04d", k), Type: advisory.TypeSecurity, Severity: sev,
				Issued: fleetNow.Add(-time.Duration(k%700) * 24 * time.Hour), Source: "bench",
				Fixes: fixesAllArches(advisory.Fix{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
					Name: pkgName(1 + k%(s.universe-1)), Version: "1.0", Release: fmt.Sprintf("%d.el9", k%(2*s.bases))})}
			if _, err := store.PutAdvisory(ctx, tx, a, fleetNow); err != nil {
				return err
			}
		}
		// The new advisory: openssl-libs, which every base ships.
		_, err := store.PutAdvisory(ctx, tx, newAdvisory(s), fleetNow)
		return err
	})
	require.NoError(tb, err)
}

func newAdvisory(s fleetSpec) advisory.Advisory {
	return advisory.Advisory{ID: "RHSA-2026:9999", Type: advisory.TypeSecurity, Severity: advisory.SeverityImportant,
		Issued: fleetNow.Add(-24 * time.Hour), Source: "bench",
		Fixes: fixesAllArches(advisory.Fix{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
			Name: "openssl-libs", Version: "1.0", Release: fmt.Sprintf("%d.el9", s.bases/2+1)})}
}

func openFleet(tb testing.TB, path string) *abs.Orchestrator {
	tb.Helper()
	db, err := abs.OpenSQLite(context.Background(), path)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	o, err := abs.New(context.Background(), db, nil, abs.WithClock(func() time.Time { return fleetNow }))
	require.NoError(tb, err)
	return o
}

func TestFleetAffectedAndRegrade(t *testing.T) {
	s := fleetSpec{images: 200, bases: 20, pkgs: 30, ownLayerEvery: 4, advisories: 100, universe: 60, indexes: 20}
	o := openFleet(t, seedFleet(t, s))
	got, err := o.Affected(t.Context(), "RHSA-2026:9999")
	require.NoError(t, err)
	// Bases 0..9 carry openssl-libs releases 1..10, older than the fix
	// (11); bases 10..19 carry 11..20, not older.
	var want []string
	for i := range s.images {
		if i%s.bases < s.bases/2 {
			want = append(want, fmt.Sprintf("app-%04d", i))
		}
	}
	assert.Equal(t, want, got)
	grades, err := o.Regrade(t.Context())
	require.NoError(t, err)
	require.Len(t, grades, s.images, "one grade per image, an index's platforms folded into it")
	indexes := 0
	for i, g := range grades {
		assert.NotEmpty(t, g.Grade)
		if !s.isIndex(i) {
			assert.Empty(t, g.Platforms, g.Image)
			continue
		}
		indexes++
		require.Len(t, g.Platforms, len(fleetArches), g.Image)
		worst := g.Platforms[0].Grade
		for j, p := range g.Platforms {
			assert.Equal(t, fleetArches[j].platform, p.Platform)
			worst = max(worst, p.Grade)
		}
		assert.Equal(t, worst, g.Grade, "%s: the worst platform's grade", g.Image)
		assert.Equal(t, fmt.Sprintf("sha256:f%063x", i+1), g.Digest, "the index digest")
	}
	assert.Equal(t, s.indexes, indexes)
}

// BenchmarkFleetAffected: a new advisory, 2,000 stored images over 20 bases
// (500 of them four-platform indexes, 3,500 platform images):
// the time to its affected set (reverse index, then matching only the
// candidates). The fleet benchmarks run with
//
//	go test -run x -bench Fleet -benchtime 3x .
func BenchmarkFleetAffected(b *testing.B) {
	o := openFleet(b, seedFleet(b, benchFleet))
	ctx := context.Background()
	if _, err := o.Affected(ctx, "RHSA-2026:9999"); err != nil { // loads the fleet
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for b.Loop() {
		got, err := o.Affected(ctx, "RHSA-2026:9999")
		if err != nil {
			b.Fatal(err)
		}
		n = len(got)
	}
	b.ReportMetric(float64(n), "affected")
	b.ReportMetric(float64(benchFleet.indexes), "indexes")
}

// BenchmarkFleetRegrade: grade all 2,000 stored images (500 four-platform
// indexes, graded per platform and then as a whole) against 3,000 stored
// advisories (matcher built once and cached, as between cycles).
func BenchmarkFleetRegrade(b *testing.B) {
	o := openFleet(b, seedFleet(b, benchFleet))
	ctx := context.Background()
	if _, err := o.Regrade(ctx); err != nil { // builds the matcher
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for b.Loop() {
		g, err := o.Regrade(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n = len(g)
	}
	b.ReportMetric(float64(n), "images")
	b.ReportMetric(float64(platformImages(benchFleet)), "platform-images")
}

// BenchmarkFleetAffectedCold is BenchmarkFleetAffected in a process that has not
// read the fleet yet (or after another process changed it): the stored
// fleet is loaded first.
func BenchmarkFleetAffectedCold(b *testing.B) {
	path := seedFleet(b, benchFleet)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		o := openFleet(b, path)
		b.StartTimer()
		if _, err := o.Affected(ctx, "RHSA-2026:9999"); err != nil {
			b.Fatal(err)
		}
	}
}

// platformImages counts the platform images of a fleet: one per single
// image, four per index.
func platformImages(s fleetSpec) int {
	n := 0
	for i := range s.images {
		if s.isIndex(i) {
			n += len(fleetArches)
		} else {
			n++
		}
	}
	return n
}
