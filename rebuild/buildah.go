package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Buildah builds images from source with `buildah build`. The zero value
// is usable: it runs "buildah" from PATH with chroot isolation, the vfs
// storage driver and a private storage root per build (removed afterwards),
// always pulls the base images fresh, and reads the result back from an
// OCI archive (a docker archive when Format is "docker").
//
// The built image is in the family of Format (OCI or Docker schema 2) for
// its manifest, config and layers, and its bottom layers are the base
// image's blobs byte for byte (see ShareBaseLayers), so that a later
// Rebase finds the base as a prefix.
//
// # Registries
//
// buildah reads no settings of the process that starts it. Each build is
// handed, for the hosts its Containerfile's FROM lines name (every host
// when one is a short name), an auth file with Credentials
// (--authfile, REGISTRY_AUTH_FILE) and a registries configuration marking
// InsecureHosts (CONTAINERS_REGISTRIES_CONF). Both are written to a
// private directory in the build's WorkDir and removed when the build
// ends; passwords never appear on the command line, and passwords and
// their base64 forms are scrubbed from the build log. Note that the
// registries configuration replaces the system's
// /etc/containers/registries.conf for the build, so FROM lines should
// name images fully qualified.
//
// # Processes
//
// buildah runs in its own process group, which is killed when ctx ends
// and once buildah exits; on Linux the kernel also kills buildah when the
// calling process dies. What survives a kill -9 of the caller is found
// and killed by CleanScratch.
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
	// Format is the --format of the image: "oci" (default) or "docker".
	Format string
	// Credentials maps registry hosts ("registry.example.com",
	// "127.0.0.1:5000", "docker.io") to the logins used to pull the
	// bases from them.
	Credentials map[string]Credential
	// InsecureHosts are registries reached over plain HTTP or without
	// TLS verification. Use it only for registries on loopback or
	// networks you control.
	InsecureHosts []string
	// InsecureRegistries turns off TLS verification and allows plain HTTP
	// for every registry the build talks to (--tls-verify=false). Prefer
	// InsecureHosts, which names them.
	InsecureRegistries bool
	// Options are added to the go-containerregistry calls that read the
	// base image to share its layers (transport, user agent); auth comes
	// from Credentials.
	Options []remote.Option
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

// output returns the transport and archive format buildah writes the
// image in.
func (b *Buildah) output() (transport, format string) {
	if b.Format == "docker" {
		return "docker-archive:", FormatDocker
	}
	return "oci-archive:", FormatOCI
}

