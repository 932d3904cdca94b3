// Command scan prints the RPM inventory of a container image and, given
// advisories, the errata it has not applied and its Container Health Index
// grade.
//
//	go run ./examples/scan [-format json|table] [-insecure] [-platform os/arch|all]
//	    [-layer-concurrency N] [-advisories PATH_OR_URL]... [-repo-to-cpe FILE_OR_URL] [-now RFC3339] [-base REF]
//	    [-certify [-policy VARIANT] [-repository REPO] [-tag TAG]...] IMAGE
//
// IMAGE is a registry reference (registry.example.com/ns/repo:tag), an OCI
// layout (oci:DIR, oci:DIR:TAG, oci:DIR@sha256:…) or a docker-archive
// tarball (docker-archive:FILE). Errors go to stderr with exit status 1.
// -platform chooses the image of a multi-platform index (default
// linux/amd64); -platform all scans (and grades) every platform, one
// report each: a JSON array, or one table per platform.
// -layer-concurrency sets how many layers are read at once (0, the
// default, is rpmscan's: 2 × GOMAXPROCS, at most rpmscan.MaxLayerConcurrency;
// 1 reads them one by one). Built with -tags isal (cgo and libisal-dev
// needed), it inflates gzip layers with Intel ISA-L, about 2.5 times faster
// than the default klauspost/compress.
//
// With at least one -advisories (a directory of CSAF or OSV documents, a
// CSAF feed URL such as Red Hat's
// https://security.access.redhat.com/data/csaf/v2/advisories/, osv:DIR or
// osv+https://…), the image is matched against them and graded at -now
// (default: the current time). -repo-to-cpe maps content sets to products
// (default: Red Hat's published repository-to-cpe.json; "none" matches by
// RHEL major version only). The JSON output then also has "findings",
// "grade", "next_drop" (null when the grade will not drop) and
// "freshness_grades" (the grade intervals from -now on, the last one open).
// Each finding says which of Red Hat's product rules matched ("match":
// content_set, major_version, main_stream, os_release or base_image) and,
// with "content_set" and "image_cpe", the path from the image's content set
// to the fixed build; the table output prints that path per finding.
//
// Container-image advisories (products pkg:oci/…) are matched against the
// image's Red Hat base, read from its org.opencontainers.image.base.*
// annotations or labels and its /root/buildinfo content manifests, or given
// with -base REF[@sha256:…].
//
// With -certify, each image also goes through the certification checks
// of Red Hat's container policy (-policy: container, root,
// scratch-nonroot, scratch-root or konflux); the JSON output gets
// "certification" (the results) and the table lists each check with its
// status and reason. The repository and tag the checks read default to
// IMAGE's for a registry reference; -repository and -tag set them.
//
// To try it without a registry, write the demo image (built from the
// repository's fixture rpmdb) and scan it:
//
//	go run ./examples/scan -demo /tmp/demo.tar
//	go run ./examples/scan -format json docker-archive:/tmp/demo.tar
package main

import (
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
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/imageref"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // sqlite rpmdbs (RHEL 9, Fedora)
)

// report is what the command prints: the inventory and, when advisories
// were given, the findings and grade next to it.
type report struct {
	// Platform is the platform scanned, when -platform was given.
	Platform string `json:"platform,omitempty"`
	*rpmscan.Inventory
	*Grading
	Certification *certify.Report `json:"certification,omitempty"`
}

