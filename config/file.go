package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// File is the YAML configuration of a long-running orchestrator
// (examples/autorebuild -config FILE, config.example.yaml there). Secrets
// are never written inline: each is read from a *_file path, or from the
// environment variable a *_env key names.
type File struct {
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
	// Workers bound concurrent scans and builds (defaults 4 and 2).
	Workers struct {
		Scans  int `yaml:"scans"`
		Builds int `yaml:"builds"`
	} `yaml:"workers"`
	// Jobs bound how long one job may run (timeout, default 15m) and
	// after how long a job of a process that died (kill -9, a lost
	// machine) is taken over (rescue_after, default 20m, at least the
	// timeout).
	Jobs struct {
		Timeout     string `yaml:"timeout"`
		RescueAfter string `yaml:"rescue_after"`
	} `yaml:"jobs"`
	// Advisories are where advisories come from.
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
	Registries []Registry `yaml:"registries"`
	// Builder says how images are rebuilt from source.
	Builder struct {
		// Kind is "buildah" (default), "podman", "buildkit" (remote
		// buildkitd daemons: daemons, max_per_daemon, cache; the
		// program must link package buildkit, see File.NewBuildKit), or
		// "none" (rebase only).
		Kind string `yaml:"kind"`
		// Daemons are the buildkitd daemons of kind buildkit.
		Daemons []BuildKitDaemon `yaml:"daemons"`
		// MaxPerDaemon is how many builds run on each daemon at once
		// (default 1).
		MaxPerDaemon int `yaml:"max_per_daemon"`
		// Cache is a registry repository for BuildKit's layer cache.
		Cache         string `yaml:"cache"`
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
	// Notify says how owners are told; a log notifier always runs.
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
		// FailureReminder is how long an owner told about a failure
		// hears nothing more of it while it stays the same (default
		// 168h; abs.WithFailureReminder).
		FailureReminder string `yaml:"failure_reminder"`
	} `yaml:"notify"`
	// Certification, when enabled, publishes a rebuild only if it still
	// passes every certification check the image it replaces passes
	// (abs.WithCertification).
	Certification struct {
		Enabled bool `yaml:"enabled"`
		// Policy is the container policy variant: container (default),
		// root, scratch-nonroot, scratch-root or konflux.
		Policy string `yaml:"policy"`
		// RequireAll requires every check to pass, as for a first
		// certification.
		RequireAll bool `yaml:"require_all"`
		// Skip names checks not to run ("BasedOnUbi").
		Skip []string `yaml:"skip"`
	} `yaml:"certification"`
	// Signing, when key_file is set, signs every published rebuild and
	// attests its SBOM and SLSA provenance in the registry
	// (abs.WithSigner), in the form cosign verifies.
	Signing struct {
		// KeyFile is the private key: cosign's encrypted PEM (cosign
		// generate-key-pair) or a plain PKCS#8, SEC 1 or PKCS#1 PEM.
		KeyFile string `yaml:"key_file"`
		// PasswordFile or PasswordEnv holds the password of an
		// encrypted key.
		PasswordFile string `yaml:"password_file"`
		PasswordEnv  string `yaml:"password_env"`
		// SBOM is the attested SBOM format: spdx (default), cyclonedx
		// or both.
		SBOM string `yaml:"sbom"`
		// BuilderID is the prefix of the SLSA builder id (default
		// abs.DefaultBuilderID).
		BuilderID string `yaml:"builder_id"`
	} `yaml:"signing"`
	// Push is the HTTP endpoint that accepts a newly released advisory.
	Push struct {
		Listen     string `yaml:"listen"`
		SecretFile string `yaml:"secret_file"`
		SecretEnv  string `yaml:"secret_env"`
		// MaxConnections bounds the connections served at once
		// (default DefaultPushConnections); more wait to be accepted.
		MaxConnections int `yaml:"max_connections"`
	} `yaml:"push"`
	// Storm shapes rebuild storms: batching, build budgets, freeze
	// windows, soak time (abs.Storm). Without it, nothing is shaped.
	Storm *Storm `yaml:"storm"`
	// API is the REST API with roles and /metrics (package api).
	API API `yaml:"api"`
	// Secrets says where the key that encrypts the credentials stored at
	// runtime (abs.Orchestrator.SetSSHKey, SetToken) comes from: a file,
	// or the environment variable KeyEnv names, holding age X25519
	// identities ("AGE-SECRET-KEY-1…", as age-keygen writes them). The
	// first identity encrypts; the ones after it still decrypt, for a
	// rotation (abs.Orchestrator.RotateSecrets).
	Secrets struct {
		KeyFile string `yaml:"key_file"`
		KeyEnv  string `yaml:"key_env"`
	} `yaml:"secrets"`
	// Projects are the managed images, grouped by project. They seed the
	// projects stored in the database (abs.New says how).
	Projects []Project `yaml:"projects"`
	// WorkDir is where builds check sources out (default the system temp
	// dir).
	WorkDir string `yaml:"work_dir"`
	// LogLevel is debug, info, warn (the default) or error; logs go to
	// standard error.
	LogLevel string `yaml:"log_level"`

	// Progress, when set, is told about each step of the pipeline and
	// about how many documents an advisory feed's sync has read. It is not
	// read from the file: set it before Open.
	Progress func(abs.Progress) `yaml:"-"`
	// NewBuildKit makes the builder of kind buildkit. It is not read
	// from the file: a program that links package buildkit sets it
	// before Open (examples/autorebuild does), so that this package and
	// the orchestrator stay free of BuildKit.
	NewBuildKit func(BuildKit) (rebuild.Builder, error) `yaml:"-"`

	path  string
	scrub *secret.Scrubber
}

