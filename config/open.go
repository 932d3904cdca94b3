package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // SQLite state and sqlite rpmdbs
	"github.com/openabs/abs/secret"
)

func (f *File) level() (slog.Level, error) {
	switch strings.ToLower(f.LogLevel) {
	case "", "warn", "warning":
		return slog.LevelWarn, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, f.errorf("log_level", "unknown level (want debug, info, warn or error)")
}

// Open opens the configured database and builds the orchestrator the file
// describes; extra options are applied last. The caller closes the
// database after stopping the orchestrator.
func (f *File) Open(ctx context.Context, extra ...abs.Option) (*abs.Orchestrator, *abs.Database, error) {
	level, err := f.level()
	if err != nil {
		return nil, nil, err
	}
	// Every secret read below is added to the scrubber as it is read, so
	// that nothing logged, stored or mailed repeats one, even when a
	// server echoes it back.
	scrub := f.scrubber()
	logger := slog.New(scrub.Handler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	opts := []abs.Option{abs.WithLogger(logger), abs.WithWorkDir(f.WorkDir), abs.WithScrubber(scrub)}
	if f.Secrets.KeyFile != "" || f.Secrets.KeyEnv != "" {
		k, err := secret.LoadKey(f.Secrets.KeyFile, f.Secrets.KeyEnv)
		if err != nil {
			return nil, nil, f.errorf("secrets", "%v", err)
		}
		for _, id := range k.Identities() {
			scrub.AddValue(id)
		}
		opts = append(opts, abs.WithSecretKey(k))
	}
	progress := f.progress()
	if progress != nil {
		opts = append(opts, abs.WithProgress(progress))
	}

	// Registries: credentials per host, plain HTTP only where a host
	// says so.
	auth := map[string]authn.Authenticator{}
	creds := map[string]rebuild.Credential{} // the same logins, for builders
	var insecure []string
	for i, r := range f.Registries {
		if r.Insecure {
			insecure = append(insecure, r.Host)
		}
		if r.Username != "" {
			pw, err := f.secret(fmt.Sprintf("registries[%d].password", i), r.PasswordFile, r.PasswordEnv)
			if err != nil {
				return nil, nil, err
			}
			scrub.AddBasic(r.Username, pw)
			auth[r.Host] = &authn.Basic{Username: r.Username, Password: pw}
			creds[r.Host] = rebuild.Credential{Username: r.Username, Password: secret.New(pw)}
		}
	}
	kc := authn.NewMultiKeychain(staticKeychain(auth), authn.DefaultKeychain)
	ropts := []remote.Option{remote.WithAuthFromKeychain(kc)}
	opts = append(opts, abs.WithRemoteOptions(ropts...), abs.WithInsecureRegistries(insecure...))

	// Advisories. A feed's first sync reads tens of thousands of
	// documents: its progress goes to the progress hook.
	for i, loc := range f.Advisories.Sources {
		shown := secret.HideUserinfo(loc)
		var sopts []advisory.Option
		sopts = append(sopts, advisory.WithLogger(logger))
		if progress != nil {
			sopts = append(sopts, advisory.WithProgress(func(p advisory.Progress) {
				msg := fmt.Sprintf("%s: %d documents read", shown, p.Done)
				if p.Total > 0 {
					msg = fmt.Sprintf("%s: %d/%d documents read", shown, p.Done, p.Total)
				}
				progress(abs.Progress{Stage: "sync", Message: msg})
			}))
		}
		src, err := advisory.Open(loc, sopts...)
		if err != nil {
			return nil, nil, f.errorf(fmt.Sprintf("advisories.sources[%d]", i), "%s", secret.HideUserinfo(err.Error()))
		}
		opts = append(opts, abs.WithSources(src))
	}
	if f.Advisories.RepositoryToCPE != "" {
		m, err := advisory.LoadRepoCPE(ctx, f.Advisories.RepositoryToCPE, advisory.WithLogger(logger))
		if err != nil {
			return nil, nil, fmt.Errorf("config: advisories.repository_to_cpe: %s", secret.HideUserinfo(err.Error()))
		}
		opts = append(opts, abs.WithIndexOptions(advisory.WithRepoCPE(m)))
	}

	// Builders.
	// A builder pulls the bases itself: it gets the logins and the
	// insecure hosts of registries[] (an auth file and a registries.conf
	// per build, see rebuild.Buildah).
	switch f.Builder.Kind {
	case "", "buildah":
		opts = append(opts, abs.WithBuilder(&rebuild.Buildah{Path: f.Builder.Path, StorageDriver: f.Builder.StorageDriver,
			Isolation: f.Builder.Isolation, Root: f.Builder.Root, RunRoot: f.Builder.RunRoot,
			Credentials: creds, InsecureHosts: insecure, Options: ropts}))
	case "podman":
		p := rebuild.Podman()
		p.Credentials, p.InsecureHosts = creds, insecure
		opts = append(opts, abs.WithBuilder(p))
	case "buildkit":
		if f.NewBuildKit == nil {
			return nil, nil, f.errorf("builder.kind", "buildkit needs a program that links package buildkit (examples/autorebuild does)")
		}
		b, err := f.NewBuildKit(f.buildKit(creds, insecure, ropts, logger))
		if err != nil {
			return nil, nil, f.errorf("builder", "%s", f.scrubber().Scrub(err.Error()))
		}
		opts = append(opts, abs.WithBuilder(b))
	}
	storm, err := f.storm()
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, abs.WithStorm(storm))
	if f.Builder.Rebase != nil && !*f.Builder.Rebase {
		opts = append(opts, abs.WithRebaser(nil))
	} else {
		opts = append(opts, abs.WithRebaser(&rebuild.Rebase{Options: ropts}))
	}

	// Publishers and the catalog.
	regOpts := []publish.Option{publish.WithKeychain(kc), publish.WithLogger(logger), publish.WithImageCheck(rebuild.CheckPullable)}
	if len(insecure) > 0 {
		regOpts = append(regOpts, publish.WithPlainHTTP(),
			publish.WithHTTPClient(plainHTTPHosts{hosts: insecure, inner: remote.DefaultTransport}))
	}
	var pub publish.Publisher = publish.NewRegistry(regOpts...)
	var catalog *partnerapi.Client
	if f.Catalog.APIKeyFile != "" || f.Catalog.APIKeyEnv != "" {
		key, err := f.secret("catalog.api_key", f.Catalog.APIKeyFile, f.Catalog.APIKeyEnv)
		scrub.Add(key)
		if err != nil {
			return nil, nil, err
		}
		var copts []partnerapi.Option
		if f.Catalog.BaseURL != "" {
			copts = append(copts, partnerapi.WithBaseURL(f.Catalog.BaseURL))
		}
		catalog, err = partnerapi.New(secret.New(key), append(copts, partnerapi.WithLogger(logger))...)
		if err != nil {
			return nil, nil, err
		}
		if f.Catalog.Publish {
			pub = publish.Chain(pub, publish.NewCatalog(catalog, publish.WithLogger(logger)))
		}
	}
	opts = append(opts, abs.WithPublisher(pub))

	// Certification gate and signing (supplychain.go).
	scOpts, err := f.supplyChainOptions(kc, insecure, remote.DefaultTransport, catalog, logger)
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, scOpts...)

	// Notifiers.
	var notifiers notify.Fanout
	if e := f.Notify.Email; e != nil {
		pw, err := f.secret("notify.email.password", e.PasswordFile, e.PasswordEnv)
		if err != nil {
			return nil, nil, err
		}
		scrub.AddBasic(e.Username, pw) // SMTP PLAIN sends base64("\x00user\x00password")
		cfg := notify.EmailConfig{Host: e.Host, Port: e.Port, Username: e.Username, Password: secret.New(pw), From: e.From, Logger: logger}
		switch e.TLS {
		case "", "starttls":
			cfg.TLS = notify.StartTLS
		case "tls":
			cfg.TLS = notify.ImplicitTLS
		case "none":
			cfg.TLS = notify.NoTLS
		}
		m, err := notify.NewEmail(cfg)
		if err != nil {
			return nil, nil, err
		}
		notifiers = append(notifiers, m)
	}
	if w := f.Notify.Webhook; w != nil {
		sec, err := f.secret("notify.webhook.secret", w.SecretFile, w.SecretEnv)
		if err != nil {
			return nil, nil, err
		}
		h, err := notify.NewWebhook(w.URL, secret.New(sec), notify.WithLogger(logger))
		if err != nil {
			return nil, nil, err
		}
		notifiers = append(notifiers, h)
	}
	// Fail fast: a wrong mail host, TLS mode or password, or an
	// unreachable webhook, is told now rather than when a message is due.
	if err := notifiers.Check(ctx); err != nil {
		return nil, nil, fmt.Errorf("config: %s", scrub.Scrub(err.Error()))
	}
	notifiers = append(notifiers, notify.NewLog(logger))
	opts = append(opts, abs.WithNotifier(notifiers))

	warn, _ := f.duration("warn_before", f.WarnBefore, 7*24*time.Hour)
	opts = append(opts, abs.WithPollInterval(f.PollInterval()), abs.WithWarnBefore(warn))
	if f.Notify.FailureReminder != "" {
		d, _ := f.duration("notify.failure_reminder", f.Notify.FailureReminder, abs.DefaultFailureReminder)
		opts = append(opts, abs.WithFailureReminder(d))
	}
	if f.Jobs.Timeout != "" {
		d, _ := f.duration("jobs.timeout", f.Jobs.Timeout, abs.DefaultJobTimeout)
		opts = append(opts, abs.WithJobTimeout(d))
	}
	if f.Jobs.RescueAfter != "" {
		d, _ := f.duration("jobs.rescue_after", f.Jobs.RescueAfter, abs.DefaultRescueAfter)
		opts = append(opts, abs.WithRescueAfter(d))
	}
	if f.Workers.Scans > 0 || f.Workers.Builds > 0 {
		scans, builds := f.Workers.Scans, f.Workers.Builds
		if scans <= 0 {
			scans = 4
		}
		if builds <= 0 {
			builds = 2
		}
		opts = append(opts, abs.WithWorkers(scans, builds))
	}

	projects, err := f.projects(ctx, catalog)
	if err != nil {
		return nil, nil, err
	}

	var db *abs.Database
	if f.State.PostgresEnv != "" {
		dsn, err := f.secret("state.postgres", "", f.State.PostgresEnv)
		if err != nil {
			return nil, nil, err
		}
		if db, err = abs.OpenPostgres(ctx, dsn); err != nil {
			return nil, nil, err
		}
	} else {
		path := f.State.SQLite
		if path == "" {
			path = "openabs.db"
		}
		if db, err = abs.OpenSQLite(ctx, path); err != nil {
			return nil, nil, err
		}
	}
	o, err := abs.New(ctx, db, projects, append(opts, extra...)...)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return o, db, nil
}

