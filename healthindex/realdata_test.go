package healthindex_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

// catalogPage is the part of a catalog API page of containerImage objects
// this test reads; it is declared here so the test does not depend on the
// catalog client package.
type catalogPage struct {
	Data []struct {
		ID   string `json:"_id"`
		Brew struct {
			Build string `json:"build"`
		} `json:"brew"`
		FreshnessGrades []struct {
			Grade        string     `json:"grade"`
			StartDate    time.Time  `json:"start_date"`
			EndDate      *time.Time `json:"end_date"`
			CreationDate time.Time  `json:"creation_date"`
		} `json:"freshness_grades"`
	} `json:"data"`
}

type catalogTimeline struct {
	file, image string
	tl          healthindex.Timeline
}

func realCatalogTimelines(t *testing.T) []catalogTimeline {
	t.Helper()
	dir := os.Getenv("ABS_REALDATA")
	if dir == "" {
		t.Skip("ABS_REALDATA is not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "pyxis", "*.json"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skipf("no catalog pages under %s/pyxis", dir)
	}
	var out []catalogTimeline
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		var page catalogPage
		if json.Unmarshal(b, &page) != nil {
			continue // not a page of images (an error body, an rpm manifest)
		}
		for _, img := range page.Data {
			if len(img.FreshnessGrades) == 0 {
				continue
			}
			var tl healthindex.Timeline
			for _, fg := range img.FreshnessGrades {
				g, err := healthindex.ParseGrade(fg.Grade)
				require.NoError(t, err, "%s %s", file, img.ID)
				tl = append(tl, healthindex.Interval{Grade: g, Start: fg.StartDate, End: fg.EndDate})
			}
			out = append(out, catalogTimeline{file: filepath.Base(file), image: img.Brew.Build + " " + img.ID, tl: tl})
		}
	}
	require.NotEmpty(t, out, "the real catalog pages carry freshness_grades")
	return out
}

// TestRealCatalogTimelines compares our timelines with the catalog's. The
// catalog pages carry the grades but not the errata behind them, so the
// comparison is what that information allows: the catalog's timelines must
// have the shape ours have (and decode into our type, marshalled back in
// the same fields), and each must be reproduced exactly by NewTimeline from
// its first start_date for some set of findings, one per grade change,
// placed where Red Hat's thresholds would put them.
func TestRealCatalogTimelines(t *testing.T) {
	for _, ct := range realCatalogTimelines(t) {
		t.Run(ct.file, func(t *testing.T) {
			require.NoError(t, ct.tl.Validate(), "catalog timelines are contiguous with the last open")
			for i := 1; i < len(ct.tl); i++ {
				assert.Greater(t, ct.tl[i].Grade, ct.tl[i-1].Grade, "catalog grades only get worse over time")
			}

			// Same JSON fields as the catalog (creation_date aside).
			b, err := json.Marshal(ct.tl)
			require.NoError(t, err)
			var back healthindex.Timeline
			require.NoError(t, json.Unmarshal(b, &back))
			require.Len(t, back, len(ct.tl))
			for i := range back {
				assert.Equal(t, ct.tl[i].Grade, back[i].Grade)
				assert.True(t, ct.tl[i].Start.Equal(back[i].Start))
				assert.Equal(t, ct.tl[i].End == nil, back[i].End == nil)
			}

			fs, ok := reproduce(ct.tl)
			require.True(t, ok, "no set of findings reproduces the catalog timeline of %s: %+v", ct.image, ct.tl)
			for _, f := range fs {
				t.Logf("%s: reproduced with a %s erratum issued %s", ct.image, sevName(f.Severity), f.Issued.Format(time.RFC3339))
			}
		})
	}
}

func sevName(s advisory.Severity) string {
	return map[advisory.Severity]string{advisory.SeverityCritical: "Critical", advisory.SeverityImportant: "Important"}[s]
}

// reproduce looks for findings, under Red Hat's table, whose timeline from
// tl's first start equals tl: for every grade change at T to grade g, a
// finding that reaches g's threshold exactly at T; for the first grade
// (when not A), optionally one more finding that has just reached it.
func reproduce(tl healthindex.Timeline) ([]advisory.Finding, bool) {
	table := healthindex.RedHat()
	sevs := slices.Sorted(maps.Keys(table))
	// candidates returns findings that reach grade g exactly at instant at.
	candidates := func(g healthindex.Grade, at time.Time) []advisory.Finding {
		var out []advisory.Finding
		for _, sev := range sevs {
			for _, th := range table[sev] {
				if th.Grade != g {
					continue
				}
				issued := at.UTC().AddDate(0, -th.After.Months, -th.After.Days)
				if th.After.From(issued).Equal(at) {
					out = append(out, finding(sev, issued))
				}
			}
		}
		return out
	}
	slots := [][]advisory.Finding{append([]advisory.Finding{{}}, candidates(tl[0].Grade, tl[0].Start)...)}
	if tl[0].Grade == healthindex.GradeA {
		slots[0] = slots[0][:1]
	}
	for _, iv := range tl[1:] {
		slots = append(slots, candidates(iv.Grade, iv.Start))
	}
	var pick func(i int, chosen []advisory.Finding) ([]advisory.Finding, bool)
	pick = func(i int, chosen []advisory.Finding) ([]advisory.Finding, bool) {
		if i == len(slots) {
			got := healthindex.NewTimeline(nil, chosen, tl[0].Start)
			return chosen, timelinesEqual(got, tl)
		}
		for _, c := range slots[i] {
			next := chosen
			if c.Advisory != "" {
				next = append(slices.Clip(chosen), c)
			}
			if fs, ok := pick(i+1, next); ok {
				return fs, true
			}
		}
		return nil, false
	}
	return pick(0, nil)
}

func timelinesEqual(a, b healthindex.Timeline) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Grade != b[i].Grade || !a[i].Start.Equal(b[i].Start) || (a[i].End == nil) != (b[i].End == nil) ||
			(a[i].End != nil && !a[i].End.Equal(*b[i].End)) {
			return false
		}
	}
	return true
}
