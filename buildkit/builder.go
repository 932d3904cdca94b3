package buildkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/tonistiigi/fsutil"

	"github.com/openabs/abs/rebuild"
)

// Builder builds images from source on the buildkitd daemons of a Pool,
// with BuildKit's Dockerfile frontend, and pushes them by digest (no tag
// moves) straight to a staging repository. It implements rebuild.Builder.
//
// The build context is the checkout's ContextDir and the Containerfile the
// checkout's (a pinned copy in the request's WorkDir when parents were
// rebuilt, see rebuild.Pin). Build arguments, labels and annotations come
// from the request; Secrets are handed over as BuildKit secrets (RUN
// --mount=type=secret,id=NAME), which never enter a layer, and their
// values are scrubbed from the log and from errors, as are Credentials.
//
// Layers pulled from a base are pushed as the same blobs, so the bottom
// layers of the image are the base's byte for byte; Build checks this and
// falls back to rebuild.ShareBaseLayers when a daemon recompressed them.
//
// When a daemon fails during a build (its connection drops, it no longer
// answers a health check, or it stops answering the checks made while
// the build runs, see WithWatchInterval), the build is retried on another
// daemon;
// a build that fails on a healthy daemon (a failing RUN, a syntax error)
// is not retried and returns a *rebuild.BuildError with the log.
type Builder struct {
	// Pool holds the daemons to build on. Required.
	Pool *Pool
	// Repository returns the staging repository a request's image is
	// pushed to (default: the repository of Request.Ref).
	Repository func(req *rebuild.Request) string
	// Platforms are the platforms to build ("linux/amd64",
	// "linux/arm64") when the request names none; empty builds the
	// daemon's own. A request with Platform set (rebuild builds a
	// multi-platform image one platform at a time and assembles the
	// index itself) builds that platform only. With more than one,
	// the push is an image index, Output.Index; Result.Image is the image
	// of the first platform only, so with rebuild.Run set
	// Target.Platforms rather than Platforms.
	Platforms []string
	// Credentials maps registry hosts to the logins the daemons use to
	// pull bases, push the image and read and write the cache, and that
	// Build uses to read the pushed image back.
	Credentials map[string]rebuild.Credential
	// InsecureHosts are registries reached over plain HTTP: pushes and
	// cache exports to them are marked registry.insecure. Loopback hosts
	// are plain HTTP for buildkitd anyway; pulls from other insecure
	// hosts need a [registry."host"] entry in buildkitd.toml.
	InsecureHosts []string
	// Secrets are the build secrets, by id.
	Secrets map[string]rebuild.Secret
	// Cache is a registry repository for BuildKit's layer cache
	// ("reg/ns/buildcache"); each image's cache is a tag of it named after
	// the image's repository, imported before and exported (mode=max)
	// after every build. Empty disables the registry cache.
	Cache string
	// MaxAttempts bounds how many daemons one build is tried on (default:
	// every daemon of the pool once).
	MaxAttempts int
	// Options are added to the go-containerregistry calls that read the
	// pushed image and its base (transport, user agent); auth comes from
	// Credentials.
	Options []remote.Option
	// Logger receives one record per attempt; by default the builder is
	// quiet.
	Logger *slog.Logger
}

var _ rebuild.Builder = (*Builder)(nil)

// Name returns "buildkit".
func (b *Builder) Name() string { return "buildkit" }

// Output is the full result of one build.
type Output struct {
	// Ref is the pushed manifest (or index) as "repo@sha256:…".
	Ref string
	// Digest is its digest.
	Digest v1.Hash
	// Image is the built image (of the first platform for an index).
	Image v1.Image
	// Index is the pushed index of a multi-platform build, nil otherwise.
	Index v1.ImageIndex
	// BaseName and BaseDigest identify the base of the final stage
	// (BaseDigest for the image's platform).
	BaseName, BaseDigest string
	// SharedLayers is how many bottom layers are the base's blobs.
	SharedLayers int
	// Reshared is true when the daemon's blobs for the base layers
	// differed and Image has them replaced (rebuild.ShareBaseLayers).
	Reshared bool
	// Daemon is the address of the daemon that built the image.
	Daemon string
	// Attempts lists every try, the successful one last.
	Attempts []Attempt
	// Steps and Cached count the build's steps and those BuildKit took
	// from its cache.
	Steps, Cached int
	// Log is the build's progress output, secrets scrubbed.
	Log []byte
}

