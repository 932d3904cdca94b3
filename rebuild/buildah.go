package rebuild

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// Buildah builds images from source with `buildah build`. The zero value
// is usable: it runs "buildah" from PATH with chroot isolation, the vfs
// storage driver and a private storage root per build (removed afterwards),
// always pulls the base images fresh, and reads the result back from an
// OCI archive.
type Buildah struct {
	// Path is the buildah binary (default "buildah" from PATH).
	Path string
	// Isolation is the --isolation value (default "chroot", which needs no
	// OCI runtime).
	Isolation string
	// StorageDriver is the --storage-driver value (default "vfs").
	StorageDriver string
	// Root and RunRoot are the --root and --runroot storage directories.
	// When Root is empty each build gets private ones inside its WorkDir.
	Root, RunRoot string
	// Pull is the --pull policy (default "always": base images are
	// fetched fresh on every build).
	Pull string
	// Format is the --format of the image (default "oci").
	Format string
	// InsecureRegistries turns off TLS verification and allows plain HTTP
	// for every registry the build talks to (--tls-verify=false). Use it
	// only for registries on loopback or networks you control.
	InsecureRegistries bool
	// ExtraArgs are appended to `buildah build` before the context dir.
	ExtraArgs []string
	// Env is added to the environment of buildah.
	Env []string
}

var _ Builder = (*Buildah)(nil)

// Name returns "buildah".
func (b *Buildah) Name() string { return "buildah" }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Args returns the buildah command line (without the binary) that builds
// containerfile in contextDir into the OCI archive output, with req's build
// arguments, labels, annotations and cache setting. root and runRoot are
// the storage directories to use when b.Root is empty.
func (b *Buildah) Args(req *Request, containerfile, contextDir, output, root, runRoot string) []string {
	args := []string{
		"--storage-driver", orDefault(b.StorageDriver, "vfs"),
		"--root", orDefault(b.Root, root),
		"--runroot", orDefault(b.RunRoot, runRoot),
		"build",
		"--isolation", orDefault(b.Isolation, "chroot"),
		"--pull=" + orDefault(b.Pull, "always"),
		"--format", orDefault(b.Format, "oci"),
	}
	if b.InsecureRegistries {
		args = append(args, "--tls-verify=false")
	}
	if req.NoCache {
		args = append(args, "--no-cache")
	}
	for _, k := range slices.Sorted(maps.Keys(req.BuildArgs)) {
		args = append(args, "--build-arg", k+"="+req.BuildArgs[k])
	}
	for _, k := range slices.Sorted(maps.Keys(req.Labels)) {
		args = append(args, "--label", k+"="+req.Labels[k])
	}
	for _, k := range slices.Sorted(maps.Keys(req.Annotations)) {
		args = append(args, "--annotation", k+"="+req.Annotations[k])
	}
	args = append(args, "-f", containerfile, "-t", "oci-archive:"+output)
	args = append(args, b.ExtraArgs...)
	return append(args, contextDir)
}

// Build runs buildah on req.Source. Parents' pinned digests (req.Pins) are
// applied by rewriting the FROM lines into a copy of the Containerfile kept
// outside the build context, or through build arguments when a FROM names
// an ARG. On failure the error is a *BuildError holding buildah's output.
func (b *Buildah) Build(ctx context.Context, req *Request) (*Result, error) {
	if req.Source == nil {
		return nil, ErrNoSource
	}
	work := req.WorkDir
	if work == "" {
		return nil, errors.New("rebuild: buildah needs Request.WorkDir")
	}
	data, err := os.ReadFile(req.Source.Containerfile)
	if err != nil {
		return nil, fmt.Errorf("rebuild: read containerfile: %w", err)
	}
	containerfile := req.Source.Containerfile
	r := *req
	if len(req.Pins) > 0 {
		pinned, extra, err := Pin(data, req.BuildArgs, req.Pins)
		if err != nil {
			return nil, err
		}
		containerfile = filepath.Join(work, "Containerfile.pinned")
		if err := os.WriteFile(containerfile, pinned, 0o644); err != nil {
			return nil, err
		}
		r.BuildArgs = maps.Clone(req.BuildArgs)
		if r.BuildArgs == nil {
			r.BuildArgs = map[string]string{}
		}
		maps.Copy(r.BuildArgs, extra)
		data = pinned
	}
	output := filepath.Join(work, "image.oci.tar")
	args := b.Args(&r, containerfile, req.Source.ContextDir, output,
		filepath.Join(work, "storage"), filepath.Join(work, "run"))
	if b.Root == "" {
		// A private store holds nothing worth keeping; buildah leaves
		// read-only files behind that os.RemoveAll handles.
		defer os.RemoveAll(filepath.Join(work, "storage"))
		defer os.RemoveAll(filepath.Join(work, "run"))
	}
	log, err := run(ctx, orDefault(b.Path, "buildah"), args, b.Env)
	if err != nil {
		return nil, &BuildError{Builder: b.Name(), Args: args, ExitCode: exitCode(err), Log: log, Err: err}
	}
	img, err := LoadArchive(output, FormatOCI, filepath.Join(work, "image"))
	if err != nil {
		return nil, &BuildError{Builder: b.Name(), Args: args, ExitCode: 0, Log: log, Err: err}
	}
	res := &Result{Image: img, Log: log}
	if cf, err := ParseContainerfile(data, r.BuildArgs); err == nil && !cf.Final().Stage {
		res.BaseName = cf.Final().Image
	}
	return res, nil
}

// run executes a tool and returns its combined output (the last MaxLog
// bytes).
func run(ctx context.Context, path string, args, env []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	out := &tailBuffer{max: MaxLog}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return out.Bytes(), err
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
