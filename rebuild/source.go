package rebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/skeema/knownhosts"
	gossh "golang.org/x/crypto/ssh"
)

// GitSource says where an image's source lives and how to reach it.
// It is plain data: it can be stored in a configuration file, and its
// credentials are Secrets that never print.
type GitSource struct {
	// URL is the repository: https://host/org/repo.git,
	// ssh://git@host[:port]/org/repo.git or the scp-like git@host:org/repo.git.
	// It must not carry a password; use Auth.Token.
	URL string
	// Branch, Tag and Commit select the revision. At most one of Branch and
	// Tag may be set; Commit may be combined with Branch (the commit is then
	// looked up on that branch). When all are empty the remote HEAD is used.
	Branch, Tag, Commit string
	// ContextDir is the build context, relative to the repository root
	// ("" means the root).
	ContextDir string
	// Containerfile is the build file, relative to ContextDir. When empty,
	// "Containerfile" is used if it exists, otherwise "Dockerfile".
	Containerfile string
	// Auth holds credentials and transport security settings.
	Auth GitAuth
}

// GitAuth holds the credentials and host verification settings of a
// GitSource.
type GitAuth struct {
	// Username is the SSH user (default: the URL's user, else "git") or the
	// HTTPS basic-auth user sent with Token (default "x-access-token").
	Username string
	// Token is an HTTPS access token, sent as the basic-auth password.
	Token Secret
	// SSHKey is a private key in PEM (PKCS#1, PKCS#8, EC) or OpenSSH format.
	SSHKey Secret
	// SSHKeyPassphrase decrypts SSHKey when it is encrypted.
	SSHKeyPassphrase Secret
	// KnownHostsFile is a known_hosts file to verify SSH host keys with.
	KnownHostsFile string
	// KnownHosts holds known_hosts lines, used in addition to
	// KnownHostsFile. When both are empty, $SSH_KNOWN_HOSTS,
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts are used.
	KnownHosts []byte
	// InsecureIgnoreHostKey accepts any SSH host key. It exposes the key
	// and the source to whoever sits between us and the server; use it
	// only on networks you control.
	InsecureIgnoreHostKey bool
	// TrustOnFirstUse, when set, decides about an SSH server that
	// KnownHosts and KnownHostsFile hold no key for (the system's
	// known_hosts files are then not read): it is called with the host
	// ("host" or "[host]:port") and the key it presented as a known_hosts
	// line, and the key is accepted when it returns nil. A hook that
	// records the line and hands it back in KnownHosts next time makes
	// trust-on-first-use: a host with a recorded key must present that
	// key (ErrHostKeyMismatch otherwise). Its error is the fetch's cause.
	TrustOnFirstUse func(host, knownHostsLine string) error
	// CABundle holds extra PEM certificates trusted for HTTPS.
	CABundle []byte
}

// Checkout is a fetched source tree.
type Checkout struct {
	// Dir is the root of the working tree. It holds no .git directory: the
	// repository metadata is kept beside it, outside any build context.
	Dir string
	// ContextDir is the absolute build context directory.
	ContextDir string
	// Containerfile is the absolute path of the build file.
	Containerfile string
	// Commit is the resolved commit hash (40 hex digits).
	Commit string
	// URL is the source URL without credentials.
	URL string
}

// Sentinel errors a FetchError may wrap; test with errors.Is.
var (
	// ErrHostKeyMismatch: the SSH server presented a key different from the
	// one known_hosts records for it.
	ErrHostKeyMismatch = errors.New("rebuild: ssh host key mismatch")
	// ErrHostKeyUnknown: known_hosts has no key for the SSH server.
	ErrHostKeyUnknown = errors.New("rebuild: ssh host key unknown")
	// ErrAuth: the server refused the credentials (or demanded some).
	ErrAuth = errors.New("rebuild: git authentication failed")
	// ErrRevisionNotFound: the branch, tag or commit does not exist.
	ErrRevisionNotFound = errors.New("rebuild: revision not found")
	// ErrInvalidSource: the GitSource is not usable as given.
	ErrInvalidSource = errors.New("rebuild: invalid git source")
)

// FetchError reports a failed Fetch. Its message never contains a
// credential.
type FetchError struct {
	URL      string // without credentials
	Revision string // branch, tag or commit asked for ("" for HEAD)
	Err      error
}

