package abs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gopkg.in/yaml.v3"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
)

// Config is the YAML configuration file of a long-running orchestrator
// (examples/autorebuild -config). Secrets are never written inline: each
// is read from a *_file path, or from the environment variable a *_env key
// names.
type Config struct {
	// State is where River's jobs and the orchestrator's state live.
	State struct {
		// SQLite is a database file path (the default: "openabs.db").
		SQLite string `yaml:"sqlite"`
		// PostgresEnv names an environment variable holding a
		// PostgreSQL connection string; it wins over SQLite.
		PostgresEnv string `yaml:"postgres_env"`
	} `yaml:"state"`
	// Poll is the interval between cycles (default 1h; "0" disables
	// polling: cycles then start only from pushes).
	Poll string `yaml:"poll_interval"`
	// WarnBefore is how long before a grade drop owners are warned
	// (default 168h).
	WarnBefore string `yaml:"warn_before"`
	Workers    struct {
		Scans  int `yaml:"scans"`
		Builds int `yaml:"builds"`
	} `yaml:"workers"`
	Advisories struct {
		// Sources are advisory locations: a CSAF feed base URL
		// (https://…), OSV records (osv+https://… or osv:DIR), or a
		// local directory of documents.
		Sources []string `yaml:"sources"`
		// RepositoryToCPE is the repository-to-cpe.json file or URL
		// that maps content sets to products.
		RepositoryToCPE string `yaml:"repository_to_cpe"`
	} `yaml:"advisories"`
	// Registries holds credentials and transport settings per registry
	// host; hosts not listed use the Docker config keychain.
	Registries []struct {
		Host         string `yaml:"host"`
		Username     string `yaml:"username"`
		PasswordFile string `yaml:"password_file"`
		PasswordEnv  string `yaml:"password_env"`
		// Insecure allows plain HTTP (loopback or networks you control).
		Insecure bool `yaml:"insecure"`
	} `yaml:"registries"`
	Builder struct {
		// Kind is "buildah" (default), "podman", or "none" (rebase
		// only).
		Kind          string `yaml:"kind"`
		Path          string `yaml:"path"`
		StorageDriver string `yaml:"storage_driver"`
		Isolation     string `yaml:"isolation"`
		Root          string `yaml:"root"`
		RunRoot       string `yaml:"runroot"`
		// Rebase turns the rebase fast path on (default true).
		Rebase *bool `yaml:"rebase"`
	} `yaml:"builder"`
	// Catalog, when set, publishes to the certification catalog after
	// the registry and lets projects be read from it.
	Catalog struct {
		BaseURL    string `yaml:"base_url"`
		APIKeyFile string `yaml:"api_key_file"`
		APIKeyEnv  string `yaml:"api_key_env"`
		Publish    bool   `yaml:"publish"`
	} `yaml:"catalog"`
	Notify struct {
		Email *struct {
			Host         string `yaml:"host"`
			Port         int    `yaml:"port"`
			TLS          string `yaml:"tls"` // starttls (default), tls, none
			Username     string `yaml:"username"`
			PasswordFile string `yaml:"password_file"`
			PasswordEnv  string `yaml:"password_env"`
			From         string `yaml:"from"`
		} `yaml:"email"`
		Webhook *struct {
			URL        string `yaml:"url"`
			SecretFile string `yaml:"secret_file"`
			SecretEnv  string `yaml:"secret_env"`
		} `yaml:"webhook"`
	} `yaml:"notify"`
	// Push is the HTTP endpoint that accepts a newly released advisory.
	Push struct {
		Listen     string `yaml:"listen"`
		SecretFile string `yaml:"secret_file"`
		SecretEnv  string `yaml:"secret_env"`
	} `yaml:"push"`
	Projects []ConfigProject `yaml:"projects"`
	// WorkDir is where builds check sources out (default the system temp
	// dir).
	WorkDir string `yaml:"work_dir"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
}

// ConfigProject is one project in the configuration file.
type ConfigProject struct {
	Name string `yaml:"name"`
	// CatalogID reads the project's settings (repository, source,
	// auto-rebuild, auto-publish) from the catalog; images listed here
	// are added to what the catalog says.
	CatalogID string        `yaml:"catalog_id"`
	Owners    []string      `yaml:"owners"`
	Images    []ConfigImage `yaml:"images"`
}

// ConfigImage is one managed image in the configuration file.
type ConfigImage struct {
	Name        string            `yaml:"name"`
	Repository  string            `yaml:"repository"`
	Tag         string            `yaml:"tag"`
	Tags        []string          `yaml:"tags"`
	AutoRebuild bool              `yaml:"auto_rebuild"`
	AutoPublish bool              `yaml:"auto_publish"`
	Owners      []string          `yaml:"owners"`
	Base        string            `yaml:"base"`
	BuildArgs   map[string]string `yaml:"build_args"`
	CatalogID   string            `yaml:"catalog_image_id"`
	Source      *struct {
		URL                   string `yaml:"url"`
		Branch                string `yaml:"branch"`
		Tag                   string `yaml:"tag"`
		Commit                string `yaml:"commit"`
		ContextDir            string `yaml:"context_dir"`
		Containerfile         string `yaml:"containerfile"`
		Username              string `yaml:"username"`
		SSHKeyFile            string `yaml:"ssh_key_file"`
		SSHKeyPassphraseFile  string `yaml:"ssh_key_passphrase_file"`
		TokenFile             string `yaml:"token_file"`
		TokenEnv              string `yaml:"token_env"`
		KnownHostsFile        string `yaml:"known_hosts_file"`
		InsecureIgnoreHostKey bool   `yaml:"insecure_ignore_host_key"`
	} `yaml:"source"`
}

// LoadConfig reads and checks a YAML configuration file. Unknown keys are
// errors, so a typo does not silently drop a setting.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("abs: config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	if _, err := c.duration(c.Poll, time.Hour); err != nil {
		return nil, err
	}
	if _, err := c.duration(c.WarnBefore, 7*24*time.Hour); err != nil {
		return nil, err
	}
	if len(c.Projects) == 0 {
		return nil, fmt.Errorf("%w: %s: no projects", ErrConfig, path)
	}
	return &c, nil
}

func (c *Config) duration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: bad duration %q", ErrConfig, s)
	}
	return d, nil
}

// PollInterval returns the configured poll interval.
func (c *Config) PollInterval() time.Duration {
	d, _ := c.duration(c.Poll, time.Hour)
	return d
}

// secret reads a secret from a file or an environment variable.
func secret(file, env string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: secret file: %v", ErrConfig, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%w: environment variable %s is not set", ErrConfig, env)
		}
		return v, nil
	}
	return "", nil
}

// Open opens the configured database and builds the orchestrator; extra
// options are applied last.
func (c *Config) Open(ctx context.Context, extra ...Option) (*Orchestrator, *Database, error) {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.LogLevel)))
	if c.LogLevel == "" {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := []Option{WithLogger(logger), WithWorkDir(c.WorkDir)}

	// Registries.
	var nameOpts []name.Option
	auth := map[string]authn.Authenticator{}
	for _, r := range c.Registries {
		if r.Insecure {
			nameOpts = append(nameOpts, name.Insecure)
		}
		if r.Username != "" {
			pw, err := secret(r.PasswordFile, r.PasswordEnv)
			if err != nil {
				return nil, nil, err
			}
			auth[r.Host] = &authn.Basic{Username: r.Username, Password: pw}
		}
	}
	kc := authn.NewMultiKeychain(staticKeychain(auth), authn.DefaultKeychain)
	ropts := []remote.Option{remote.WithAuthFromKeychain(kc)}
	opts = append(opts, WithRemoteOptions(ropts...), WithNameOptions(nameOpts...))

	// Advisories.
	// A feed's first sync reads tens of thousands of documents: its progress
	// goes to the orchestrator's progress hook once the orchestrator exists.
	var orch *Orchestrator
	for _, loc := range c.Advisories.Sources {
		shown := hideUserinfo(loc)
		progress := advisory.WithProgress(func(p advisory.Progress) {
			if orch == nil {
				return
			}
			if p.Total > 0 {
				orch.emit("", "sync", "", "%s: %d/%d documents read", shown, p.Done, p.Total)
			} else {
				orch.emit("", "sync", "", "%s: %d documents read", shown, p.Done)
			}
		})
		src, err := advisory.Open(loc, advisory.WithLogger(logger), progress)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: advisory source %s: %v", ErrConfig, hideUserinfo(loc), scrubUserinfo(err))
		}
		opts = append(opts, WithSources(src))
	}
	if c.Advisories.RepositoryToCPE != "" {
		m, err := advisory.LoadRepoCPE(ctx, c.Advisories.RepositoryToCPE, advisory.WithLogger(logger))
		if err != nil {
			return nil, nil, scrubUserinfo(err)
		}
		opts = append(opts, WithIndexOptions(advisory.WithRepoCPE(m)))
	}

	// Builders.
	switch c.Builder.Kind {
	case "", "buildah":
		opts = append(opts, WithBuilder(&rebuild.Buildah{Path: c.Builder.Path, StorageDriver: c.Builder.StorageDriver,
			Isolation: c.Builder.Isolation, Root: c.Builder.Root, RunRoot: c.Builder.RunRoot}))
	case "podman":
		opts = append(opts, WithBuilder(rebuild.Podman()))
	case "none":
	default:
		return nil, nil, fmt.Errorf("%w: unknown builder kind %q", ErrConfig, c.Builder.Kind)
	}
	if c.Builder.Rebase != nil && !*c.Builder.Rebase {
		opts = append(opts, WithRebaser(nil))
	} else {
		opts = append(opts, WithRebaser(&rebuild.Rebase{Options: ropts}))
	}

	// Publishers and the catalog.
	regOpts := []publish.RegistryOption{publish.WithKeychain(kc), publish.WithLogger(logger)}
	for _, r := range c.Registries {
		if r.Insecure {
			regOpts = append(regOpts, publish.WithPlainHTTP())
			break
		}
	}
	var pub publish.Publisher = publish.NewRegistry(regOpts...)
	var catalog *partnerapi.Client
	if c.Catalog.APIKeyFile != "" || c.Catalog.APIKeyEnv != "" {
		key, err := secret(c.Catalog.APIKeyFile, c.Catalog.APIKeyEnv)
		if err != nil {
			return nil, nil, err
		}
		var copts []partnerapi.Option
		if c.Catalog.BaseURL != "" {
			copts = append(copts, partnerapi.WithBaseURL(c.Catalog.BaseURL))
		}
		catalog, err = partnerapi.New(NewSecret(key), append(copts, partnerapi.WithLogger(logger))...)
		if err != nil {
			return nil, nil, err
		}
		if c.Catalog.Publish {
			pub = publish.Chain(pub, publish.NewCatalog(catalog, publish.WithCatalogLogger(logger)))
		}
	}
	opts = append(opts, WithPublisher(pub))

	// Notifiers.
	var notifiers notify.Fanout
	if e := c.Notify.Email; e != nil {
		pw, err := secret(e.PasswordFile, e.PasswordEnv)
		if err != nil {
			return nil, nil, err
		}
		cfg := notify.EmailConfig{Host: e.Host, Port: e.Port, Username: e.Username, Password: notify.NewSecret(pw), From: e.From, Logger: logger}
		switch e.TLS {
		case "", "starttls":
			cfg.TLS = notify.StartTLS
		case "tls":
			cfg.TLS = notify.ImplicitTLS
		case "none":
			cfg.TLS = notify.NoTLS
		default:
			return nil, nil, fmt.Errorf("%w: notify.email.tls must be starttls, tls or none", ErrConfig)
		}
		m, err := notify.NewEmail(cfg)
		if err != nil {
			return nil, nil, err
		}
		notifiers = append(notifiers, m)
	}
	if w := c.Notify.Webhook; w != nil {
		sec, err := secret(w.SecretFile, w.SecretEnv)
		if err != nil {
			return nil, nil, err
		}
		h, err := notify.NewWebhook(w.URL, notify.NewSecret(sec), notify.WithWebhookLogger(logger))
		if err != nil {
			return nil, nil, err
		}
		notifiers = append(notifiers, h)
	}
	notifiers = append(notifiers, notify.NewLog(logger))
	opts = append(opts, WithNotifier(notifiers))

	poll := c.PollInterval()
	warn, _ := c.duration(c.WarnBefore, 7*24*time.Hour)
	opts = append(opts, WithPollInterval(poll), WithWarnBefore(warn))
	if c.Workers.Scans > 0 || c.Workers.Builds > 0 {
		scans, builds := c.Workers.Scans, c.Workers.Builds
		if scans <= 0 {
			scans = 4
		}
		if builds <= 0 {
			builds = 2
		}
		opts = append(opts, WithWorkers(scans, builds))
	}

	projects, err := c.projects(ctx, catalog)
	if err != nil {
		return nil, nil, err
	}

	var db *Database
	if c.State.PostgresEnv != "" {
		dsn, err := secret("", c.State.PostgresEnv)
		if err != nil {
			return nil, nil, err
		}
		if db, err = OpenPostgres(ctx, dsn); err != nil {
			return nil, nil, err
		}
	} else {
		path := c.State.SQLite
		if path == "" {
			path = "openabs.db"
		}
		if db, err = OpenSQLite(ctx, path); err != nil {
			return nil, nil, err
		}
	}
	o, err := New(ctx, db, projects, append(opts, extra...)...)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	orch = o
	return o, db, nil
}

func (c *Config) projects(ctx context.Context, catalog *partnerapi.Client) ([]Project, error) {
	var out []Project
	for _, cp := range c.Projects {
		p := Project{Name: cp.Name, Owners: cp.Owners}
		if cp.CatalogID != "" {
			if catalog == nil {
				return nil, fmt.Errorf("%w: project %s: catalog_id needs catalog.api_key_file", ErrConfig, cp.Name)
			}
			cat, err := ProjectFromCatalog(ctx, catalog, cp.CatalogID)
			if err != nil {
				return nil, err
			}
			p.ID, p.Images = cat.ID, cat.Images
			if p.Name == "" {
				p.Name = cat.Name
			}
		}
		for _, ci := range cp.Images {
			img := Image{Name: ci.Name, Repository: ci.Repository, Tag: ci.Tag, Tags: ci.Tags, AutoRebuild: ci.AutoRebuild,
				AutoPublish: ci.AutoPublish, Owners: ci.Owners, Base: ci.Base, BuildArgs: ci.BuildArgs, CatalogImageID: ci.CatalogID}
			if s := ci.Source; s != nil {
				src := &rebuild.GitSource{URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit, ContextDir: s.ContextDir,
					Containerfile: s.Containerfile}
				src.Auth.Username = s.Username
				src.Auth.KnownHostsFile = s.KnownHostsFile
				src.Auth.InsecureIgnoreHostKey = s.InsecureIgnoreHostKey
				if s.SSHKeyFile != "" {
					key, err := secret(s.SSHKeyFile, "")
					if err != nil {
						return nil, err
					}
					src.Auth.SSHKey = rebuild.NewSecret(key + "\n")
				}
				if s.SSHKeyPassphraseFile != "" {
					pp, err := secret(s.SSHKeyPassphraseFile, "")
					if err != nil {
						return nil, err
					}
					src.Auth.SSHKeyPassphrase = rebuild.NewSecret(pp)
				}
				if tok, err := secret(s.TokenFile, s.TokenEnv); err != nil {
					return nil, err
				} else if tok != "" {
					src.Auth.Token = rebuild.NewSecret(tok)
				}
				img.Source = src
			}
			p.Images = append(p.Images, img)
		}
		out = append(out, p)
	}
	return out, nil
}

// Serve runs until ctx is cancelled: the poll loop runs on the
// orchestrator's workers, and when push.listen is set an HTTP server
// accepts advisory pushes at "/push".
func (c *Config) Serve(ctx context.Context, o *Orchestrator) error {
	if c.Push.Listen == "" {
		<-ctx.Done()
		return nil
	}
	sec, err := secret(c.Push.SecretFile, c.Push.SecretEnv)
	if err != nil {
		return err
	}
	if sec == "" {
		return fmt.Errorf("%w: push.listen needs push.secret_file or push.secret_env", ErrConfig)
	}
	mux := http.NewServeMux()
	mux.Handle("/push", o.Handler(NewSecret(sec)))
	srv := &http.Server{Addr: c.Push.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
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
