package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/google/go-containerregistry/pkg/v1/remote"
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
//
// As for Buildah, the tool runs in its own process group (killed when
// ctx ends and when the tool exits) with ScratchEnv set; it is handed an
// auth file with Credentials and a registries configuration marking
// InsecureHosts (REGISTRY_AUTH_FILE and CONTAINERS_REGISTRIES_CONF, also
// .AuthFile and .RegistriesConf in the templates) that are removed after
// the build; credentials are scrubbed from its log. The image it wrote
// gets the base image's blobs for the layers it shares with it (see
// ShareBaseLayers).
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
	// Credentials maps registry hosts to the logins the tool uses.
	Credentials map[string]Credential
	// InsecureHosts are registries reached over plain HTTP or without
	// TLS verification.
	InsecureHosts []string
	// Options are added to the go-containerregistry calls that read the
	// base image to share its layers.
	Options []remote.Option
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
	// Platform is the platform to build as "os/arch[/variant]"
	// ("linux/arm64"), "" when the image is not one platform of a
	// multi-platform image; e.g. "{{if .Platform}}--platform={{.Platform}}{{end}}".
	// The tool must then write an image of that platform.
	Platform string
	// AuthFile is the containers-auth.json(5) file holding Credentials
	// ("" when there are none).
	AuthFile string
	// RegistriesConf is the containers-registries.conf(5) file marking
	// InsecureHosts ("" when there are none).
	RegistriesConf string
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
			"{{if .Platform}}--platform={{.Platform}}{{end}}",
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
	containerfile, raw, r, err := pinnedContainerfile(req)
	if err != nil {
		return nil, err
	}
	cf, cfErr := ParseContainerfile(raw, r.BuildArgs)
	var hosts []string // nil: all
	if cfErr == nil {
		hosts = hostsOf(cf.Bases())
	}
	rf, err := writeRegistryFiles(req.WorkDir, c.Credentials, c.InsecureHosts, hosts)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	data := &CommandData{
		ContextDir:     req.Source.ContextDir,
		Containerfile:  containerfile,
		Output:         filepath.Join(req.WorkDir, "image.tar"),
		Ref:            req.Ref,
		Commit:         req.Source.Commit,
		BuildArgs:      r.BuildArgs,
		Labels:         req.Labels,
		Annotations:    req.Annotations,
		NoCache:        req.NoCache,
		AuthFile:       rf.AuthFile,
		RegistriesConf: rf.Conf,
	}
	if data.BuildArgs == nil {
		data.BuildArgs = map[string]string{}
	}
	if req.Platform != nil {
		data.Platform = PlatformString(*req.Platform)
	}
	args, err := c.Render(data)
	if err != nil {
		return nil, err
	}
	secrets := credentialSecrets(c.Credentials)
	log, err := run(ctx, args[0], args[1:], append(slices.Clone(c.Env), rf.Env()...), req.WorkDir, secrets)
	if err != nil {
		return nil, newBuildError(c.Name(), args, log, err)
	}
	img, err := LoadArchive(data.Output, c.Format, filepath.Join(req.WorkDir, "image"))
	if err != nil {
		return nil, newBuildError(c.Name(), args, log, err)
	}
	res := &Result{Image: img, Log: log}
	base := ""
	if cfErr == nil {
		base = finalBase(cf)
		if !cf.Final().Stage {
			res.BaseName = cf.Final().Image
		}
	}
	if m, err := img.Manifest(); err == nil && m.Annotations[AnnotationBaseDigest] != "" && m.Annotations[AnnotationBaseName] != "" {
		res.BaseName, res.BaseDigest = m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
		base = Repository(res.BaseName) + "@" + res.BaseDigest
	}
	pc := pullConfig{creds: c.Credentials, insecure: c.InsecureHosts, opts: c.Options}
	var baseDigest string
	if res.Image, baseDigest, err = pc.shareBase(ctx, img, base); err != nil {
		return nil, scrubError(err, secrets...)
	}
	if res.BaseDigest == "" && res.BaseName != "" {
		res.BaseDigest = baseDigest
	}
	return res, nil
}
