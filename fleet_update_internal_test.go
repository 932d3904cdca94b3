package abs

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/rpmscan"
)

// dumpFleet spells out what a fleet cache answers: each name's group and
// packages, and the reverse index by package name.
func dumpFleet(c *fleetCache) []string {
	var out []string
	for i, n := range c.names {
		gi := c.nameGroup[i]
		if gi < 0 {
			out = append(out, n+" -> no record")
			continue
		}
		g := c.groups[gi]
		line := fmt.Sprintf("%s -> %s %s:", n, g.key, c.digests[i])
		for _, p := range c.inventory(g).Packages {
			line += " " + p.Name + "-" + p.Version + "-" + p.Release
		}
		out = append(out, line)
	}
	for name, id := range c.nameID {
		var post []string
		for k := c.postOff[id]; k < c.postOff[id+1]; k++ {
			if g := c.layerKeys[c.postLayer[k]]; c.layers[g] != nil {
				p := c.pkgs[c.postPkg[k]]
				post = append(post, g+" "+p.Version+"-"+p.Release)
			}
		}
		slices.Sort(post)
		if len(post) > 0 {
			out = append(out, fmt.Sprintf("%s: %v", name, post))
		}
	}
	slices.Sort(out)
	return out
}

// TestFleetCacheUpdate: a cache brought up to date from the records that
// changed answers as one loaded whole, for images moved to new digests,
// rescanned under the same digest onto new layers with new packages, moved
// onto a layer stored before migration 7, and whose record went; and a
// change of most of the fleet is loaded whole.
func TestFleetCacheUpdate(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "fleet.db"))
		require.NoError(t, err)
		defer db.Close()
		testFleetCacheUpdate(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := store.OpenPostgres(t.Context(), storetest.PostgresDSN(t))
		require.NoError(t, err)
		defer db.Close()
		testFleetCacheUpdate(t, db)
	})
}

func testFleetCacheUpdate(t *testing.T, db *store.DB) {
	ctx := t.Context()
	require.NoError(t, db.Migrate(ctx))
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	put := func(name, digest, layer string, pkgs ...string) {
		t.Helper()
		inv := &rpmscan.Inventory{Image: rpmscan.ImageInfo{Digest: digest}, OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"},
			RPMDB: &rpmscan.RPMDB{Path: "var/lib/rpm/rpmdb.sqlite", Backend: "sqlite", LayerDigest: layer}}
		for _, p := range pkgs {
			inv.Packages = append(inv.Packages, rpmscan.Package{Name: p, Version: "1.0", Release: layer[len(layer)-1:] + ".el9", Arch: "x86_64"})
		}
		require.NoError(t, store.PutInventory(ctx, db, inv, "", now))
		require.NoError(t, store.SetManaged(ctx, db, name, digest, now))
	}
	for i := range 12 {
		put(fmt.Sprintf("app-%02d", i), fmt.Sprintf("sha256:%02d", i), fmt.Sprintf("sha256:layer%d", i%3), "glibc", "bash", "zlib")
	}
	o := &Orchestrator{db: db}
	check := func(step string, wantUpdate bool) {
		t.Helper()
		before := o.fcache
		got, err := o.fleetCache(ctx)
		require.NoError(t, err, step)
		require.NotSame(t, before, got, "%s: the generation moved", step)
		require.Equal(t, wantUpdate, !got.whole, "%s: updated rather than loaded whole", step)
		want, err := (&Orchestrator{db: db}).fleetCache(ctx)
		require.NoError(t, err)
		require.Equal(t, dumpFleet(want), dumpFleet(got), step)
	}
	_, err := o.fleetCache(ctx)
	require.NoError(t, err)

	put("app-01", "sha256:new01", "sha256:layer2", "glibc", "bash", "zlib")
	check("a new digest on a known layer", true)

	put("app-02", "sha256:02", "sha256:layer7", "glibc", "openssl-libs") // same digest, new layer and packages
	check("the same digest scanned again", true)

	put("app-02", "sha256:new02", "sha256:layer0", "glibc", "bash", "zlib") // layer7 no longer used
	check("a layer left behind", true)

	_, err = db.Exec(ctx, `INSERT INTO abs_layer (digest, packages, scanned_at) VALUES ($1, $2, $3)`, "sha256:legacy9",
		`[{"name":"glibc","epoch":0,"version":"0.9","release":"9.el9","arch":"x86_64"},{"name":"curl","epoch":0,"version":"0.9","release":"9.el9","arch":"x86_64"}]`, now.UnixNano())
	require.NoError(t, err)
	put("app-03", "sha256:new03", "sha256:legacy9", "ignored") // the layer is stored: only the record is written
	check("moved onto a layer stored before migration 7", true)

	_, err = db.Exec(ctx, `DELETE FROM abs_image WHERE digest = 'sha256:04'`)
	require.NoError(t, err)
	require.NoError(t, store.SetManaged(ctx, db, "app-05", "sha256:00", now)) // and one onto another's digest
	check("a record gone", true)

	for i := range 8 {
		put(fmt.Sprintf("app-%02d", i), fmt.Sprintf("sha256:re%02d", i), fmt.Sprintf("sha256:layer%d", 3+i%2), "glibc", "bash")
	}
	check("most of the fleet changed", false)
}
