// Command partnerapi reads and changes the Partner Connect catalog from the
// command line and prints the answers as JSON with the catalog's own field
// names.
//
//	go run ./examples/partnerapi [-base-url URL] [-api-key-file FILE] COMMAND
//
// Commands:
//
//	project get ID
//	project images ID [-filter RSQL]
//	image get ID
//	image rpms ID
//	image vulns ID
//	repo images REGISTRY REPOSITORY
//	publish PROJECT_ID IMAGE_ID [-wait]
//
// The API key is read from -api-key-file, or else from $PARTNERAPI_KEY.
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
	"time"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/secret"
)

const usage = `usage: partnerapi [-base-url URL] [-api-key-file FILE] COMMAND

commands:
  project get ID
  project images ID [-filter RSQL]
  image get ID
  image rpms ID
  image vulns ID
  repo images REGISTRY REPOSITORY
  publish PROJECT_ID IMAGE_ID [-wait]

The API key is read from -api-key-file, or else from $PARTNERAPI_KEY.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks errors in how the command was called (exit status 2).
var errUsage = errors.New("usage")

// run is the whole command; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts ...partnerapi.Option) int {
	err := dispatch(ctx, args, getenv, stdout, stderr, opts)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "partnerapi: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "partnerapi: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts []partnerapi.Option) error {
	fs := flag.NewFlagSet("partnerapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	baseURL := fs.String("base-url", partnerapi.DefaultBaseURL, "catalog API root")
	keyFile := fs.String("api-key-file", "", "file holding the API key (default: $PARTNERAPI_KEY)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	key := secret.New(getenv("PARTNERAPI_KEY"))
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("read API key: %w", err)
		}
		key = secret.New(strings.TrimSpace(string(b)))
	}
	c, err := partnerapi.New(key, append([]partnerapi.Option{partnerapi.WithBaseURL(*baseURL)}, opts...)...)
	if err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")

	cmd := rest[0]
	if len(rest) > 1 && (cmd == "project" || cmd == "image" || cmd == "repo") {
		cmd += " " + rest[1]
		rest = rest[1:]
	}
	sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	filter := ""
	wait := false
	switch cmd {
	case "project images":
		sub.StringVar(&filter, "filter", "", "RSQL filter, e.g. repositories.tags.name==1.0")
	case "publish":
		sub.BoolVar(&wait, "wait", false, "wait until the request completes")
	}
	pos, err := parseInterleaved(sub, rest[1:])
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, cmd, err)
	}
	want := map[string]int{"project get": 1, "project images": 1, "image get": 1, "image rpms": 1,
		"image vulns": 1, "repo images": 2, "publish": 2}
	n, ok := want[cmd]
	if !ok {
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if len(pos) != n {
		return fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, cmd, n, len(pos))
	}

	var v any
	switch cmd {
	case "project get":
		v, err = c.Project(ctx, pos[0])
	case "project images":
		v, err = partnerapi.Collect(c.ProjectImages(ctx, pos[0], &partnerapi.ListOptions{Filter: partnerapi.RawFilter(filter)}))
	case "image get":
		v, err = c.Image(ctx, pos[0])
	case "image rpms":
		v, err = c.RPMManifest(ctx, pos[0])
	case "image vulns":
		v, err = partnerapi.Collect(c.Vulnerabilities(ctx, pos[0], nil))
	case "repo images":
		v, err = partnerapi.Collect(c.RepositoryImages(ctx, pos[0], pos[1], nil))
	case "publish":
		var req *partnerapi.ImageRequest
		req, err = c.CreateImageRequest(ctx, pos[0], partnerapi.ImageRequest{ImageID: pos[1], Operation: partnerapi.OperationPublish})
		if err == nil && wait {
			wctx, cancel := context.WithTimeout(ctx, time.Hour)
			var last *partnerapi.ImageRequest
			last, err = c.WaitImageRequest(wctx, req.ID)
			cancel()
			if last != nil {
				req = last
			}
		}
		v = req
		if err != nil && req != nil {
			_ = out.Encode(v)
			return err
		}
	}
	if err != nil {
		return err
	}
	return out.Encode(v)
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