// scrubber returns the scrubber that knows every secret read so far.
func (f *File) scrubber() *secret.Scrubber {
	if f.scrub == nil {
		f.scrub = secret.NewScrubber()
	}
	return f.scrub
}

// Registry is one registry host's settings.
type Registry struct {
	// Host is "registry.example.com" or "host:port".
	Host         string `yaml:"host"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// Insecure allows plain HTTP to this host only (loopback or networks
	// you control); every other host keeps HTTPS.
	Insecure bool `yaml:"insecure"`
}

// Project is one project in the configuration file.
type Project struct {
	Name string `yaml:"name"`
	// CatalogID reads the project's settings (repository, source,
	// auto-rebuild, auto-publish) from the catalog; images listed here
	// are added to what the catalog says.
	CatalogID string   `yaml:"catalog_id"`
	Owners    []string `yaml:"owners"`
	Images    []Image  `yaml:"images"`
}

// Image is one managed image in the configuration file.
type Image struct {
	Name        string   `yaml:"name"`
	Repository  string   `yaml:"repository"`
	Tag         string   `yaml:"tag"`
	Tags        []string `yaml:"tags"`
	AutoRebuild bool     `yaml:"auto_rebuild"`
	AutoPublish bool     `yaml:"auto_publish"`
	// BuildService lets the orchestrator rebuild the image at all; off,
	// it is scanned and graded only. Auto-rebuild turns it on.
	BuildService bool              `yaml:"build_service"`
	Owners       []string          `yaml:"owners"`
	Base         string            `yaml:"base"`
	BuildArgs    map[string]string `yaml:"build_args"`
	CatalogID    string            `yaml:"catalog_image_id"`
	Source       *Source           `yaml:"source"`
	// BuildSecrets are build secrets by id (RUN
	// --mount=type=secret,id=ID), each read from a file or from an
	// environment variable, never written inline.
	BuildSecrets map[string]BuildSecret `yaml:"build_secrets"`
}

// BuildSecret is where one build secret is read from.
type BuildSecret struct {
	File string `yaml:"secret_file"`
	Env  string `yaml:"secret_env"`
}

// Source is an image's git source and the credentials to fetch it.
type Source struct {
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
	// TrustOnFirstUse records the SSH host key seen first and enforces
	// it afterwards (abs.SourceSpec.TrustOnFirstUse).
	TrustOnFirstUse bool `yaml:"trust_on_first_use"`
}

// MaxFileSize bounds the configuration file; a larger file is refused
// before it is parsed.
const MaxFileSize = 1 << 20

// maxSecretSize bounds a secret file (an SSH key, a password).
const maxSecretSize = 64 << 10

// Error is a configuration error. It names the file and the key at fault
// and says why, but never repeats the key's value: a secret written in the
// wrong key stays out of terminals and logs. Every *Error matches
// abs.ErrConfig with errors.Is.
type Error struct {
	// Path is the configuration file.
	Path string
	// Key is the dotted path of the key at fault, such as
	// "registries[1].password_env"; empty when the file as a whole is.
	Key string
	// Line is the line of the key in the file, when known.
	Line int
	// Reason says what is wrong.
	Reason string
}

// Error names the file, line, key and reason.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Is reports whether target is abs.ErrConfig.
func (e *Error) Is(target error) bool { return target == abs.ErrConfig }

func (f *File) errorf(key, format string, args ...any) error {
	return &Error{Path: f.path, Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Load reads and checks a YAML configuration file: at most MaxFileSize
// bytes, one document, no unknown keys (a typo does not silently drop a
// setting), valid durations, log level, builder kind and mail TLS mode,
// and at least one project. Errors are *Error.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Reason: fileReason(err)}
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, &Error{Path: path, Reason: "not a regular file"}
	}
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, &Error{Path: path, Reason: fileReason(err)}
	}
	if len(b) > MaxFileSize {
		return nil, &Error{Path: path, Reason: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	return parse(path, b)
}

func parse(path string, b []byte) (*File, error) {
	f := &File{path: path}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Path: path, Reason: "empty file"}
		}
		return nil, decodeError(path, b, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, decodeError(path, b, err)
	default:
		return nil, &Error{Path: path, Line: next.Line, Reason: "a second YAML document; a configuration file holds one"}
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) check() error {
	if _, err := f.duration("poll_interval", f.Poll, time.Hour); err != nil {
		return err
	}
	if _, err := f.duration("warn_before", f.WarnBefore, 7*24*time.Hour); err != nil {
		return err
	}
	if _, err := f.duration("notify.failure_reminder", f.Notify.FailureReminder, abs.DefaultFailureReminder); err != nil {
		return err
	}
	timeout, err := f.duration("jobs.timeout", f.Jobs.Timeout, abs.DefaultJobTimeout)
	if err != nil {
		return err
	}
	if rescue, err := f.duration("jobs.rescue_after", f.Jobs.RescueAfter, max(abs.DefaultRescueAfter, timeout)); err != nil {
		return err
	} else if rescue < timeout {
		return f.errorf("jobs.rescue_after", "must be at least jobs.timeout")
	}
	if _, err := f.level(); err != nil {
		return err
	}
	if err := f.checkAPI(); err != nil {
		return err
	}
	if f.Push.MaxConnections < 0 {
		return f.errorf("push.max_connections", "must not be negative")
	}
	if f.Workers.Scans < 0 || f.Workers.Builds < 0 {
		return f.errorf("workers", "must not be negative")
	}
	switch f.Builder.Kind {
	case "", "buildah", "podman", "buildkit", "none":
	default:
		return f.errorf("builder.kind", "unknown kind (want buildah, podman, buildkit or none)")
	}
	if err := f.checkBuildKit(); err != nil {
		return err
	}
	if _, err := f.storm(); err != nil {
		return err
	}
	if e := f.Notify.Email; e != nil {
		switch e.TLS {
		case "", "starttls", "tls", "none":
		default:
			return f.errorf("notify.email.tls", "must be starttls, tls or none")
		}
	}
	if err := f.checkSupplyChain(); err != nil {
		return err
	}
	for i, r := range f.Registries {
		if r.Host == "" {
			return f.errorf(fmt.Sprintf("registries[%d].host", i), "required")
		}
	}
	if len(f.Projects) == 0 {
		return f.errorf("projects", "no projects")
	}
	return nil
}

func (f *File) duration(key, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, f.errorf(key, "not a non-negative Go duration such as 90m or 1h")
	}
	return d, nil
}

// PollInterval returns the configured poll interval.
func (f *File) PollInterval() time.Duration {
	d, _ := f.duration("poll_interval", f.Poll, time.Hour)
	return d
}

// decodeError turns a YAML error into an *Error that names the key and
// line and leaves out every value the message quoted.
func decodeError(path string, b []byte, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root) // for key paths; a syntax error leaves it empty
	keys := keyLines(&root)
	var errs []error
	for _, m := range msgs {
		e := &Error{Path: path}
		m = strings.TrimPrefix(m, "yaml: ")
		if sub := lineRE.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			m = m[len(sub[0]):]
		}
		if sub := unknownRE.FindStringSubmatch(m); sub != nil {
			e.Key = keys.find(e.Line, sub[1])
			e.Reason = "unknown key"
		} else {
			if sub := quotedRE.FindStringSubmatch(m); sub != nil {
				e.Key = keys.findValue(e.Line, sub[1])
			} else {
				e.Key = keys.find(e.Line, "")
			}
			e.Reason = strings.TrimSpace(quotedRE.ReplaceAllString(m, "a value"))
		}
		errs = append(errs, e)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+): `)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type`)
	quotedRE  = regexp.MustCompile("`([^`]*)`")
)

type keyAt struct {
	line       int
	key, value string
	path       string
}

type keyIndex []keyAt

// keyLines lists every mapping key of the document with its line, path and
// (for scalars) value.
func keyLines(n *yaml.Node) keyIndex {
	var out keyIndex
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				if c.Kind == yaml.ScalarNode {
					out = append(out, keyAt{line: c.Line, value: c.Value, path: p})
				}
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				ka := keyAt{line: k.Line, key: k.Value, path: p}
				if v.Kind == yaml.ScalarNode {
					ka.value = v.Value
				}
				out = append(out, ka)
				walk(v, p)
			}
		}
	}
	walk(n, "")
	return out
}