// Attempt is one try of a build on one daemon.
type Attempt struct {
	Daemon   string
	Duration time.Duration
	Err      error // nil for the successful attempt; secrets scrubbed
}

// Build builds req and returns the pushed image; see Solve.
func (b *Builder) Build(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	out, err := b.Solve(ctx, req)
	if err != nil {
		return nil, err
	}
	return &rebuild.Result{Image: out.Image, BaseName: out.BaseName, BaseDigest: out.BaseDigest, Log: out.Log}, nil
}

// Solve builds req on a daemon of the pool, retrying on another daemon
// when one fails, pushes the result and reads it back. A daemon pushes
// only at the end of a build, so a daemon that dies mid-build has pushed
// nothing; one that dies between its push and its answer makes the retry
// push the image again (the layers are then already in the registry).
func (b *Builder) Solve(ctx context.Context, req *rebuild.Request) (*Output, error) {
	if b.Pool == nil {
		return nil, errors.New("buildkit: Builder needs a Pool")
	}
	if req.Source == nil {
		return nil, rebuild.ErrNoSource
	}
	job, err := b.prepare(req)
	if err != nil {
		return nil, err
	}
	defer job.cleanup()
	log := b.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	attempts := b.MaxAttempts
	if attempts <= 0 {
		attempts = len(b.Pool.daemons)
	}
	var (
		tried []string
		out   = &Output{}
		last  error
	)
	for range attempts {
		lease, err := b.Pool.Acquire(ctx, tried...)
		if err != nil {
			if last != nil {
				return nil, fmt.Errorf("buildkit: %w (after %w)", err, last)
			}
			return nil, fmt.Errorf("buildkit: %w", err)
		}
		start := time.Now()
		resp, logText, steps, cached, err := b.solveOn(ctx, lease, job)
		retry := false
		if err != nil && ctx.Err() == nil {
			// Tell a daemon that died from a build that failed: a
			// daemon that stopped answering during the build or does
			// not answer now is marked down; a dropped connection to
			// one that answers again is retried elsewhere too. Anything
			// else is the build's own failure.
			if errors.Is(err, errDaemonLost) {
				b.Pool.markDown(lease.d, errors.New(job.scrub(err.Error())))
				retry = true
			} else {
				retry = !b.Pool.recheck(ctx, lease) || connectionError(err)
			}
		}
		lease.Release()
		a := Attempt{Daemon: lease.Address(), Duration: time.Since(start)}
		if err != nil {
			a.Err = errors.New(job.scrub(err.Error()))
		}
		out.Attempts = append(out.Attempts, a)
		log.LogAttrs(ctx, slog.LevelInfo, "buildkit: attempt", slog.String("daemon", a.Daemon),
			slog.Duration("duration", a.Duration), slog.Bool("retry", retry), slog.String("error", errString(job.scrub, err)))
		if err == nil {
			out.Daemon, out.Steps, out.Cached, out.Log = lease.Address(), steps, cached, logText
			if err := b.readBack(ctx, job, resp, out); err != nil {
				return nil, fmt.Errorf("buildkit: %s", job.scrub(err.Error()))
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, b.buildError(job, lease.Address(), logText, fmt.Errorf("%w (%s)", ctx.Err(), job.scrub(err.Error())))
		}
		if !retry {
			return nil, b.buildError(job, lease.Address(), logText, errors.New(job.scrub(err.Error())))
		}
		tried = append(tried, lease.Address())
		last = fmt.Errorf("daemon %s failed: %s", lease.Address(), job.scrub(err.Error()))
	}
	return nil, fmt.Errorf("buildkit: gave up after %d attempts: %w", len(out.Attempts), last)
}

func errString(scrub func(string) string, err error) string {
	if err == nil {
		return ""
	}
	return scrub(firstLine(err.Error()))
}

var exitCodeRE = regexp.MustCompile(`exit code: (\d+)`)

func (b *Builder) buildError(job *job, daemon string, log []byte, err error) *rebuild.BuildError {
	code := -1
	if m := exitCodeRE.FindStringSubmatch(err.Error()); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	return &rebuild.BuildError{
		Builder: b.Name(), Args: []string{"daemon=" + daemon, "frontend=dockerfile.v0", "filename=" + filepath.Base(job.containerfile)},
		ExitCode: code, Log: log, Tail: lastLines(string(log), rebuild.TailLines), Err: err,
	}
}

// job is what every attempt of one build shares.
type job struct {
	req           *rebuild.Request
	containerfile string
	buildArgs     map[string]string
	repo          name.Repository
	cacheRef      string
	base          string   // final stage's base image, "" when none
	platforms     []string // platforms to build, nil for the daemon's
	secrets       []string
	dir           string // private directory removed by cleanup
	scrub         func(string) string
}

func (j *job) cleanup() {
	if j.dir != "" {
		_ = os.RemoveAll(j.dir)
	}
}

// prepare pins the Containerfile and resolves the names a build uses.
func (b *Builder) prepare(req *rebuild.Request) (*job, error) {
	j := &job{req: req, containerfile: req.Source.Containerfile, buildArgs: maps.Clone(req.BuildArgs)}
	if j.buildArgs == nil {
		j.buildArgs = map[string]string{}
	}
	j.platforms = b.Platforms
	if req.Platform != nil {
		j.platforms = []string{rebuild.PlatformString(*req.Platform)}
	}
	j.secrets = secretValues(b.Secrets, b.Credentials)
	j.secrets = append(j.secrets, secretValues(req.Secrets, nil)...)
	j.scrub = func(s string) string { return scrub(s, j.secrets) }
	data, err := os.ReadFile(req.Source.Containerfile)
	if err != nil {
		return nil, fmt.Errorf("buildkit: read containerfile: %w", err)
	}
	if len(req.Pins) > 0 {
		pinned, extra, err := rebuild.Pin(data, req.BuildArgs, req.Pins)
		if err != nil {
			return nil, err
		}
		parent := req.WorkDir
		if parent == "" {
			parent = os.TempDir()
		}
		if j.dir, err = os.MkdirTemp(parent, "buildkit-"); err != nil {
			return nil, err
		}
		j.containerfile = filepath.Join(j.dir, "Containerfile")
		if err := os.WriteFile(j.containerfile, pinned, 0o644); err != nil {
			j.cleanup()
			return nil, err
		}
		maps.Copy(j.buildArgs, extra)
		data = pinned
	}
	if cf, err := rebuild.ParseContainerfile(data, j.buildArgs); err == nil {
		j.base = finalBase(cf)
	}
	repoName := rebuild.Repository(req.Ref)
	if b.Repository != nil {
		repoName = b.Repository(req)
	}
	if j.repo, err = name.NewRepository(repoName, b.nameOpts(repoName)...); err != nil {
		j.cleanup()
		return nil, fmt.Errorf("buildkit: staging repository %q: %w", repoName, err)
	}
	if b.Cache != "" {
		tag := cacheTag.ReplaceAllString(j.repo.RepositoryStr(), "-")
		if len(tag) > 128 {
			tag = tag[len(tag)-128:]
		}
		j.cacheRef = b.Cache + ":" + strings.TrimLeft(tag, ".-")
		if _, err := name.NewTag(j.cacheRef, b.nameOpts(j.cacheRef)...); err != nil {
			j.cleanup()
			return nil, fmt.Errorf("buildkit: cache reference %q: %w", j.cacheRef, err)
		}
	}
	return j, nil
}

var cacheTag = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// finalBase returns the image the final stage is built on, following
// stage references ("" for scratch or when it cannot be told).
func finalBase(cf *rebuild.Containerfile) string {
	st := cf.Final()
	for range len(cf.Stages) {
		if !st.Stage {
			if st.Image == "scratch" {
				return ""
			}
			return st.Image
		}
		i := slices.IndexFunc(cf.Stages, func(s rebuild.Stage) bool { return s.Name == st.Image })
		if i < 0 {
			return ""
		}
		st = cf.Stages[i]
	}
	return ""
}

func (b *Builder) insecure(host string) bool {
	want := normHost(host)
	return slices.ContainsFunc(b.InsecureHosts, func(h string) bool { return normHost(h) == want })
}

func (b *Builder) nameOpts(ref string) []name.Option {
	if r, err := name.ParseReference(ref); err == nil && b.insecure(r.Context().RegistryStr()) {
		return []name.Option{name.Insecure}
	}
	if r, err := name.NewRepository(ref); err == nil && b.insecure(r.RegistryStr()) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// normHost returns the canonical form of a registry host ("docker.io" and
// "registry-1.docker.io" are "index.docker.io").
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://"), "/")
	if h == authprovider.DockerHubRegistryHost {
		h = name.DefaultRegistry
	}
	if r, err := name.NewRegistry(h); err == nil {
		return r.RegistryStr()
	}
	return h
}

// solveOn runs one attempt on the leased daemon. It returns the exporter
// response and the scrubbed log.
func (b *Builder) solveOn(ctx context.Context, lease *Lease, j *job) (map[string]string, []byte, int, int, error) {
	req := j.req
	contextFS, err := fsutil.NewFS(req.Source.ContextDir)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("buildkit: build context: %w", err)
	}
	dockerfileFS, err := fsutil.NewFS(filepath.Dir(j.containerfile))
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("buildkit: containerfile directory: %w", err)
	}
	attrs := map[string]string{"filename": filepath.Base(j.containerfile)}
	for k, v := range j.buildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	if len(j.platforms) > 0 {
		attrs["platform"] = strings.Join(j.platforms, ",")
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	insecure := b.insecure(j.repo.RegistryStr())
	exp := map[string]string{
		"name":           j.repo.Name(),
		"push":           "true",
		"push-by-digest": "true",
		"oci-mediatypes": "true",
		"compression":    "gzip",
	}
	if insecure {
		exp["registry.insecure"] = "true"
	}
	for k, v := range req.Annotations {
		exp["annotation."+k] = v
	}
	opt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": contextFS, "dockerfile": dockerfileFS},
		Exports:       []client.ExportEntry{{Type: client.ExporterImage, Attrs: exp}},
		Session:       []session.Attachable{b.authProvider(), secretsprovider.FromMap(b.secretBytes(req.Secrets))},
	}
	if j.cacheRef != "" {
		ca := map[string]string{"ref": j.cacheRef}
		if cr, err := name.ParseReference(j.cacheRef); err == nil && b.insecure(cr.Context().RegistryStr()) {
			ca["registry.insecure"] = "true"
		}
		if !req.NoCache {
			opt.CacheImports = []client.CacheOptionsEntry{{Type: "registry", Attrs: maps.Clone(ca)}}
		}
		ex := maps.Clone(ca)
		ex["mode"], ex["oci-mediatypes"], ex["image-manifest"] = "max", "true", "true"
		opt.CacheExports = []client.CacheOptionsEntry{{Type: "registry", Attrs: ex}}
	}

	pw := newProgress(j.scrub)
	ch := make(chan *client.SolveStatus)
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go b.Pool.watchLease(sctx, lease, cancel)
	type solved struct {
		resp *client.SolveResponse
		err  error
	}
	done := make(chan solved, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for st := range ch { // Solve closes ch when it returns
			pw.add(st)
		}
	}()
	go func() {
		resp, err := lease.Client().Solve(sctx, nil, opt, ch)
		done <- solved{resp, err}
	}()
	var res solved
	select {
	case res = <-done:
		<-drained
	case <-sctx.Done():
		if cause := context.Cause(sctx); ctx.Err() == nil && errors.Is(cause, errDaemonLost) {
			// The client waits for the daemon's status stream to go
			// quiet before it returns; a lost daemon will not answer,
			// so leave Solve to end on its own.
			log, steps, cached := pw.result()
			return nil, log, steps, cached, cause
		}
		res = <-done
		<-drained
	}
	log, steps, cached := pw.result()
	if res.err != nil {
		return nil, log, steps, cached, res.err
	}
	return res.resp.ExporterResponse, log, steps, cached, nil
}