// Error names the source (without credentials), the revision and the
// cause.
func (e *FetchError) Error() string {
	rev := e.Revision
	if rev == "" {
		rev = "HEAD"
	}
	return fmt.Sprintf("rebuild: fetch %s at %s: %v", e.URL, rev, e.Err)
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// revision describes what was asked for, for messages and logs.
func (s *GitSource) revision() string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"branch", s.Branch}, {"tag", s.Tag}, {"commit", s.Commit}} {
		if p.v != "" {
			parts = append(parts, p.k+" "+p.v)
		}
	}
	return strings.Join(parts, ", ")
}

// LogValue logs the source without credentials.
func (s GitSource) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", RedactURL(s.URL)),
		slog.String("revision", s.revision()),
		slog.String("context", s.ContextDir),
	)
}

// RedactURL returns u with any user password replaced by a placeholder.
// In http and https URLs the user name is replaced too, since access
// tokens are often passed as the user name
// (https://TOKEN@host/org/repo.git); the user of an ssh URL is kept.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if isHTTP(p.Scheme) {
		p.User = url.User("xxxxx")
		return p.String()
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
		return p.String()
	}
	return u
}

func isHTTP(scheme string) bool {
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")
}

// scrubUserinfo removes the user information of an http(s) source URL
// from msg: transport errors quote the URL they requested, user name
// (often an access token) included.
func scrubUserinfo(msg, rawURL string) string {
	p, err := url.Parse(rawURL)
	if err != nil || p.User == nil || !isHTTP(p.Scheme) {
		return msg
	}
	forms := []string{p.User.String()}
	if name := p.User.Username(); name != "" {
		forms = append(forms, name)
	}
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f+"@", "xxxxx@")
	}
	return msg
}

func (s *GitSource) secrets() []Secret {
	return []Secret{s.Auth.Token, s.Auth.SSHKey, s.Auth.SSHKeyPassphrase}
}

func (s *GitSource) fail(err error) error {
	var kind error
	msg := err.Error()
	switch {
	case errors.Is(err, ErrInvalidSource), errors.Is(err, ErrRevisionNotFound):
	case knownhosts.IsHostKeyChanged(err) || strings.Contains(msg, "knownhosts: key mismatch"),
		errors.Is(err, ErrHostKeyMismatch) || strings.Contains(msg, ErrHostKeyMismatch.Error()):
		kind = ErrHostKeyMismatch
	case knownhosts.IsHostUnknown(err) || strings.Contains(msg, "knownhosts: key is unknown"):
		kind = ErrHostKeyUnknown
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(msg, "unable to authenticate"):
		kind = ErrAuth
	case errors.Is(err, plumbing.ErrReferenceNotFound), errors.Is(err, plumbing.ErrObjectNotFound),
		strings.Contains(msg, "couldn't find remote ref"), errors.As(err, new(git.NoMatchingRefSpecError)):
		kind = ErrRevisionNotFound
	}
	err = scrubError(err, s.secrets()...)
	err = redactError(err, scrubUserinfo(err.Error(), s.URL))
	if kind != nil {
		err = fmt.Errorf("%w: %w", kind, err)
	}
	return &FetchError{URL: RedactURL(s.URL), Revision: s.revision(), Err: err}
}