// find returns the path of the key named key (any key when empty) on line.
func (ix keyIndex) find(line int, key string) string {
	for _, k := range ix {
		if k.line == line && (key == "" || k.key == key) {
			return k.path
		}
	}
	return ""
}

// findValue returns the path of the key whose scalar value is value on
// line.
func (ix keyIndex) findValue(line int, value string) string {
	for _, k := range ix {
		if k.line == line && k.value == value {
			return k.path
		}
	}
	return ix.find(line, "")
}

// fileReason says why a file cannot be read without quoting its path.
func fileReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "file does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return "cannot read the file"
}

// secret reads the secret of key (for example "registries[0].password")
// from key_file or from the environment variable key_env names; both
// errors name the key and never the value.
func (f *File) secret(key, file, env string) (string, error) {
	switch {
	case file != "":
		fh, err := os.Open(file)
		if err != nil {
			return "", f.errorf(key+"_file", "%s", fileReason(err))
		}
		defer fh.Close()
		b, err := io.ReadAll(io.LimitReader(fh, maxSecretSize+1))
		if err != nil {
			return "", f.errorf(key+"_file", "%s", fileReason(err))
		}
		if len(b) > maxSecretSize {
			return "", f.errorf(key+"_file", "larger than %d bytes", maxSecretSize)
		}
		v := strings.TrimRight(string(b), "\r\n")
		f.scrubber().Add(v)
		return v, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", f.errorf(key+"_env", "the environment variable it names is not set")
		}
		f.scrubber().Add(v)
		return v, nil
	}
	return "", nil
}