// secretBytes are the builder's secrets and the request's, the
// request's winning for the same id.
func (b *Builder) secretBytes(req map[string]rebuild.Secret) map[string][]byte {
	m := make(map[string][]byte, len(b.Secrets)+len(req))
	for k, v := range b.Secrets {
		m[k] = []byte(v.Reveal())
	}
	for k, v := range req {
		m[k] = []byte(v.Reveal())
	}
	return m
}

// authProvider answers the daemons' credential requests from
// Credentials; hosts without one are anonymous.
func (b *Builder) authProvider() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: func(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
			want := normHost(host)
			for h, c := range b.Credentials {
				if normHost(h) == want {
					return types.AuthConfig{Username: c.Username, Password: c.Password.Reveal(), ServerAddress: host}, nil
				}
			}
			return types.AuthConfig{ServerAddress: host}, nil
		},
	})
}

// readBack fetches the pushed manifest and fills out's image fields.
func (b *Builder) readBack(ctx context.Context, j *job, resp map[string]string, out *Output) error {
	dg := resp["containerimage.digest"]
	if dg == "" {
		return errors.New("daemon reported no image digest")
	}
	h, err := v1.NewHash(dg)
	if err != nil {
		return fmt.Errorf("image digest %q: %w", dg, err)
	}
	ref := j.repo.Digest(dg)
	out.Ref, out.Digest = ref.String(), h
	opts := b.remoteOptions(ctx)
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return fmt.Errorf("read pushed image %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		out.Index = idx
		if out.Image, err = firstImage(idx, j.platforms); err != nil {
			return fmt.Errorf("pushed index %s: %w", ref, err)
		}
	} else if out.Image, err = desc.Image(); err != nil {
		return err
	}
	if j.base == "" {
		return nil
	}
	out.BaseName = j.base
	base, err := b.pullBase(ctx, j.base, out.Image)
	if err != nil {
		return err
	}
	d, err := base.Digest()
	if err != nil {
		return err
	}
	out.BaseDigest = d.String()
	n, err := sharedPrefix(out.Image, base)
	if err != nil {
		return err
	}
	out.SharedLayers = n
	if bl, err := base.Layers(); err == nil && n < len(bl) {
		img, shared, err := rebuild.ShareBaseLayers(out.Image, base)
		if err != nil {
			return err
		}
		if shared > n {
			out.Image, out.SharedLayers, out.Reshared = img, shared, true
		}
	}
	return nil
}