// Grading is the part of the report that needs advisories.
type Grading struct {
	Findings        []advisory.Finding   `json:"findings"`
	Grade           healthindex.Grade    `json:"grade"`
	NextDrop        *time.Time           `json:"next_drop"`
	FreshnessGrades healthindex.Timeline `json:"freshness_grades"`
	// Unfixed lists CVEs (from VEX documents) that affect installed
	// packages and have no fix yet; they never change the grade.
	Unfixed []advisory.Unfixed `json:"unfixed"`

	explanation healthindex.Explanation
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "output format: json or table")
	insecure := fs.Bool("insecure", false, "allow plain HTTP and unverified TLS for registry references")
	platform := fs.String("platform", "", `platform to choose from multi-platform images, os/arch[/variant], or "all" for every platform (default linux/amd64)`)
	layerConcurrency := fs.Int("layer-concurrency", 0, "layers read at once; 0 is 2 × GOMAXPROCS (at most 8), 1 one by one")
	demo := fs.String("demo", "", "write the demo image as a docker-archive tarball to this file and exit")
	demoDB := fs.String("demo-rpmdb", "rpmscan/testdata/rpmdb/sqlite/rpmdb.sqlite", "rpmdb for -demo (path from the repository root)")
	var sources []string
	fs.Func("advisories", "advisory source to match and grade against: directory, CSAF feed URL, osv:DIR or osv+https://… (repeatable)", func(s string) error {
		sources = append(sources, s)
		return nil
	})
	repoToCPE := fs.String("repo-to-cpe", advisory.DefaultRepoCPEURL, `repository-to-cpe.json file or URL, used with -advisories; "none" matches by RHEL major only`)
	nowFlag := fs.String("now", "", "grade at this instant, RFC3339 (default: the current time)")
	certifyFlag := fs.Bool("certify", false, "run the certification checks of Red Hat's container policy")
	policy := fs.String("policy", string(certify.Container), "with -certify: container, root, scratch-nonroot, scratch-root or konflux")
	repository := fs.String("repository", "", "with -certify: the repository the image is published to (default: IMAGE's)")
	var tags []string
	fs.Func("tag", "with -certify: a tag the image is published under (repeatable; default: IMAGE's)", func(s string) error {
		tags = append(tags, s)
		return nil
	})
	baseFlag := fs.String("base", "", "the image's base, REF[@sha256:…], when its annotations and labels do not name it (container-image advisories of the base are findings)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scan [-format json|table] [-insecure] [-platform os/arch|all] [-layer-concurrency N] [-advisories PATH_OR_URL]... [-repo-to-cpe FILE_OR_URL] [-now RFC3339] [-base REF] [-certify [-policy VARIANT] [-repository REPO] [-tag TAG]...] IMAGE\n       scan -demo FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintln(stderr, "scan: -now:", err)
			fs.Usage()
			return 2
		}
		now = t
	}
	if *demo != "" {
		if err := writeDemo(*demo, *demoDB); err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s; scan it with: go run ./examples/scan docker-archive:%s\n", *demo, *demo)
		return 0
	}
	if fs.NArg() != 1 || (*format != "json" && *format != "table") || *layerConcurrency < 0 {
		fs.Usage()
		return 2
	}

	opts := []imageref.Option{imageref.WithInsecure(*insecure)}
	all := *platform == "all"
	platforms := []string{*platform}
	if *platform != "" && !all {
		p, err := imageref.ParsePlatform(*platform)
		if err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 2
		}
		opts = append(opts, imageref.WithPlatform(p))
	}
	if all {
		ps, err := imageref.Platforms(ctx, fs.Arg(0), opts...)
		if err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 1
		}
		platforms = platforms[:0]
		for _, p := range ps {
			platforms = append(platforms, p.String())
		}
	}
	var ix *advisory.Index
	if len(sources) > 0 {
		var err error
		if ix, err = loadIndex(ctx, sources, *repoToCPE, stderr); err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 1
		}
	}
	var cert *certifier
	if *certifyFlag {
		p, err := certify.New(certify.Variant(*policy))
		if err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 2
		}
		cert = &certifier{policy: p, subject: certify.Subject{Repository: *repository, Tags: tags}}
		arg := fs.Arg(0)
		if ref, err := name.ParseReference(strings.TrimPrefix(arg, "docker://")); err == nil &&
			!strings.HasPrefix(arg, "oci:") && !strings.HasPrefix(arg, "docker-archive:") {
			if cert.subject.Repository == "" {
				cert.subject.Repository = ref.Context().Name()
			}
			if t, ok := ref.(name.Tag); ok && len(cert.subject.Tags) == 0 {
				cert.subject.Tags = []string{t.TagStr()}
			}
		}
	}
	var reports []report
	for _, p := range platforms {
		o := opts
		if all {
			pl, err := imageref.ParsePlatform(p)
			if err != nil {
				fmt.Fprintln(stderr, "scan:", err)
				return 1
			}
			o = append(slices.Clone(opts), imageref.WithPlatform(pl))
		}
		r, err := scan(ctx, fs.Arg(0), o, rpmscan.New(rpmscan.WithLayerConcurrency(*layerConcurrency)), ix, *baseFlag, now, cert)
		if err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 1
		}
		r.Platform = p
		reports = append(reports, r)
	}
	var err error
	switch {
	case *format == "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if all {
			err = enc.Encode(reports)
		} else {
			err = enc.Encode(reports[0])
		}
	default:
		for i, r := range reports {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if err = printTable(stdout, r); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "scan:", err)
		return 1
	}
	return 0
}

// certifier is the policy and subject of -certify.
type certifier struct {
	policy  *certify.Policy
	subject certify.Subject
}

// scan opens, scans and, with ix, matches and grades one image; with
// cert, it certifies it too.
func scan(ctx context.Context, ref string, opts []imageref.Option, scanner *rpmscan.LayerScanner, ix *advisory.Index, base string, now time.Time, cert *certifier) (report, error) {
	img, err := imageref.Open(ctx, ref, opts...)
	if err != nil {
		return report{}, err
	}
	inv, err := scanner.Scan(ctx, img)
	if err != nil {
		return report{}, err
	}
	if base != "" {
		b := &rpmscan.BaseImage{Name: base, Source: "config"}
		if i := strings.IndexByte(b.Name, '@'); i >= 0 {
			b.Digest = b.Name[i+1:]
		}
		inv.Base = b
	}
	out := report{Inventory: inv}
	if cert != nil {
		s := cert.subject
		s.Inventories = []*rpmscan.Inventory{inv}
		if inv.Base != nil {
			s.BaseName, s.BaseDigest = inv.Base.Name, inv.Base.Digest
		}
		if out.Certification, err = cert.policy.Certify(ctx, img, s); err != nil {
			return report{}, err
		}
	}
	if ix != nil {
		out.Grading = grade(ix.Match(inv), now)
		out.Unfixed = ix.Unfixed(inv)
		if out.Unfixed == nil {
			out.Unfixed = []advisory.Unfixed{}
		}
	}
	return out, nil
}

