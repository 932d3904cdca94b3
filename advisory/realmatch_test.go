package advisory

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rpmscan"
)

// TestRealDataFixesUnchanged matches, for every fixed build of every real
// advisory at hand, an image whose content set maps (in the real
// repository-to-cpe.json) to exactly that build's product CPE: holding an
// older build, the image has a finding of that advisory whose fixed build
// is the advisory's own, found by the direct content-set rule; holding the
// fixed build, it has none.
func TestRealDataFixesUnchanged(t *testing.T) {
	dir := realData(t)
	repo, err := LoadRepoCPE(t.Context(), filepath.Join(dir, "repository-to-cpe", "repository-to-cpe.json"))
	require.NoError(t, err)
	// One repository per CPE, among those that map to that CPE alone.
	repoOf := map[string]string{}
	for id, cpes := range repo.repos {
		if len(cpes) != 1 {
			continue
		}
		if old, ok := repoOf[cpes[0]]; !ok || id < old {
			repoOf[cpes[0]] = id
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "csaf", "advisories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var advs []Advisory
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		doc, err := Parse(data)
		require.NoError(t, err)
		require.NotNil(t, doc.Advisory)
		advs = append(advs, *doc.Advisory)
	}
	ix := NewIndex(advs, WithRepoCPE(repo))
	checked := 0
	for _, a := range advs {
		for _, f := range a.Fixes {
			if f.Arch == "src" {
				continue
			}
			cs, ok := repoOf[f.CPE]
			require.True(t, ok, "%s: no repository maps to %s alone", a.ID, f.CPE)
			installed := rpmscan.Package{Name: f.Name, Epoch: f.Epoch, Version: f.Version, Release: "0", Arch: f.Arch}
			if f.Module != "" {
				installed.Module = f.Module + ":1:deadbeef"
			}
			inv := &rpmscan.Inventory{ContentSets: []string{cs}, Packages: []rpmscan.Package{installed}}
			var got *Finding
			for _, fd := range ix.Match(inv) {
				if fd.Advisory == a.ID {
					got = &fd
				}
			}
			if assert.NotNil(t, got, "%s %s on %s", a.ID, f.Name, cs) {
				assert.Equal(t, strconv.Itoa(f.Epoch)+":"+f.Version+"-"+f.Release+"."+f.Arch, got.Fixed, "%s %s on %s", a.ID, f.Name, cs)
				assert.Equal(t, MatchContentSet, got.Match)
				assert.Equal(t, cs, got.ContentSet)
				assert.True(t, CPEMatch(got.ImageCPE, got.ProductCPE))
			}
			installed.Release = f.Release
			inv.Packages[0] = installed
			for _, fd := range ix.Match(inv) {
				assert.NotEqual(t, a.ID, fd.Advisory, "%s %s at the fixed build on %s: %+v", a.ID, f.Name, cs, fd)
			}
			checked++
		}
	}
	t.Logf("%d fixed builds of %d advisories checked", checked, len(advs))
	assert.Greater(t, checked, 50)
}