// progress returns the Progress hook serialized, since the feed's progress
// and the orchestrator's arrive from different goroutines.
func (f *File) progress() func(abs.Progress) {
	if f.Progress == nil {
		return nil
	}
	var mu sync.Mutex
	return func(p abs.Progress) {
		mu.Lock()
		defer mu.Unlock()
		f.Progress(p)
	}
}

func (f *File) projects(ctx context.Context, catalog *partnerapi.Client) ([]abs.Project, error) {
	var out []abs.Project
	for pi, cp := range f.Projects {
		p := abs.Project{Name: cp.Name, Owners: cp.Owners}
		if cp.CatalogID != "" {
			if catalog == nil {
				return nil, f.errorf(fmt.Sprintf("projects[%d].catalog_id", pi), "needs catalog.api_key_file or catalog.api_key_env")
			}
			cat, err := abs.ProjectFromCatalog(ctx, catalog, cp.CatalogID)
			if err != nil {
				return nil, err
			}
			p.ID, p.Images = cat.ID, cat.Images
			if p.Name == "" {
				p.Name = cat.Name
			}
		}
		for ii, ci := range cp.Images {
			img := abs.Image{Name: ci.Name, Repository: ci.Repository, Tag: ci.Tag, Tags: ci.Tags, AutoRebuild: ci.AutoRebuild,
				AutoPublish: ci.AutoPublish, Owners: ci.Owners, Base: ci.Base, BuildArgs: ci.BuildArgs, CatalogImageID: ci.CatalogID,
				BuildService: ci.BuildService || ci.AutoRebuild}
			if s := ci.Source; s != nil {
				key := fmt.Sprintf("projects[%d].images[%d].source.", pi, ii)
				src := &rebuild.GitSource{URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit, ContextDir: s.ContextDir,
					Containerfile: s.Containerfile}
				src.Auth.Username = s.Username
				src.Auth.KnownHostsFile = s.KnownHostsFile
				src.Auth.InsecureIgnoreHostKey = s.InsecureIgnoreHostKey
				if s.TrustOnFirstUse {
					img.SourceSpec = &abs.SourceSpec{URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit,
						ContextDir: s.ContextDir, Containerfile: s.Containerfile, Username: s.Username, TrustOnFirstUse: true}
				}
				if s.SSHKeyFile != "" {
					k, err := f.secret(key+"ssh_key", s.SSHKeyFile, "")
					if err != nil {
						return nil, err
					}
					src.Auth.SSHKey = secret.New(k + "\n")
				}
				if s.SSHKeyPassphraseFile != "" {
					pp, err := f.secret(key+"ssh_key_passphrase", s.SSHKeyPassphraseFile, "")
					if err != nil {
						return nil, err
					}
					src.Auth.SSHKeyPassphrase = secret.New(pp)
				}
				if tok, err := f.secret(key+"token", s.TokenFile, s.TokenEnv); err != nil {
					return nil, err
				} else if tok != "" {
					src.Auth.Token = secret.New(tok)
					user := s.Username
					if user == "" {
						user = "x-access-token" // rebuild.GitSource's default
					}
					f.scrubber().AddBasic(user, tok)
				}
				img.Source = src
			}
			for id, bs := range ci.BuildSecrets {
				key := fmt.Sprintf("projects[%d].images[%d].build_secrets.%s.secret", pi, ii, id)
				if bs.File == "" && bs.Env == "" {
					return nil, f.errorf(key+"_file", "a build secret needs secret_file or secret_env")
				}
				v, err := f.secret(key, bs.File, bs.Env)
				if err != nil {
					return nil, err
				}
				if img.BuildSecrets == nil {
					img.BuildSecrets = map[string]secret.Value{}
				}
				img.BuildSecrets[id] = secret.New(v)
			}
			p.Images = append(p.Images, img)
		}
		out = append(out, p)
	}
	return out, nil
}

