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
	// universe is how many package names the advisories cover; images
	// install the first pkgs of them.
	universe int
}

var benchFleet = fleetSpec{images: 2000, bases: 20, pkgs: 200, ownLayerEvery: 4, advisories: 3000, universe: 2000}

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
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "fleet.db")
	db, err := store.OpenSQLite(ctx, path)
	require.NoError(tb, err)
	defer db.Close()
	require.NoError(tb, db.Migrate(ctx))
	base := func(b int) []rpmscan.Package {
		var out []rpmscan.Package
		for p := range s.pkgs {
			out = append(out, rpmscan.Package{Name: pkgName(p), Version: "1.0", Release: fmt.Sprintf("%d.el9", b+1), Arch: "x86_64"})
		}
		return out
	}
	err = db.InTx(ctx, func(tx store.Tx) error {
		for i := range s.images {
			b := i % s.bases
			inv := &rpmscan.Inventory{
				Image:    rpmscan.ImageInfo{Digest: fmt.Sprintf("sha256:%064x", i+1)},
				OS:       rpmscan.OS{ID: "rhel", VersionID: "9.4"},
				Packages: base(b),
				RPMDB:    &rpmscan.RPMDB{Path: "var/lib/rpm/rpmdb.sqlite", Backend: "sqlite", LayerDigest: fmt.Sprintf("sha256:base%060x", b)},
			}
			if s.ownLayerEvery > 0 && i%s.ownLayerEvery == 0 {
				inv.RPMDB.LayerDigest = fmt.Sprintf("sha256:own%061x", i)
				inv.Packages = append(inv.Packages, rpmscan.Package{Name: fmt.Sprintf("app-%d", i%50), Version: "2.0", Release: "1.el9", Arch: "x86_64"})
			}
			if err := store.PutInventory(ctx, tx, inv, "", fleetNow); err != nil {
				return err
			}
			if err := store.SetManaged(ctx, tx, fmt.Sprintf("app-%04d", i), inv.Image.Digest, fleetNow); err != nil {
				return err
			}
		}
		for k := range s.advisories {
			sev := []advisory.Severity{advisory.SeverityLow, advisory.SeverityModerate, advisory.SeverityImportant, advisory.SeverityCritical}[k%4]
			a := advisory.Advisory{ID: fmt.Sprintf("RHSA-2025:%04d", k), Type: advisory.TypeSecurity, Severity: sev,
				Issued: fleetNow.Add(-time.Duration(k%700) * 24 * time.Hour), Source: "bench",
				Fixes: []advisory.Fix{{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
					Name: pkgName(1 + k%(s.universe-1)), Version: "1.0", Release: fmt.Sprintf("%d.el9", k%(2*s.bases)), Arch: "x86_64"}}}
			if _, err := store.PutAdvisory(ctx, tx, a, fleetNow); err != nil {
				return err
			}
		}
		// The new advisory: openssl-libs, which every base ships.
		_, err := store.PutAdvisory(ctx, tx, newAdvisory(s), fleetNow)
		return err
	})
	require.NoError(tb, err)
	return path
}

func newAdvisory(s fleetSpec) advisory.Advisory {
	return advisory.Advisory{ID: "RHSA-2026:9999", Type: advisory.TypeSecurity, Severity: advisory.SeverityImportant,
		Issued: fleetNow.Add(-24 * time.Hour), Source: "bench",
		Fixes: []advisory.Fix{{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
			Name: "openssl-libs", Version: "1.0", Release: fmt.Sprintf("%d.el9", s.bases/2+1), Arch: "x86_64"}}}
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
	s := fleetSpec{images: 200, bases: 20, pkgs: 30, ownLayerEvery: 4, advisories: 100, universe: 60}
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
	require.Len(t, grades, s.images)
	for _, g := range grades {
		assert.NotEmpty(t, g.Grade)
	}
}

// BenchmarkAffected: a new advisory, 2,000 stored images over 20 bases:
// the time to its affected set (reverse index, then matching only the
// candidates).
func BenchmarkAffected(b *testing.B) {
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
}

// BenchmarkRegrade: grade all 2,000 stored images against 3,000 stored
// advisories (matcher built once and cached, as between cycles).
func BenchmarkRegrade(b *testing.B) {
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
}

// BenchmarkAffectedCold is BenchmarkAffected in a process that has not
// read the fleet yet (or after another process changed it): the stored
// fleet is loaded first.
func BenchmarkAffectedCold(b *testing.B) {
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
