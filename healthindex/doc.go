// Package healthindex grades container images with the Container Health
// Index: a letter from A (no unapplied Critical or Important errata) to F
// (such errata older than twelve months), computed from the unapplied
// advisories an image carries and how long it has carried them.
//
// The package owns the [Grade] type, the [Policy] extension point that turns
// one finding into the grades it imposes over time, the default policy
// [RedHat] (a replaceable [Table] of thresholds), the [Timeline] of grades an
// image will have from a given instant (in the shape of the Red Hat catalog's
// freshness_grades), and [Explain], which names the findings that set the
// current grade and the next drop. [ParseTable] reads a policy table from
// JSON, and [ByUrgency] orders a fleet's timelines worst first.
//
// Only security errata count: a [Table] never lets a bug fix or
// enhancement erratum (RHBA, RHEA) lower a grade, whatever its severity. A
// finding of the image's base (a container-image advisory,
// [advisory.MatchBaseImage]) grades like any other.
//
// Findings come from package advisory; grading never does I/O, and every
// function takes the instant it grades at, so results are reproducible.
//
//	tl := healthindex.NewTimeline(nil, findings, time.Now()) // nil: Red Hat's index
//	fmt.Println(tl.Grade())          // e.g. C
//	if at, ok := tl.NextDrop(); ok { // when it becomes D
//		fmt.Println(at)
//	}
//	fmt.Println(healthindex.Explain(nil, findings, time.Now()))
//
// # Time semantics
//
// Age counts from the advisory's issue instant ([advisory.Finding.Issued]),
// not from its day: the catalog's own grade changes fall at any time of day
// (for example an E→F change at 18:43:00), not at midnight. Limits
// are [Age] values added in UTC: Days(n) is exactly n×24 hours and
// Months(n) is n calendar months ([time.Time.AddDate], so an erratum issued
// on 29 February reaches "12 months" on 1 March of the next year). A finding
// is "no older than" a limit strictly before issued+limit; from the instant
// issued+limit on, it imposes the next grade. Grade intervals are therefore
// half-open, [start_date, end_date), as in the catalog.
package healthindex
