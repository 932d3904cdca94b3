package abs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/internal/store/storetest"
)

// bigFleet is a large partner program's fleet: 100,000 images over 200
// bases, a quarter of them four-platform indexes (175,000 platform
// images), a quarter with their own rpmdb layer (25,800 layers in all),
// 200 packages a base, 3,000 stored advisories. The benchmarks on it are
// skipped under -short and run with
//
//	go test -run '^$' -bench Fleet100k -benchtime 5x -timeout 60m .
//
// Seeding it takes a minute or two on SQLite and several on PostgreSQL,
// once per test process (see bigFleetEnv).
var bigFleet = fleetSpec{images: 100000, bases: 200, pkgs: 200, ownLayerEvery: 4, advisories: 3000, universe: 2000, indexes: 25000}

// bigFleetEnv names a directory that keeps the seeded SQLite fleet
// between runs (seeded when it holds none): for profiling. Remove it after
// changing the schema or the fleet. bigFleetPGEnv is the same for a
// PostgreSQL database (a DSN; seeded when it has no managed image).
const (
	bigFleetEnv   = "ABS_BENCH_FLEET_DIR"
	bigFleetPGEnv = "ABS_BENCH_FLEET_PG"
)

var (
	bigOnce    sync.Once
	bigPath    string
	bigPGOnce  sync.Once
	bigPGDSN   string
	bigCleanup []func()
)

// bigFleetSQLite returns the path of a SQLite database holding bigFleet,
// seeded once per process.
func bigFleetSQLite(b *testing.B) string {
	if testing.Short() {
		b.Skip("the 100,000-image fleet is skipped under -short")
	}
	bigOnce.Do(func() {
		dir := os.Getenv(bigFleetEnv)
		if dir != "" {
			if _, err := os.Stat(filepath.Join(dir, "fleet.db")); err == nil {
				bigPath = filepath.Join(dir, "fleet.db")
				return
			}
		} else {
			var err error
			if dir, err = os.MkdirTemp("", "openabs-fleet100k"); err != nil {
				b.Fatal(err)
			}
			bigCleanup = append(bigCleanup, func() { _ = os.RemoveAll(dir) })
		}
		start := time.Now()
		seedFleetAt(b, filepath.Join(dir, "fleet.db"), bigFleet)
		b.Logf("seeded %d images on SQLite in %s", bigFleet.images, time.Since(start).Round(time.Second))
		bigPath = filepath.Join(dir, "fleet.db")
	})
	if bigPath == "" {
		b.Fatal("seeding the fleet failed earlier")
	}
	db, err := store.OpenSQLite(context.Background(), bigPath)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dropBenchAdvisories(b, db) // left by an interrupted run
	return bigPath
}