// Serve runs until ctx is cancelled: the poll loop runs on the
// orchestrator's workers, when push.listen is set an HTTP server accepts
// advisory pushes at "/push" (see abs.Orchestrator.Handler), and when
// api.listen is set another serves the REST API and /metrics (APIHandler).
func (f *File) Serve(ctx context.Context, o *abs.Orchestrator) error {
	if f.API.Listen == "" {
		return f.servePush(ctx, o)
	}
	h, err := f.APIHandler(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.API.Listen)
	if err != nil {
		return fmt.Errorf("config: api.listen: %w", err)
	}
	// The first of the two servers to fail stops the other.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.servePush(gctx, o) })
	g.Go(func() error { return f.ServeAPI(gctx, ln, h) })
	return g.Wait()
}

func (f *File) servePush(ctx context.Context, o *abs.Orchestrator) error {
	if f.Push.Listen == "" {
		<-ctx.Done()
		return nil
	}
	sec, err := f.secret("push.secret", f.Push.SecretFile, f.Push.SecretEnv)
	if err != nil {
		return err
	}
	if sec == "" {
		return f.errorf("push.listen", "needs push.secret_file or push.secret_env")
	}
	mux := http.NewServeMux()
	mux.Handle("/push", o.Handler(secret.New(sec)))
	ln, err := net.Listen("tcp", f.Push.Listen)
	if err != nil {
		return fmt.Errorf("config: push.listen: %w", err)
	}
	lim := defaultPushLimits
	if f.Push.MaxConnections > 0 {
		lim.conns = f.Push.MaxConnections
	}
	return serve(ctx, ln, mux, lim)
}

