package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Command builds with any external tool (podman, docker buildx, kaniko, a
// script that triggers a remote build) described by argument templates.
//
// Each element of Args is a text/template executed with a CommandData; the
// result is split at newlines into separate arguments and empty results
// are dropped, so one element can expand to a flag per build argument:
//
//	{{range $k, $v := .BuildArgs}}--build-arg={{$k}}={{$v}}
//	{{end}}
//
// Args[0] is the program. The tool must write the image to .Output as an
// archive in Format.
type Command struct {
	// Args are the argument templates; Args[0] is the program.
	Args []string
	// Env is added to the tool's environment.
	Env []string
	// Format is the archive the tool writes: FormatOCI (default) or
	// FormatDocker.
	Format string
	// BuilderName names the builder in labels and logs (default "command").
	BuilderName string
}

var _ Builder = (*Command)(nil)

// CommandData is what Command's templates see.
type CommandData struct {
	ContextDir    string            // absolute build context
	Containerfile string            // absolute build file (pinned copy when parents were rebuilt)
	Output        string            // where the tool must write the image archive
	Ref           string            // the image being rebuilt
	Commit        string            // source commit
	BuildArgs     map[string]string // including pinned parent bases
	Labels        map[string]string
	Annotations   map[string]string
	NoCache       bool
}

// Podman returns a Command that builds with `podman build`, using the
// cgroupfs manager and file events so that it runs without systemd.
func Podman() *Command {
	return &Command{
		BuilderName: "podman",
		Args: []string{
			"podman", "--cgroup-manager=cgroupfs", "--events-backend=file", "build",
			"--pull=always",
			"{{if .NoCache}}--no-cache{{end}}",
			"{{range $k, $v := .BuildArgs}}--build-arg={{$k}}={{$v}}\n{{end}}",
			"{{range $k, $v := .Labels}}--label={{$k}}={{$v}}\n{{end}}",
			"-f", "{{.Containerfile}}",
			"-t", "oci-archive:{{.Output}}",
			"{{.ContextDir}}",
		},
	}
}

// Name returns BuilderName, or "command".
func (c *Command) Name() string { return orDefault(c.BuilderName, "command") }

// Render expands the argument templates for data.
func (c *Command) Render(data *CommandData) ([]string, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("rebuild: command builder without Args")
	}
	var out []string
	for i, a := range c.Args {
		t, err := template.New(fmt.Sprint("arg", i)).Option("missingkey=error").Parse(a)
		if err != nil {
			return nil, fmt.Errorf("rebuild: command argument %d: %w", i, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("rebuild: command argument %d: %w", i, err)
		}
		if !strings.ContainsAny(a, "{}") { // literal: keep as is, even if empty
			out = append(out, buf.String())
			continue
		}
		for _, s := range strings.Split(buf.String(), "\n") {
			if s != "" {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 || out[0] == "" {
		return nil, errors.New("rebuild: command builder renders no program")
	}
	return out, nil
}

// Build renders the command for req, runs it and loads the archive it
// wrote. Parents' pinned digests are applied as for Buildah. On failure the
// error is a *BuildError holding the tool's output.
func (c *Command) Build(ctx context.Context, req *Request) (*Result, error) {
	if req.Source == nil {
		return nil, ErrNoSource
	}
	if req.WorkDir == "" {
		return nil, errors.New("rebuild: command builder needs Request.WorkDir")
	}
	data := &CommandData{
		ContextDir:    req.Source.ContextDir,
		Containerfile: req.Source.Containerfile,
		Output:        filepath.Join(req.WorkDir, "image.tar"),
		Ref:           req.Ref,
		Commit:        req.Source.Commit,
		BuildArgs:     maps.Clone(req.BuildArgs),
		Labels:        req.Labels,
		Annotations:   req.Annotations,
		NoCache:       req.NoCache,
	}
	if data.BuildArgs == nil {
		data.BuildArgs = map[string]string{}
	}
	if len(req.Pins) > 0 {
		raw, err := os.ReadFile(req.Source.Containerfile)
		if err != nil {
			return nil, fmt.Errorf("rebuild: read containerfile: %w", err)
		}
		pinned, extra, err := Pin(raw, req.BuildArgs, req.Pins)
		if err != nil {
			return nil, err
		}
		data.Containerfile = filepath.Join(req.WorkDir, "Containerfile.pinned")
		if err := os.WriteFile(data.Containerfile, pinned, 0o644); err != nil {
			return nil, err
		}
		maps.Copy(data.BuildArgs, extra)
	}
	args, err := c.Render(data)
	if err != nil {
		return nil, err
	}
	log, err := run(ctx, args[0], args[1:], c.Env)
	if err != nil {
		return nil, &BuildError{Builder: c.Name(), Args: args, ExitCode: exitCode(err), Log: log, Err: err}
	}
	img, err := LoadArchive(data.Output, c.Format, filepath.Join(req.WorkDir, "image"))
	if err != nil {
		return nil, &BuildError{Builder: c.Name(), Args: args, Log: log, Err: err}
	}
	return &Result{Image: img, Log: log}, nil
}
