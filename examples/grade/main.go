// Command grade grades container images with the Container Health Index and
// lists them worst first, with the date each one's grade will drop next.
//
//	go run ./examples/grade [flags] IMAGE...
//	go run ./examples/grade [flags] -f FILE
//
// IMAGE is a registry reference, oci:DIR[:TAG|@DIGEST] or
// docker-archive:FILE; FILE lists one IMAGE per line (blank lines and lines
// starting with # are ignored; "-" reads standard input).
//
// Flags:
//
//	-advisories PATH_OR_URL  advisory source, repeatable: a directory of CSAF
//	                         or OSV documents, a CSAF feed URL, osv:DIR or
//	                         osv+https://… (default: Red Hat's CSAF feed)
//	-repo-to-cpe FILE_OR_URL Red Hat's repository-to-cpe.json, to match by
//	                         content set ("none": match by RHEL major only;
//	                         default: Red Hat's published file)
//	-now RFC3339             grade at this instant (default: now)
//	-policy FILE             a grading table in JSON (healthindex.ParseTable)
//	                         instead of Red Hat's index
//	-json                    print JSON instead of a table
//	-explain                 after the table, say which errata set each grade
//	                         and the next drop
//	-insecure                how to open registry images
//	-platform P              the platform of multi-platform images to grade,
//	                         os/arch[/variant], or "all": every platform of
//	                         each image, one result per platform (default
//	                         linux/amd64); results then name their platform
//	-j N                     images scanned at once (default 2)
//
// The exit status is 1 when any image could not be graded, 2 on bad usage.
// With -platform all, a multi-platform image is as good as its worst
// platform: results are listed worst first, whatever their platform.
// Each image's grade, next drop and freshness_grades timeline come from
// package healthindex, with Red Hat's policy unless -policy names another.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/imageref"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // sqlite rpmdbs (RHEL 9, Fedora)
)

// result is one image's line of output.
type result struct {
	Image           string               `json:"image"`
	Platform        string               `json:"platform,omitempty"`
	Digest          string               `json:"digest,omitempty"`
	Grade           *healthindex.Grade   `json:"grade"`
	NextDrop        *time.Time           `json:"next_drop"`
	NextGrade       *healthindex.Grade   `json:"next_grade"`
	FreshnessGrades healthindex.Timeline `json:"freshness_grades,omitempty"`
	Findings        []advisory.Finding   `json:"findings"`
	Error           string               `json:"error,omitempty"`

	explanation healthindex.Explanation
}