// DefaultPushConnections is push.max_connections' default.
const DefaultPushConnections = 64

// pushLimits bound what one client of the push endpoint can hold.
type pushLimits struct {
	readHeader, read, write, idle time.Duration
	headerBytes, conns            int
}

// defaultPushLimits: a push is one small POST, so a client gets a few
// seconds for its headers and body, and an idle keep-alive connection is
// closed soon after its last request.
var defaultPushLimits = pushLimits{readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second,
	idle: 30 * time.Second, headerBytes: 16 << 10, conns: DefaultPushConnections}

// serve serves h on ln until ctx ends: read (headers and whole body),
// write and idle timeouts, a header size limit, and at most lim.conns
// connections at once (further ones wait in the kernel's accept queue).
func serve(ctx context.Context, ln net.Listener, h http.Handler, lim pushLimits) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: lim.readHeader, ReadTimeout: lim.read,
		WriteTimeout: lim.write, IdleTimeout: lim.idle, MaxHeaderBytes: lim.headerBytes}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(netutil.LimitListener(ln, lim.conns)) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// staticKeychain resolves registries from configured credentials.
type staticKeychain map[string]authn.Authenticator

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}

// plainHTTPHosts lets plain HTTP through to the listed hosts only. It is
// the publisher's transport (a RoundTripper, and a Doer for
// publish.WithHTTPClient).
type plainHTTPHosts struct {
	hosts []string
	inner http.RoundTripper
}

func (p plainHTTPHosts) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !slices.Contains(p.hosts, req.URL.Host) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s://%s is not a registry marked insecure", publish.ErrPlainHTTP, req.URL.Scheme, req.URL.Host)
	}
	return p.inner.RoundTrip(req)
}

// Do sends req through RoundTrip.
func (p plainHTTPHosts) Do(req *http.Request) (*http.Response, error) { return p.RoundTrip(req) }
