package console

import (
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimelineSVG(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	until := func(s string) *time.Time { v := at(s); return &v }
	steps := []step{
		{Grade: "C", From: at("2026-12-01"), Until: until("2026-12-19"), Advisories: []string{"RHSA-2099:9001"}},
		{Grade: "D", From: at("2026-12-19"), Until: until("2027-02-17")},
		{Grade: "F", From: at("2027-02-17")},
	}
	svg, err := timelineSVG(steps)
	require.NoError(t, err)
	s := string(svg)
	// Well-formed XML, named for screen readers.
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	assert.Contains(t, s, `role="img"`)
	assert.Contains(t, s, "C from 2026-12-01, D from 2026-12-19, F from 2027-02-17")
	// One letter where each step starts, besides the axis' A..F.
	letters := regexp.MustCompile(`>([A-F])</text>`).FindAllStringSubmatch(s, -1)
	assert.Len(t, letters, 6+len(steps))
	// Nothing to fetch: no URL but the XML namespaces.
	for _, u := range regexp.MustCompile(`https?://[^"' )]+`).FindAllString(s, -1) {
		assert.Contains(t, []string{"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, u)
	}
	assert.NotContains(t, s, "<script")

	empty, err := timelineSVG(nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func BenchmarkTimelineSVG(b *testing.B) {
	now := time.Now()
	var steps []step
	for i, g := range []string{"B", "C", "D", "E", "F"} {
		steps = append(steps, step{Grade: g, From: now.AddDate(0, i*2, 0)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := timelineSVG(steps); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSortRowsWorstFirst(t *testing.T) {
	d := func(n int) *time.Time { v := time.Unix(0, 0).AddDate(0, 0, n); return &v }
	rows := []fleetRow{
		{Name: "a", Grade: "A"},
		{Name: "never", Grade: ""},
		{Name: "c-late", Grade: "C", NextDrop: d(20)},
		{Name: "f", Grade: "F"},
		{Name: "c-soon", Grade: "C", NextDrop: d(3)},
		{Name: "c-soon-urgent", Grade: "C", NextDrop: d(3), Urgent: []string{"X"}},
	}
	names := func() []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return out
	}
	sortRows(rows, "grade", false)
	assert.Equal(t, []string{"f", "c-soon-urgent", "c-soon", "c-late", "a", "never"}, names())
	sortRows(rows, "grade", true)
	assert.Equal(t, []string{"never", "a", "c-late", "c-soon", "c-soon-urgent", "f"}, names())
	sortRows(rows, "name", false)
	assert.Equal(t, []string{"a", "c-late", "c-soon", "c-soon-urgent", "f", "never"}, names())
	sortRows(rows, "drop", false)
	assert.Equal(t, []string{"c-soon", "c-soon-urgent", "c-late"}, names()[:3])
}

func TestWithPast(t *testing.T) {
	day := func(n int) time.Time { return time.Unix(0, 0).UTC().AddDate(0, 0, n) }
	cur := []step{{Grade: "A", From: day(10)}}
	got := withPast([]step{{Grade: "D", From: day(1)}, {Grade: "C", From: day(4)}, {Grade: "A", From: day(12)}}, cur)
	require.Len(t, got, 3)
	assert.Equal(t, []string{"D", "C", "A"}, []string{got[0].Grade, got[1].Grade, got[2].Grade})
	assert.Equal(t, day(4), *got[0].Until)
	assert.Equal(t, day(10), *got[1].Until, "the past ends where the current timeline starts")
	assert.Nil(t, got[2].Until)

	// The same grade before and now is one step.
	got = withPast([]step{{Grade: "C", From: day(1)}, {Grade: "A", From: day(5)}}, cur)
	require.Len(t, got, 2)
	assert.Equal(t, day(5), got[1].From)
	assert.Equal(t, day(5), *got[0].Until)
	assert.Equal(t, day(10), cur[0].From, "the caller's timeline is not changed")

	assert.Equal(t, cur, withPast(nil, cur))
	assert.Empty(t, withPast([]step{{Grade: "C", From: day(1)}}, nil))
}