// Fetch clones the source into dir (created if missing; it should be empty)
// and checks out the requested revision. Branches and tags are fetched
// shallow (depth 1); a commit needs the history of its branch (or of the
// default branch) because servers need not serve unadvertised commits.
// The working tree goes to dir/src and the repository metadata to dir/git,
// so no .git directory ever lands in the build context. Credentials are
// handed to the git transport in memory and are never written to disk.
func (s GitSource) Fetch(ctx context.Context, dir string, opts ...Option) (*Checkout, error) {
	cfg := newConfig(opts)
	if err := s.validate(); err != nil {
		return nil, s.fail(err)
	}
	auth, cleanup, err := s.transportAuth(cfg.logger)
	if err != nil {
		return nil, s.fail(err)
	}
	defer cleanup()

	work := filepath.Join(dir, "src")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, s.fail(err)
	}
	st := filesystem.NewStorage(osfs.New(filepath.Join(dir, "git")), cache.NewObjectLRUDefault())
	co := &git.CloneOptions{
		URL:        s.URL,
		Auth:       auth,
		CABundle:   s.Auth.CABundle,
		Tags:       git.NoTags,
		NoCheckout: s.Commit != "",
	}
	switch {
	case s.Tag != "":
		co.ReferenceName = plumbing.NewTagReferenceName(s.Tag)
		co.SingleBranch = true
	case s.Branch != "":
		co.ReferenceName = plumbing.NewBranchReferenceName(s.Branch)
		co.SingleBranch = true
	}
	if s.Commit == "" {
		co.Depth = 1
	}
	cfg.logger.LogAttrs(ctx, slog.LevelDebug, "rebuild: cloning", slog.Any("source", s), slog.Bool("shallow", co.Depth > 0))
	repo, err := git.CloneContext(ctx, st, osfs.New(work), co)
	if err != nil {
		return nil, s.fail(err)
	}
	var commit plumbing.Hash
	if s.Commit != "" {
		h, err := repo.ResolveRevision(plumbing.Revision(s.Commit))
		if err != nil {
			return nil, s.fail(fmt.Errorf("%w: commit %s: %w", ErrRevisionNotFound, s.Commit, err))
		}
		wt, err := repo.Worktree()
		if err != nil {
			return nil, s.fail(err)
		}
		if err := wt.Checkout(&git.CheckoutOptions{Hash: *h, Force: true}); err != nil {
			return nil, s.fail(err)
		}
		commit = *h
	} else {
		head, err := repo.Head()
		if err != nil {
			return nil, s.fail(err)
		}
		commit = head.Hash()
	}

	out := &Checkout{Dir: work, Commit: commit.String(), URL: RedactURL(s.URL)}
	if out.ContextDir, err = within(work, s.ContextDir); err != nil {
		return nil, s.fail(err)
	}
	if out.Containerfile, err = findContainerfile(out.ContextDir, s.Containerfile); err != nil {
		return nil, s.fail(err)
	}
	cfg.logger.LogAttrs(ctx, slog.LevelInfo, "rebuild: fetched source",
		slog.String("url", out.URL), slog.String("commit", out.Commit))
	return out, nil
}

func (s *GitSource) validate() error {
	if s.URL == "" {
		return fmt.Errorf("%w: empty URL", ErrInvalidSource)
	}
	if s.Branch != "" && s.Tag != "" {
		return fmt.Errorf("%w: both branch %q and tag %q given", ErrInvalidSource, s.Branch, s.Tag)
	}
	if p, err := url.Parse(s.URL); err == nil && p.User != nil {
		if _, ok := p.User.Password(); ok {
			return fmt.Errorf("%w: URL carries a password; put the token in Auth.Token", ErrInvalidSource)
		}
	}
	return nil
}

