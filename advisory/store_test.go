package advisory

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rpmscan"
)

func TestStoreReplaceAndCombinedCursor(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"rhsa-2099_0001.json", "rhba-2099_0002.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), fixture(t, "csaf/"+n), 0o644))
	}
	osv := NewOSV("testdata/osv")
	src := Combine(NewDir(dir), osv)
	st := NewStore()
	b, err := src.Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	st.Apply(b)
	assert.Equal(t, []string{"ALSA-2099:0003", "RHBA-2099:0002", "RHSA-2099:0001"}, ids(st.Advisories()))
	assert.ElementsMatch(t, []string{"dir:" + dir, osv.Name()}, b.Replace)
	assert.Len(t, b.Cursor.Sources, 2)

	// A document removed from the directory disappears on the next read;
	// the other source's advisories stay.
	require.NoError(t, os.Remove(filepath.Join(dir, "rhba-2099_0002.json")))
	cur, err := ParseCursor(b.Cursor.Encode())
	require.NoError(t, err)
	b, err = Combine(NewDir(dir)).Fetch(t.Context(), cur)
	require.NoError(t, err)
	st.Apply(b)
	assert.Equal(t, []string{"ALSA-2099:0003", "RHSA-2099:0001"}, ids(st.Advisories()))

	// An older copy never replaces a newer one.
	old := st.Advisories()[1]
	old.Updated = old.Updated.AddDate(-1, 0, 0)
	old.Title = "stale"
	st.Apply(&Batch{Advisories: []Advisory{old}})
	assert.NotEqual(t, "stale", st.Advisories()[1].Title)

	_, err = ParseCursor("{not json")
	require.Error(t, err)
	c, err := ParseCursor("")
	require.NoError(t, err)
	assert.True(t, c.IsZero())
}

func TestMatchConcurrently(t *testing.T) {
	ix := fixtureIndex(t)
	inv := &rpmscan.Inventory{ContentSets: []string{"rhel-9-for-x86_64-baseos-rpms"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}}
	want := ix.Match(inv)
	require.Len(t, want, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				assert.Equal(t, want, ix.Match(inv))
			}
		})
	}
	wg.Wait()
}

func TestLoadIndex(t *testing.T) {
	ix, skipped, err := LoadIndex(t.Context(), []string{"testdata/csaf", "testdata/bad"}, "testdata/repository-to-cpe.json")
	require.NoError(t, err)
	assert.Len(t, skipped, 2)
	assert.Equal(t, 2, ix.Len())
	inv := &rpmscan.Inventory{ContentSets: []string{"rhel-9-for-x86_64-baseos-rpms"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}}
	got := ix.Match(inv)
	require.Len(t, got, 1)
	assert.Equal(t, MatchContentSet, got[0].Match, "the repository map is used")

	ix, _, err = LoadIndex(t.Context(), []string{"testdata/csaf"}, "")
	require.NoError(t, err)
	inv.OS = rpmscan.OS{ID: "rhel", VersionID: "9.4"}
	got = ix.Match(inv)
	require.Len(t, got, 1)
	assert.Equal(t, MatchOSRelease, got[0].Match, "no map: matched by RHEL major")

	_, _, err = LoadIndex(t.Context(), []string{"testdata/csaf"}, "testdata/missing.json")
	require.ErrorIs(t, err, os.ErrNotExist)
	_, _, err = LoadIndex(t.Context(), []string{"testdata/missing"}, "")
	require.Error(t, err)
}

// TestApplyBatchVEX: VEX documents follow the same rules as advisories: an
// older document does not replace a newer one, a replaced source's
// documents not carried again are removed, a withdrawn CVE goes.
func TestApplyBatchVEX(t *testing.T) {
	now := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	st := NewStore()
	st.Apply(&Batch{VEX: []VEX{{CVE: "CVE-2099-1", Updated: now, Title: "new", Source: "s"}, {CVE: "CVE-2099-2", Updated: now, Source: "s"}}})
	st.Apply(&Batch{VEX: []VEX{{CVE: "CVE-2099-1", Updated: now.AddDate(0, -1, 0), Title: "old", Source: "s"}}})
	require.Len(t, st.VEX(), 2)
	assert.Equal(t, "new", st.VEX()[0].Title, "the newer Updated wins")
	st.Apply(&Batch{Replace: []string{"s"}, VEX: []VEX{{CVE: "CVE-2099-2", Updated: now, Source: "s"}}})
	require.Len(t, st.VEX(), 1, "a replaced source keeps only what it carries again")
	assert.Equal(t, "CVE-2099-2", st.VEX()[0].CVE)
	st.Apply(&Batch{Deleted: []string{"CVE-2099-2"}})
	assert.Empty(t, st.VEX())
}