func printTable(w io.Writer, r report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Image:\t%s\n", r.Image.Digest)
	if r.Platform != "" {
		fmt.Fprintf(tw, "Platform:\t%s\n", r.Platform)
	}
	osName := strings.TrimSpace(r.OS.ID + " " + r.OS.VersionID)
	if r.OS.PrettyName != "" {
		osName = r.OS.PrettyName
	}
	fmt.Fprintf(tw, "OS:\t%s\n", osName)
	if r.RPMDB != nil {
		fmt.Fprintf(tw, "RPM database:\t%s (%s, layer %s)\n", r.RPMDB.Path, r.RPMDB.Backend, r.RPMDB.LayerDigest)
	} else {
		fmt.Fprintf(tw, "RPM database:\tnone\n")
	}
	fmt.Fprintf(tw, "Content sets:\t%s\n", strings.Join(r.ContentSets, ", "))
	if r.Base != nil {
		fmt.Fprintf(tw, "Base image:\t%s %s (from %s)\n", r.Base.Name, r.Base.Digest, r.Base.Source)
	}
	fmt.Fprintf(tw, "Packages:\t%d\n\n", len(r.Packages))
	fmt.Fprintln(tw, "NAME\tEPOCH\tVERSION\tRELEASE\tARCH\tMODULE")
	for _, p := range r.Packages {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.Epoch, p.Version, p.Release, p.Arch, p.Module)
	}
	if c := r.Certification; c != nil {
		for _, p := range c.Platforms {
			fmt.Fprintf(tw, "\nCertification (%s policy, %s):\n\n", c.Policy, p.Platform)
			fmt.Fprintln(tw, "CHECK\tSTATUS\tREASON")
			for _, res := range p.Results {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", res.Check, res.Status, res.Reason)
			}
		}
	}
	if r.Grading == nil {
		return tw.Flush()
	}
	fmt.Fprintf(tw, "\nFindings:\t%d\n\n", len(r.Findings))
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "ADVISORY\tSEVERITY\tISSUED\tPACKAGE\tINSTALLED\tFIXED\tMATCH")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Advisory, f.Severity, f.Issued.UTC().Format(time.DateOnly),
				f.Package, f.Installed, f.Fixed, f.Match)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "\nHow each finding matched (content set → image CPE → product → fixed build [rule]):")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %s %s: %s\n", f.Advisory, f.Package, f.Path())
		}
	}
	if len(r.Unfixed) > 0 {
		fmt.Fprintf(tw, "\nUnfixed (no fix yet, not graded):\t%d\n\n", len(r.Unfixed))
		fmt.Fprintln(tw, "CVE\tSEVERITY\tSTATE\tPACKAGE\tINSTALLED\tMATCH\tIMAGE CPE")
		for _, u := range r.Unfixed {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.CVE, u.Severity, u.State, u.Package, u.Installed, u.Match, u.ImageCPE)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s", r.explanation)
	return err
}

// loadIndex reads the advisory sources (reporting skipped documents on
// stderr) and the repository-to-CPE map, and builds the matching index.
func loadIndex(ctx context.Context, sources []string, repoToCPE string, stderr io.Writer) (*advisory.Index, error) {
	if repoToCPE == "none" {
		repoToCPE = ""
	}
	ix, skipped, err := advisory.LoadIndex(ctx, sources, repoToCPE)
	for _, err := range skipped {
		fmt.Fprintln(stderr, "scan: skipped:", err)
	}
	return ix, err
}

// grade grades the findings at now with Red Hat's Container Health Index.
func grade(findings []advisory.Finding, now time.Time) *Grading {
	if findings == nil {
		findings = []advisory.Finding{}
	}
	tl := healthindex.NewTimeline(nil, findings, now)
	g := &Grading{Findings: findings, Grade: tl.Grade(), FreshnessGrades: tl,
		explanation: healthindex.Explain(nil, findings, now)}
	if drop, ok := tl.NextDrop(); ok {
		g.NextDrop = &drop
	}
	return g
}

func writeDemo(path, dbPath string) error {
	db, err := os.ReadFile(dbPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w (run from the repository root, or pass -demo-rpmdb)", err)
		}
		return err
	}
	img, err := demo.Image(db)
	if err != nil {
		return err
	}
	tag, err := name.NewTag("localhost/openabs/demo:latest")
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}