// transportAuth builds the go-git auth method for the URL's protocol.
func (s *GitSource) transportAuth(logger *slog.Logger) (transport.AuthMethod, func(), error) {
	nop := func() {}
	ep, err := transport.NewEndpoint(s.URL)
	if err != nil {
		return nil, nop, fmt.Errorf("%w: %w", ErrInvalidSource, err)
	}
	switch ep.Protocol {
	case "https", "http":
		if s.Auth.Token.IsZero() {
			return nil, nop, nil
		}
		if ep.Protocol == "http" {
			return nil, nop, fmt.Errorf("%w: refusing to send a token over plain http", ErrInvalidSource)
		}
		user := s.Auth.Username
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: s.Auth.Token.Reveal()}, nop, nil
	case "ssh":
	default:
		return nil, nop, nil // file:// and friends need no credentials
	}

	if s.Auth.SSHKey.IsZero() {
		return nil, nop, fmt.Errorf("%w: ssh URL without Auth.SSHKey", ErrInvalidSource)
	}
	signer, err := parseKey(s.Auth.SSHKey, s.Auth.SSHKeyPassphrase)
	if err != nil {
		return nil, nop, err
	}
	user := s.Auth.Username
	if user == "" {
		user = ep.User
	}
	if user == "" {
		user = "git"
	}
	auth := &gitssh.PublicKeys{User: user, Signer: signer}
	if s.Auth.InsecureIgnoreHostKey {
		logger.Warn("rebuild: SSH host key verification is DISABLED (InsecureIgnoreHostKey)", slog.String("host", ep.Host))
		auth.HostKeyCallback = gossh.InsecureIgnoreHostKey()
		return auth, nop, nil
	}

	var files []string
	cleanup := nop
	tmpName := ""
	if s.Auth.KnownHostsFile != "" {
		files = append(files, s.Auth.KnownHostsFile)
	}
	if len(s.Auth.KnownHosts) > 0 {
		f, err := os.CreateTemp("", "known_hosts-*")
		if err != nil {
			return nil, nop, err
		}
		cleanup = func() { _ = os.Remove(f.Name()) }
		_, werr := f.Write(s.Auth.KnownHosts)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			cleanup()
			return nil, nop, werr
		}
		files = append(files, f.Name())
		tmpName = f.Name()
	}
	if len(files) == 0 && s.Auth.TrustOnFirstUse != nil {
		// Nothing known yet: an empty database, every key is first use.
		f, err := os.CreateTemp("", "known_hosts-*")
		if err != nil {
			return nil, nop, err
		}
		_ = f.Close()
		cleanup = func() { _ = os.Remove(f.Name()) }
		files = append(files, f.Name())
	}
	var db *knownhosts.HostKeyDB
	if len(files) == 0 {
		db, err = gitssh.NewKnownHostsDb()
	} else {
		db, err = knownhosts.NewDB(files...)
	}
	if err != nil {
		cleanup()
		if msg := err.Error(); tmpName != "" && strings.Contains(msg, tmpName) {
			// Name the field the lines came from, not the temporary
			// file they were copied to.
			msg = strings.ReplaceAll(msg, tmpName+":", "GitAuth.KnownHosts line ")
			msg = strings.ReplaceAll(msg, tmpName, "GitAuth.KnownHosts")
			return nil, nop, fmt.Errorf("%w: known_hosts: %s", ErrInvalidSource, msg)
		}
		return nil, nop, fmt.Errorf("%w: known_hosts: %w", ErrInvalidSource, err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	auth.HostKeyCallback = db.HostKeyCallback()
	auth.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	if tofu := s.Auth.TrustOnFirstUse; tofu != nil {
		known := auth.HostKeyCallback
		auth.HostKeyCallback = func(hostname string, remote net.Addr, key gossh.PublicKey) error {
			err := known(hostname, remote, key)
			if err == nil || !knownhosts.IsHostUnknown(err) {
				return err
			}
			host := knownhosts.Normalize(hostname)
			if err := tofu(host, knownhosts.Line([]string{host}, key)); err != nil {
				return fmt.Errorf("%w: host %s: first use refused: %w", ErrHostKeyMismatch, host, err)
			}
			return nil
		}
	}
	return auth, cleanup, nil
}

// LsRemote lists the source's remote references (name to commit hash),
// as git ls-remote does, with the source's credentials and host key
// settings: a check that the source is reachable. Its errors are
// FetchErrors, as Fetch's.
func (s GitSource) LsRemote(ctx context.Context, opts ...Option) (map[string]string, error) {
	cfg := newConfig(opts)
	if err := s.validate(); err != nil {
		return nil, s.fail(err)
	}
	auth, cleanup, err := s.transportAuth(cfg.logger)
	if err != nil {
		return nil, s.fail(err)
	}
	defer cleanup()
	rem := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{s.URL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, CABundle: s.Auth.CABundle})
	if err != nil {
		return nil, s.fail(err)
	}
	out := make(map[string]string, len(refs))
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			out[r.Name().String()] = r.Hash().String()
		}
	}
	return out, nil
}

// parseKey parses an SSH private key in PEM or OpenSSH format. Its errors
// never quote the key.
func parseKey(key, passphrase Secret) (gossh.Signer, error) {
	raw := []byte(key.Reveal())
	signer, err := gossh.ParsePrivateKey(raw)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase.IsZero() {
			return nil, fmt.Errorf("%w: SSH key is encrypted and no passphrase was given", ErrInvalidSource)
		}
		signer, err = gossh.ParsePrivateKeyWithPassphrase(raw, []byte(passphrase.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("%w: SSH key: cannot decrypt with the given passphrase", ErrInvalidSource)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: SSH key: not a PEM or OpenSSH private key", ErrInvalidSource)
	}
	return signer, nil
}

// within joins rel to root and refuses paths that leave root.
func within(root, rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: path %q must be relative", ErrInvalidSource, rel)
	}
	p := filepath.Join(root, rel)
	r, err := filepath.Rel(root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", fmt.Errorf("%w: path %q leaves the repository", ErrInvalidSource, rel)
	}
	return p, nil
}

func findContainerfile(contextDir, name string) (string, error) {
	candidates := []string{"Containerfile", "Dockerfile"}
	if name != "" {
		candidates = []string{name}
	}
	for _, c := range candidates {
		p, err := within(contextDir, c)
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no %s in context directory", ErrInvalidSource, strings.Join(candidates, " or "))
}