// firstImage returns the image of the index for the first of platforms,
// or its first image.
func firstImage(idx v1.ImageIndex, platforms []string) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var want *v1.Platform
	if len(platforms) > 0 {
		if want, err = v1.ParsePlatform(platforms[0]); err != nil {
			return nil, err
		}
	}
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil || d.Platform.OS == "unknown" {
			continue // attestations
		}
		if want == nil || d.Platform.Satisfies(*want) {
			return idx.Image(d.Digest)
		}
	}
	return nil, errors.New("no image for the platform")
}

func (b *Builder) remoteOptions(ctx context.Context) []remote.Option {
	opts := append([]remote.Option{remote.WithAuthFromKeychain(keychain(b.Credentials))}, b.Options...)
	return append(opts, remote.WithContext(ctx))
}

// pullBase reads the base image for img's platform.
func (b *Builder) pullBase(ctx context.Context, baseRef string, img v1.Image) (v1.Image, error) {
	ref, err := name.ParseReference(baseRef, b.nameOpts(baseRef)...)
	if err != nil {
		return nil, fmt.Errorf("base %q: %w", baseRef, err)
	}
	opts := b.remoteOptions(ctx)
	if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
		opts = append(opts, remote.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
	}
	base, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("read base %s: %w", baseRef, err)
	}
	return base, nil
}

// sharedPrefix counts the bottom layers of img that are base's blobs.
func sharedPrefix(img, base v1.Image) (int, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	bm, err := base.Manifest()
	if err != nil {
		return 0, err
	}
	n := 0
	for n < len(m.Layers) && n < len(bm.Layers) && m.Layers[n].Digest == bm.Layers[n].Digest {
		n++
	}
	return n, nil
}