// dropBenchAdvisories removes the advisories BenchmarkFleet100kRegrade
// adds (RHSA-2026:2xxxx), leaving the fleet as seeded.
func dropBenchAdvisories(b *testing.B, db *store.DB) {
	ctx := context.Background()
	for _, q := range []string{`DELETE FROM abs_advisory_package WHERE advisory LIKE 'RHSA-2026:2____'`,
		`DELETE FROM abs_advisory WHERE id LIKE 'RHSA-2026:2____'`} {
		if _, err := db.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	advs, err := store.AdvisoriesByID(ctx, db, []string{"RHSA-2026:9999"})
	if err == nil && len(advs) == 0 { // removed by an older version of this cleanup
		_, err = store.PutAdvisory(ctx, db, newAdvisory(bigFleet), fleetNow)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// bigFleetPostgres returns the DSN of a PostgreSQL database holding
// bigFleet, seeded once per process.
func bigFleetPostgres(b *testing.B) string {
	if testing.Short() {
		b.Skip("the 100,000-image fleet is skipped under -short")
	}
	bigPGOnce.Do(func() {
		dsn := os.Getenv(bigFleetPGEnv)
		if dsn == "" {
			dsn = storetest.PostgresDSN(b)
		}
		db, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var n int
		if os.Getenv(bigFleetPGEnv) != "" && db.QueryRow(context.Background(), `SELECT COUNT(*) FROM abs_managed`).Scan(&n) == nil && n > 0 {
			bigPGDSN = dsn // seeded by an earlier run
			return
		}
		start := time.Now()
		seedFleetInto(b, db, bigFleet)
		b.Logf("seeded %d images on PostgreSQL in %s", bigFleet.images, time.Since(start).Round(time.Second))
		bigPGDSN = dsn
	})
	if bigPGDSN == "" {
		b.Fatal("seeding the fleet failed earlier")
	}
	return bigPGDSN
}

// openBig opens an orchestrator on a seeded database whose clock reads
// *now.
func openBig(b *testing.B, db *abs.Database, now *time.Time) *abs.Orchestrator {
	b.Helper()
	o, err := abs.New(context.Background(), db, nil, abs.WithClock(func() time.Time { return *now }))
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// openBigStore opens the seeded SQLite fleet at path for writing to it
// directly, closed when b ends.
func openBigStore(b *testing.B, path string) *store.DB {
	sdb, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sdb.Close() })
	return sdb
}

func openBigSQLite(b *testing.B, now *time.Time) *abs.Orchestrator {
	db, err := abs.OpenSQLite(context.Background(), bigFleetSQLite(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return openBig(b, db, now)
}

// BenchmarkFleet100kAffected: a new advisory that affects half of the
// 100,000 images (the bases 0..99 ship an older openssl-libs): the time to
// its affected set, the fleet loaded.
func BenchmarkFleet100kAffected(b *testing.B) {
	now := fleetNow
	o := openBigSQLite(b, &now)
	ctx := context.Background()
	got, err := o.Affected(ctx, "RHSA-2026:9999")
	if err != nil {
		b.Fatal(err)
	}
	if len(got) != bigFleet.images/2 {
		b.Fatalf("affected %d images, want %d", len(got), bigFleet.images/2)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := o.Affected(ctx, "RHSA-2026:9999"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(got)), "affected")
}

// BenchmarkFleet100kRegrade grades the whole fleet:
//   - first: a new orchestrator's first regrade (the fleet loaded already
//     in the timing's eyes is not: see BenchmarkFleet100kLoad), with the
//     matcher built and every distinct signature matched;
//   - new-advisory: an advisory arrives before each regrade, so the
//     matcher is new and everything is matched again;
//   - next-day: the clock moves on a day before each regrade, with the
//     same advisories: results are explained again only past their next
//     change.
func BenchmarkFleet100kRegrade(b *testing.B) {
	ctx := context.Background()
	path := bigFleetSQLite(b)
	check := func(b *testing.B, g []abs.ImageGrade, err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		if len(g) != bigFleet.images {
			b.Fatalf("%d grades, want %d", len(g), bigFleet.images)
		}
	}
	b.Run("first", func(b *testing.B) {
		now := fleetNow
		db, err := abs.OpenSQLite(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			o := openBig(b, db, &now)
			if _, err := o.Affected(ctx, "RHSA-2026:9999"); err != nil { // loads the fleet
				b.Fatal(err)
			}
			b.StartTimer()
			g, err := o.Regrade(ctx)
			check(b, g, err)
		}
	})
	b.Run("new-advisory", func(b *testing.B) {
		now := fleetNow
		o := openBigSQLite(b, &now)
		sdb := openBigStore(b, path)
		g, err := o.Regrade(ctx)
		check(b, g, err)
		b.ReportAllocs()
		k := 0
		for b.Loop() {
			b.StopTimer()
			k++
			a := newAdvisory(bigFleet)
			a.ID = fmt.Sprintf("RHSA-2026:%d", 20000+k)
			a.Fixes = fixesAllArches(advisory.Fix{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
				Name: pkgName(1 + k%(bigFleet.pkgs-1)), Version: "1.0", Release: fmt.Sprintf("%d.el9", 1+k%(2*bigFleet.bases))})
			if _, err := store.PutAdvisory(ctx, sdb, a, now); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			g, err := o.Regrade(ctx)
			check(b, g, err)
		}
		b.StopTimer()
		dropBenchAdvisories(b, sdb)
	})
	b.Run("after-cycle", func(b *testing.B) {
		// A cycle rebuilt 100 images (new digests, their records as
		// before): the regrade brings the fleet up to date first.
		now := fleetNow
		o := openBigSQLite(b, &now)
		sdb := openBigStore(b, path)
		managed, err := store.Managed(ctx, sdb)
		if err != nil {
			b.Fatal(err)
		}
		g, err := o.Regrade(ctx)
		check(b, g, err)
		b.ReportAllocs()
		k := 0
		for b.Loop() {
			b.StopTimer()
			for range 100 {
				k++
				i := (k * 7919) % bigFleet.images
				if bigFleet.isIndex(i) {
					continue
				}
				n := fmt.Sprintf("app-%04d", i)
				inv, err := store.Inventory(ctx, sdb, managed[n])
				if err != nil {
					b.Fatal(err)
				}
				inv.Image.Digest = fmt.Sprintf("sha256:c%015x%048x", time.Now().UnixNano(), k)
				if err := store.PutInventory(ctx, sdb, inv, "", now); err != nil {
					b.Fatal(err)
				}
				if err := store.SetManaged(ctx, sdb, n, inv.Image.Digest, now); err != nil {
					b.Fatal(err)
				}
				managed[n] = inv.Image.Digest
			}
			b.StartTimer()
			g, err := o.Regrade(ctx)
			check(b, g, err)
		}
	})
	b.Run("next-day", func(b *testing.B) {
		now := fleetNow
		o := openBigSQLite(b, &now)
		g, err := o.Regrade(ctx)
		check(b, g, err)
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(24 * time.Hour)
			g, err := o.Regrade(ctx)
			check(b, g, err)
		}
	})
}

// BenchmarkFleet100kLoad: a process that has not read the fleet yet (or
// after another replica changed it) loads it from SQLite or PostgreSQL;
// state-MiB is the heap the loaded fleet holds, graded-MiB the heap once
// a regrade has also kept its results.
func BenchmarkFleet100kLoad(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, db *abs.Database) {
		now := fleetNow
		var o *abs.Orchestrator
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			o = openBig(b, db, &now)
			b.StartTimer()
			if _, err := o.Affected(ctx, "RHSA-2026:9999"); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		o = nil
		var before, loaded, graded runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		o = openBig(b, db, &now)
		if _, err := o.Affected(ctx, "RHSA-2026:9999"); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&loaded)
		if _, err := o.Regrade(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&graded)
		runtime.KeepAlive(o)
		b.ReportMetric(float64(int64(loaded.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "state-MiB")
		b.ReportMetric(float64(int64(graded.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "graded-MiB")
	}
	b.Run("sqlite", func(b *testing.B) {
		db, err := abs.OpenSQLite(ctx, bigFleetSQLite(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		run(b, db)
	})
	b.Run("postgres", func(b *testing.B) {
		db, err := abs.OpenPostgres(ctx, bigFleetPostgres(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		run(b, db)
	})
}