type output struct {
	Now    time.Time `json:"now"`
	Images []result  `json:"images"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("grade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sources []string
	fs.Func("advisories", "advisory source: directory, CSAF feed URL, osv:DIR or osv+https://… (repeatable; default Red Hat's CSAF feed)", func(s string) error {
		sources = append(sources, s)
		return nil
	})
	repoToCPE := fs.String("repo-to-cpe", advisory.DefaultRepoCPEURL, `repository-to-cpe.json file or URL; "none" matches by RHEL major only`)
	nowFlag := fs.String("now", "", "grade at this instant, RFC3339 (default: the current time)")
	policyFile := fs.String("policy", "", "grading table in JSON (default: Red Hat's Container Health Index)")
	listFile := fs.String("f", "", `file listing one image per line ("-" for standard input)`)
	asJSON := fs.Bool("json", false, "print JSON")
	explain := fs.Bool("explain", false, "explain each grade and next drop after the table")
	insecure := fs.Bool("insecure", false, "allow plain HTTP and unverified TLS for registry references")
	platform := fs.String("platform", "", `platform of multi-platform images, os/arch[/variant], or "all" for one result per platform (default linux/amd64)`)
	parallel := fs.Int("j", 2, "images scanned at once")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: grade [flags] IMAGE...\n       grade [flags] -f FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(err error) int {
		fmt.Fprintln(stderr, "grade:", err)
		fs.Usage()
		return 2
	}

	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return usage(fmt.Errorf("-now: %w", err))
		}
		now = t
	}
	refs := fs.Args()
	if *listFile != "" {
		more, err := readList(*listFile, stdin)
		if err != nil {
			fmt.Fprintln(stderr, "grade:", err)
			return 1
		}
		refs = append(refs, more...)
	}
	if len(refs) == 0 {
		return usage(errors.New("no images"))
	}
	if *parallel < 1 {
		return usage(errors.New("-j must be at least 1"))
	}
	opts := []imageref.Option{imageref.WithInsecure(*insecure)}
	all := *platform == "all"
	if *platform != "" && !all {
		p, err := imageref.ParsePlatform(*platform)
		if err != nil {
			return usage(err)
		}
		opts = append(opts, imageref.WithPlatform(p))
	}
	var policy healthindex.Policy = healthindex.RedHat()
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			fmt.Fprintln(stderr, "grade:", err)
			return 1
		}
		t, err := healthindex.ParseTable(b)
		if err != nil {
			fmt.Fprintf(stderr, "grade: %s: %v\n", *policyFile, err)
			return 1
		}
		policy = t
	}
	if len(sources) == 0 {
		sources = []string{advisory.DefaultCSAFURL}
	}

	repo := *repoToCPE
	if repo == "none" {
		repo = ""
	}
	ix, skipped, err := advisory.LoadIndex(ctx, sources, repo)
	if err != nil {
		fmt.Fprintln(stderr, "grade: advisories:", err)
		return 1
	}
	for _, err := range skipped {
		fmt.Fprintln(stderr, "grade: skipped:", err)
	}
	scanner := rpmscan.New()

	// What to grade: each reference, or with -platform all each
	// platform of each reference.
	type job struct {
		ref      string
		platform string // "" unless -platform was given
		opts     []imageref.Option
		err      error
	}
	var jobs []job
	for _, ref := range refs {
		switch {
		case all:
			ps, err := imageref.Platforms(ctx, ref, opts...)
			if err != nil {
				jobs = append(jobs, job{ref: ref, platform: "all", err: err})
			}
			for _, p := range ps {
				jobs = append(jobs, job{ref: ref, platform: p.String(), opts: append(slices.Clone(opts), imageref.WithPlatform(p))})
			}
		default:
			jobs = append(jobs, job{ref: ref, platform: *platform, opts: opts})
		}
	}
	results := make([]result, len(jobs))
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.err != nil {
			results[i] = result{Image: j.ref, Platform: j.platform, Error: j.err.Error()}
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = grade(ctx, j.ref, j.opts, scanner, ix, policy, now)
			results[i].Platform = j.platform
		})
	}
	wg.Wait()
	slices.SortStableFunc(results, func(a, b result) int {
		if (a.Error == "") != (b.Error == "") {
			if a.Error != "" {
				return 1
			}
			return -1
		}
		if c := healthindex.ByUrgency(a.FreshnessGrades, b.FreshnessGrades); c != 0 {
			return c
		}
		if c := strings.Compare(a.Image, b.Image); c != 0 {
			return c
		}
		return strings.Compare(a.Platform, b.Platform)
	})

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(output{Now: now.UTC(), Images: results})
	} else {
		err = printTable(stdout, results, *explain)
	}
	if err != nil {
		fmt.Fprintln(stderr, "grade:", err)
		return 1
	}
	code := 0
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(stderr, "grade: %s: %s\n", label(r), r.Error)
			code = 1
		}
	}
	return code
}

// grade opens, scans, matches and grades one image.
func grade(ctx context.Context, ref string, opts []imageref.Option, sc rpmscan.Scanner, ix *advisory.Index, p healthindex.Policy, now time.Time) result {
	r := result{Image: ref}
	img, err := imageref.Open(ctx, ref, opts...)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	inv, err := sc.Scan(ctx, img)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Digest = inv.Image.Digest
	r.Findings = ix.Match(inv)
	if r.Findings == nil {
		r.Findings = []advisory.Finding{}
	}
	r.FreshnessGrades = healthindex.NewTimeline(p, r.Findings, now)
	g := r.FreshnessGrades.Grade()
	r.Grade = &g
	if drop, ok := r.FreshnessGrades.NextDrop(); ok {
		next := r.FreshnessGrades.At(drop)
		r.NextDrop, r.NextGrade = &drop, &next
	}
	r.explanation = healthindex.Explain(p, r.Findings, now)
	return r
}

func readList(path string, stdin io.Reader) ([]string, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var refs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			refs = append(refs, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return refs, nil
}

// label names a result's image and, when one was asked for, platform.
func label(r result) string {
	if r.Platform == "" {
		return r.Image
	}
	return r.Image + " [" + r.Platform + "]"
}

func printTable(w io.Writer, results []result, explain bool) error {
	perPlatform := slices.ContainsFunc(results, func(r result) bool { return r.Platform != "" })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if perPlatform {
		fmt.Fprintln(tw, "GRADE\tNEXT DROP\tTO\tFINDINGS\tPLATFORM\tIMAGE")
	} else {
		fmt.Fprintln(tw, "GRADE\tNEXT DROP\tTO\tFINDINGS\tIMAGE")
	}
	for _, r := range results {
		grade, drop, to := "?", "-", "-"
		if r.Grade != nil {
			grade = r.Grade.String()
		}
		if r.NextDrop != nil {
			drop, to = r.NextDrop.Format(time.RFC3339), r.NextGrade.String()
		}
		findings := fmt.Sprint(len(r.Findings))
		if r.Error != "" {
			findings = "error"
		}
		if perPlatform {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", grade, drop, to, findings, cmp.Or(r.Platform, "-"), r.Image)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", grade, drop, to, findings, r.Image)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if explain {
		for _, r := range results {
			if r.Error == "" {
				fmt.Fprintf(w, "\n%s\n%s", label(r), r.explanation)
			}
		}
	}
	return nil
}
