package advisory_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/rpmscan"
)

// TestSignatureDecidesMatch: inventories drawn at random from a few OS
// releases, content sets, bases and package builds (some named by the
// advisories, some not); every two with the same signature get the same
// findings and unfixed CVEs, and the packages no advisory names never
// change a signature.
func TestSignatureDecidesMatch(t *testing.T) {
	st, _, err := advisory.Load(t.Context(), []string{"testdata/csaf"})
	require.NoError(t, err)
	ix := st.Index(advisory.WithRepoCPE(advisory.NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-rpms":    {"cpe:/o:redhat:enterprise_linux:9::baseos"},
		"rhel-9-for-x86_64-appstream-rpms": {"cpe:/a:redhat:enterprise_linux:9::appstream"},
	})))
	named := map[string]bool{}
	for _, a := range st.Advisories() {
		for _, f := range a.Fixes {
			named[f.Name] = true
		}
	}
	require.NotEmpty(t, named)
	var pool []rpmscan.Package
	for n := range named {
		for _, r := range []string{"1.el9", "4.el9", "5.el9_4", "99.el9"} {
			pool = append(pool, rpmscan.Package{Name: n, Version: "2.0.1", Release: r, Arch: "x86_64", Epoch: 1})
			pool = append(pool, rpmscan.Package{Name: n, Version: "1.0", Release: r, Arch: "x86_64"})
		}
	}
	unnamed := []rpmscan.Package{{Name: "app-one", Version: "1", Release: "1", Arch: "x86_64"}, {Name: "app-two", Version: "2", Release: "1.el9", Arch: "noarch"}}
	rng := rand.New(rand.NewPCG(1, 2))
	type seen struct {
		inv      *rpmscan.Inventory
		findings []advisory.Finding
		unfixed  []advisory.Unfixed
	}
	bySig := map[advisory.Signature]seen{}
	shared := 0
	for range 3000 {
		inv := &rpmscan.Inventory{OS: []rpmscan.OS{{ID: "rhel", VersionID: "9.4"}, {ID: "rhel", VersionID: "8.10"}, {ID: "rhel"}, {ID: "centos"}}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			inv.ContentSets = []string{"rhel-9-for-x86_64-baseos-rpms"}
		}
		if rng.IntN(4) == 0 {
			inv.Base = &rpmscan.BaseImage{Name: []string{"registry.redhat.io/ubi9/ubi:9.4", "registry.access.redhat.com/ubi9/ubi-minimal:9.2"}[rng.IntN(2)]}
		}
		for range 1 + rng.IntN(3) {
			inv.Packages = append(inv.Packages, pool[rng.IntN(len(pool))])
		}
		sig := ix.Signature(inv)
		// Packages no advisory names leave the signature alone.
		more := *inv
		more.Packages = append(append([]rpmscan.Package(nil), inv.Packages...), unnamed[rng.IntN(len(unnamed))])
		assert.Equal(t, sig, ix.Signature(&more))

		got := seen{inv, ix.Match(inv), ix.Unfixed(inv)}
		if prev, ok := bySig[sig]; ok {
			shared++
			assert.Equal(t, prev.findings, got.findings, "same signature, other findings:\n%+v\n%+v", prev.inv, inv)
			assert.Equal(t, prev.unfixed, got.unfixed)
			continue
		}
		bySig[sig] = got
	}
	assert.Greater(t, shared, 100, "the draws repeat signatures often enough to check them")
	assert.Greater(t, len(bySig), 50)

	// A named package's other build is another signature.
	a := &rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"}, Packages: []rpmscan.Package{pool[0]}}
	b := &rpmscan.Inventory{OS: a.OS, Packages: []rpmscan.Package{pool[0]}}
	b.Packages[0].Release = "0.el9"
	assert.NotEqual(t, ix.Signature(a), ix.Signature(b))
}

func ExampleIndex_Signature() {
	ix := advisory.NewIndex([]advisory.Advisory{{ID: "RHSA-2099:0002", Severity: advisory.SeverityImportant, Fixes: []advisory.Fix{
		{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos", Name: "openssl-libs", Version: "3.0.7", Release: "27.el9", Arch: "x86_64"},
	}}})
	base := &rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"}, Packages: []rpmscan.Package{
		{Name: "openssl-libs", Version: "3.0.7", Release: "24.el9", Arch: "x86_64"},
	}}
	app := *base
	app.Packages = append(app.Packages, rpmscan.Package{Name: "my-app", Version: "1.0", Release: "1", Arch: "x86_64"})
	fmt.Println(ix.Signature(base) == ix.Signature(&app), len(ix.Match(&app)))
	// Output:
	// true 1
}
