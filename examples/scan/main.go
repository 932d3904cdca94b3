// Command scan prints the RPM inventory of a container image.
//
//	go run ./examples/scan [-format json|table] [-insecure] [-platform os/arch] IMAGE
//
// IMAGE is a registry reference (registry.example.com/ns/repo:tag), an OCI
// layout (oci:DIR, oci:DIR:TAG, oci:DIR@sha256:…) or a docker-archive
// tarball (docker-archive:FILE). Errors go to stderr with exit status 1.
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
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/openabs/abs/internal/imageref"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // sqlite rpmdbs (RHEL 9, Fedora)
)

// report is what the command prints: the inventory, plus whatever later
// stages (advisory findings, grades) add next to it.
type report struct {
	*rpmscan.Inventory
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "output format: json or table")
	insecure := fs.Bool("insecure", false, "allow plain HTTP and unverified TLS for registry references")
	platform := fs.String("platform", "", "platform to choose from multi-platform images, os/arch[/variant] (default linux/amd64)")
	demo := fs.String("demo", "", "write the demo image as a docker-archive tarball to this file and exit")
	demoDB := fs.String("demo-rpmdb", "rpmscan/testdata/rpmdb/sqlite/rpmdb.sqlite", "rpmdb for -demo (path from the repository root)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: scan [-format json|table] [-insecure] [-platform os/arch] IMAGE\n       scan -demo FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *demo != "" {
		if err := writeDemo(*demo, *demoDB); err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s; scan it with: go run ./examples/scan docker-archive:%s\n", *demo, *demo)
		return 0
	}
	if fs.NArg() != 1 || (*format != "json" && *format != "table") {
		fs.Usage()
		return 2
	}

	opts := []imageref.Option{imageref.WithInsecure(*insecure)}
	if *platform != "" {
		p, err := imageref.ParsePlatform(*platform)
		if err != nil {
			fmt.Fprintln(stderr, "scan:", err)
			return 2
		}
		opts = append(opts, imageref.WithPlatform(p))
	}
	img, err := imageref.Open(ctx, fs.Arg(0), opts...)
	if err != nil {
		fmt.Fprintln(stderr, "scan:", err)
		return 1
	}
	inv, err := rpmscan.New().Scan(ctx, img)
	if err != nil {
		fmt.Fprintln(stderr, "scan:", err)
		return 1
	}
	out := report{Inventory: inv}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(out)
	} else {
		err = printTable(stdout, out)
	}
	if err != nil {
		fmt.Fprintln(stderr, "scan:", err)
		return 1
	}
	return 0
}

func printTable(w io.Writer, r report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Image:\t%s\n", r.Image.Digest)
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
	fmt.Fprintf(tw, "Packages:\t%d\n\n", len(r.Packages))
	fmt.Fprintln(tw, "NAME\tEPOCH\tVERSION\tRELEASE\tARCH\tMODULE")
	for _, p := range r.Packages {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.Epoch, p.Version, p.Release, p.Arch, p.Module)
	}
	return tw.Flush()
}

func writeDemo(path, dbPath string) error {
	db, err := os.ReadFile(dbPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w (run from the repository root, or pass -demo-rpmdb)", err)
		}
		return err
	}
	img, err := testutil.DemoImage(db)
	if err != nil {
		return err
	}
	tag, err := name.NewTag("localhost/openabs/demo:latest")
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}
