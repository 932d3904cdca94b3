package healthindex_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
)

func exampleFindings() []advisory.Finding {
	return []advisory.Finding{
		{
			Advisory: "RHSA-2024:0010", Severity: advisory.SeverityImportant,
			Issued:  time.Date(2024, time.January, 2, 9, 0, 0, 0, time.UTC),
			Package: "tigervnc-server", Installed: "0:1.13.1-2.el9.x86_64", Fixed: "0:1.13.1-3.el9_3.3.x86_64",
		},
		{
			Advisory: "RHSA-2024:0811", Severity: advisory.SeverityModerate,
			Issued:  time.Date(2024, time.February, 14, 0, 0, 0, 0, time.UTC),
			Package: "sudo", Installed: "0:1.9.5p2-9.el9.x86_64", Fixed: "0:1.9.5p2-10.el9_3.x86_64",
		},
	}
}

// The default policy is Red Hat's index; nil selects it.
func ExampleGradeAt() {
	findings := exampleFindings()
	for _, day := range []string{"2024-01-01", "2024-01-20", "2024-02-15", "2024-05-01", "2025-01-02", "2025-01-03"} {
		at, _ := time.Parse(time.DateOnly, day)
		fmt.Println(day, healthindex.GradeAt(nil, findings, at))
	}
	// Output:
	// 2024-01-01 A
	// 2024-01-20 B
	// 2024-02-15 C
	// 2024-05-01 D
	// 2025-01-02 D
	// 2025-01-03 F
}

func ExampleNewTimeline() {
	now := time.Date(2024, time.February, 15, 0, 0, 0, 0, time.UTC)
	tl := healthindex.NewTimeline(nil, exampleFindings(), now)
	fmt.Println("grade", tl.Grade())
	if drop, ok := tl.NextDrop(); ok {
		fmt.Println("next drop", drop.Format(time.RFC3339))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	_ = enc.Encode(map[string]any{"freshness_grades": tl})
	// Output:
	// grade C
	// next drop 2024-04-01T09:00:00Z
	// {
	//  "freshness_grades": [
	//   {
	//    "grade": "C",
	//    "start_date": "2024-02-15T00:00:00Z",
	//    "end_date": "2024-04-01T09:00:00Z"
	//   },
	//   {
	//    "grade": "D",
	//    "start_date": "2024-04-01T09:00:00Z",
	//    "end_date": "2025-01-02T09:00:00Z"
	//   },
	//   {
	//    "grade": "F",
	//    "start_date": "2025-01-02T09:00:00Z"
	//   }
	//  ]
	// }
}

func ExampleExplain() {
	now := time.Date(2024, time.February, 15, 0, 0, 0, 0, time.UTC)
	fmt.Print(healthindex.Explain(nil, exampleFindings(), now))
	// Output:
	// grade C at 2024-02-15T00:00:00Z, set by:
	//   RHSA-2024:0010 (Important, issued 2024-01-02, 43 days old) tigervnc-server 0:1.13.1-2.el9.x86_64, fixed in 0:1.13.1-3.el9_3.3.x86_64: C since 2024-02-01T09:00:00Z
	// drops to D at 2024-04-01T09:00:00Z, because of:
	//   RHSA-2024:0010 (Important, issued 2024-01-02, 90 days old) tigervnc-server 0:1.13.1-2.el9.x86_64, fixed in 0:1.13.1-3.el9_3.3.x86_64: D since 2024-04-01T09:00:00Z
}

// A custom policy is a modified copy of Red Hat's table: here Critical
// errata drop to C after 3 days instead of 7, and Moderate errata count,
// dropping the image to B after 30 days and C after 6 months.
func ExampleTable() {
	strict := healthindex.RedHat()
	strict[advisory.SeverityCritical][1].After = healthindex.Days(3)
	strict[advisory.SeverityModerate] = []healthindex.Threshold{
		{After: healthindex.Days(30), Grade: healthindex.GradeB},
		{After: healthindex.Months(6), Grade: healthindex.GradeC},
	}
	if err := strict.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2024, time.May, 1, 0, 0, 0, 0, time.UTC)
	only := exampleFindings()[1:] // the Moderate sudo erratum
	fmt.Println("Red Hat:", healthindex.GradeAt(nil, only, at))
	fmt.Println("strict: ", healthindex.GradeAt(strict, only, at))
	// Output:
	// Red Hat: A
	// strict:  B
}

// PolicyFunc plugs in any rule; this one fails an image outright once any
// erratum, whatever its severity, has been unapplied for two weeks.
func ExamplePolicyFunc() {
	p := healthindex.PolicyFunc(func(f advisory.Finding) []healthindex.Step {
		return []healthindex.Step{{At: healthindex.Days(14).From(f.Issued), Grade: healthindex.GradeF}}
	})
	at := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(healthindex.GradeAt(p, exampleFindings(), at))
	// Output: F
}

// A policy can come from a file: here only Critical errata count, and any
// of them fails the image after 14 days.
func ExampleParseTable() {
	t, err := healthindex.ParseTable([]byte(`{"Critical": [
		{"after": {}, "grade": "B"},
		{"after": {"days": 14}, "grade": "F"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	crit := advisory.Finding{Advisory: "RHSA-2024:0001", Severity: advisory.SeverityCritical,
		Issued: time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)}
	tl := healthindex.NewTimeline(t, append(exampleFindings(), crit), time.Date(2024, time.January, 10, 0, 0, 0, 0, time.UTC))
	for _, iv := range tl {
		fmt.Println(iv.Grade, iv.Start.Format(time.DateOnly))
	}
	// Output:
	// B 2024-01-10
	// F 2024-01-15
}

// ByUrgency sorts a fleet's timelines worst first.
func ExampleByUrgency() {
	now := time.Date(2024, time.February, 15, 0, 0, 0, 0, time.UTC)
	fleet := map[string][]advisory.Finding{
		"clean":    nil,
		"stale":    exampleFindings(),
		"critical": {{Advisory: "RHSA-2024:0001", Severity: advisory.SeverityCritical, Issued: now.AddDate(0, 0, -3)}},
	}
	type image struct {
		name string
		tl   healthindex.Timeline
	}
	var images []image
	for _, name := range []string{"clean", "critical", "stale"} {
		images = append(images, image{name, healthindex.NewTimeline(nil, fleet[name], now)})
	}
	slices.SortStableFunc(images, func(a, b image) int { return healthindex.ByUrgency(a.tl, b.tl) })
	for _, im := range images {
		drop, _ := im.tl.NextDrop()
		fmt.Println(im.tl.Grade(), im.name, drop.Format(time.DateOnly))
	}
	// Output:
	// C stale 2024-04-01
	// B critical 2024-02-19
	// A clean 0001-01-01
}

func ExampleExplainUntil() {
	now := time.Date(2024, time.February, 15, 0, 0, 0, 0, time.UTC)
	e, until := healthindex.ExplainUntil(nil, exampleFindings(), now)
	fmt.Println("grade", e.Grade, "until", until.Format(time.RFC3339))
	// Any instant before until explains alike: nothing to recompute.
	later := healthindex.Explain(nil, exampleFindings(), until.Add(-time.Hour))
	fmt.Println(later.Grade, later.NextDrop.Equal(e.NextDrop))
	// Output:
	// grade C until 2024-04-01T09:00:00Z
	// C true
}