// Args returns the buildah command line (without the binary) that builds
// containerfile in contextDir into the archive output (an OCI archive, a
// docker archive when Format is "docker"), with req's build arguments,
// labels, annotations, cache setting and platform (--platform
// os/arch[/variant] when req.Platform is set; a foreign platform's RUN
// steps need qemu user emulation registered with binfmt_misc). root and runRoot are the storage
// directories to use when b.Root is empty.
func (b *Buildah) Args(req *Request, containerfile, contextDir, output, root, runRoot string) []string {
	transport, _ := b.output()
	args := []string{
		"--storage-driver", orDefault(b.StorageDriver, "vfs"),
		"--root", orDefault(b.Root, root),
		"--runroot", orDefault(b.RunRoot, runRoot),
		"build",
		"--isolation", orDefault(b.Isolation, "chroot"),
		"--pull=" + orDefault(b.Pull, "always"),
		"--format", orDefault(b.Format, "oci"),
		"--disable-compression=false",
	}
	if b.InsecureRegistries {
		args = append(args, "--tls-verify=false")
	}
	if req.NoCache {
		args = append(args, "--no-cache")
	}
	if req.Platform != nil {
		args = append(args, "--platform", PlatformString(*req.Platform))
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
	args = append(args, "-f", containerfile, "-t", transport+output)
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
	containerfile, data, r, err := pinnedContainerfile(req)
	if err != nil {
		return nil, err
	}
	cf, cfErr := ParseContainerfile(data, r.BuildArgs)
	var hosts []string // nil: all
	if cfErr == nil {
		hosts = hostsOf(cf.Bases())
	}
	rf, err := writeRegistryFiles(work, b.Credentials, b.InsecureHosts, hosts)
	if err != nil {
		return nil, err
	}
	defer rf.Close()

	_, format := b.output()
	output := filepath.Join(work, "image.tar")
	args := b.Args(r, containerfile, req.Source.ContextDir, output,
		filepath.Join(work, "storage"), filepath.Join(work, "run"))
	if rf.AuthFile != "" {
		i := slices.Index(args, "build") + 1
		args = slices.Insert(args, i, "--authfile", rf.AuthFile)
	}
	secretArgs, removeSecrets, err := writeSecretFiles(work, req.Secrets)
	if err != nil {
		return nil, err
	}
	defer removeSecrets()
	if len(secretArgs) > 0 {
		i := slices.Index(args, "build") + 1
		args = slices.Insert(args, i, secretArgs...)
	}
	if b.Root == "" {
		// A private store holds nothing worth keeping; buildah leaves
		// read-only files behind that os.RemoveAll handles.
		defer os.RemoveAll(filepath.Join(work, "storage"))
		defer os.RemoveAll(filepath.Join(work, "run"))
	}
	secrets := credentialSecrets(b.Credentials)
	for _, k := range slices.Sorted(maps.Keys(req.Secrets)) {
		secrets = append(secrets, req.Secrets[k])
	}
	log, err := run(ctx, orDefault(b.Path, "buildah"), args, append(slices.Clone(b.Env), rf.Env()...), work, secrets)
	for try := 1; err != nil && ctx.Err() == nil && try < runtimeStartTries && runtimeStartFailed(log); try++ {
		// The OCI runtime failed to start the RUN step's container
		// (runc's self-copy into a sealed memfd can fail under load);
		// the Containerfile never ran, so building again is safe.
		log, err = run(ctx, orDefault(b.Path, "buildah"), args, append(slices.Clone(b.Env), rf.Env()...), work, secrets)
	}
	if err != nil {
		return nil, newBuildError(b.Name(), args, log, err)
	}
	img, err := LoadArchive(output, format, filepath.Join(work, "image"))
	if err != nil {
		return nil, newBuildError(b.Name(), args, log, err)
	}
	res := &Result{Image: img, Log: log}
	base := ""
	if cfErr == nil {
		base = finalBase(cf)
	}
	if m, err := img.Manifest(); err == nil && m.Annotations[AnnotationBaseDigest] != "" && m.Annotations[AnnotationBaseName] != "" {
		res.BaseName, res.BaseDigest = m.Annotations[AnnotationBaseName], m.Annotations[AnnotationBaseDigest]
		base = Repository(res.BaseName) + "@" + res.BaseDigest
	} else if cfErr == nil && !cf.Final().Stage {
		res.BaseName = cf.Final().Image
	}
	pc := pullConfig{creds: b.Credentials, insecure: b.InsecureHosts, opts: b.Options}
	var baseDigest string
	if res.Image, baseDigest, err = pc.shareBase(ctx, img, base); err != nil {
		return nil, scrubError(err, secrets...)
	}
	if res.BaseDigest == "" && res.BaseName != "" {
		res.BaseDigest = baseDigest
	}
	return res, nil
}

// pinnedContainerfile applies req.Pins: it returns the Containerfile to
// build (a pinned copy in req.WorkDir when there are pins), its content,
// and req with the build arguments the pins need.
func pinnedContainerfile(req *Request) (path string, data []byte, r *Request, err error) {
	data, err = os.ReadFile(req.Source.Containerfile)
	if err != nil {
		return "", nil, nil, fmt.Errorf("rebuild: read containerfile: %w", err)
	}
	cp := *req
	if len(req.Pins) == 0 {
		return req.Source.Containerfile, data, &cp, nil
	}
	pinned, extra, err := Pin(data, req.BuildArgs, req.Pins)
	if err != nil {
		return "", nil, nil, err
	}
	path = filepath.Join(req.WorkDir, "Containerfile.pinned")
	if err := os.WriteFile(path, pinned, 0o644); err != nil {
		return "", nil, nil, err
	}
	cp.BuildArgs = maps.Clone(req.BuildArgs)
	if cp.BuildArgs == nil {
		cp.BuildArgs = map[string]string{}
	}
	maps.Copy(cp.BuildArgs, extra)
	return path, pinned, &cp, nil
}

// finalBase returns the image the final stage is built on, following
// stage references ("" for scratch or when it cannot be told).
func finalBase(cf *Containerfile) string {
	st := cf.Final()
	for range len(cf.Stages) {
		if !st.Stage {
			if st.Image == "scratch" {
				return ""
			}
			return st.Image
		}
		i := slices.IndexFunc(cf.Stages, func(s Stage) bool { return s.Name == st.Image })
		if i < 0 {
			return ""
		}
		st = cf.Stages[i]
	}
	return ""
}

// run executes a tool in its own process group, with ScratchEnv set to
// scratch, and returns its combined output (the last MaxLog bytes) with
// secrets scrubbed. The whole group is killed when ctx ends and once the
// tool has exited, so nothing it started outlives the build. The output
// goes to a file in scratch (when set), so that a child holding it open
// cannot keep run waiting.
func run(ctx context.Context, path string, args, env []string, scratch string, secrets []Secret) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	if scratch != "" {
		cmd.Env = append(cmd.Env, ScratchEnv+"="+scratch)
	}
	ownGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 5 * time.Second
	var (
		buf     *tailBuffer
		logFile *os.File
	)
	if scratch != "" {
		f, err := os.CreateTemp(scratch, "build-*.log")
		if err != nil {
			return nil, err
		}
		logFile = f
		defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		buf = &tailBuffer{max: MaxLog}
		cmd.Stdout, cmd.Stderr = buf, buf
	}
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
		_ = killGroup(cmd.Process.Pid)
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	var out []byte
	if logFile != nil {
		out = fileTail(logFile, MaxLog)
	} else {
		out = buf.Bytes()
	}
	return []byte(scrub(string(out), secrets...)), err
}

// fileTail returns the last limit bytes of f.
func fileTail(f *os.File, limit int64) []byte {
	info, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(info.Size()-limit, 0)
	b := make([]byte, info.Size()-off)
	n, _ := f.ReadAt(b, off)
	return b[:n]
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// runtimeStartTries bounds how often a build whose OCI runtime failed to
// start is run.
const runtimeStartTries = 3

// runtimeStartFailed reports whether a build log shows the OCI runtime
// failing before the container ran, a transient fault of the machine
// rather than of the Containerfile.
func runtimeStartFailed(log []byte) bool {
	return bytes.Contains(log, []byte("sealing memfd copy"))
}
