package abs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// authProbe is a registry that is never reached: it answers the
// registry ping with a Basic challenge and records the Authorization
// header the client then sends, which is exactly what the remote options
// (WithRemoteOptions, the Docker keychain, a credential helper) resolve
// to for the host.
type authProbe struct {
	mu   sync.Mutex
	auth string
}

func (p *authProbe) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	resp := &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}
	if req.URL.Path == "/v2/" && req.Header.Get("Authorization") == "" {
		resp.StatusCode = http.StatusUnauthorized
		resp.Header.Set("WWW-Authenticate", `Basic realm="openabs-credential-probe"`)
		return resp, nil
	}
	p.mu.Lock()
	p.auth = req.Header.Get("Authorization")
	p.mu.Unlock()
	return resp, nil
}

// credentialPrints fingerprints the registry credentials the orchestrator
// would use, once per host and cycle.
type credentialPrints struct {
	o     *Orchestrator
	mu    sync.Mutex
	hosts map[string]string
}

func (o *Orchestrator) newCredentialPrints() *credentialPrints {
	return &credentialPrints{o: o, hosts: map[string]string{}}
}

// of returns a SHA-256 of the credentials sent to the registry of repo:
// those of the remote options (reads, staging pushes, rebases) and those
// of the publisher, when it tells them (publish.Registry.
// CredentialFingerprint). It goes into the image's inputs through the
// credential digest, so it is never stored as it is; a host the
// credentials cannot be resolved for gives a fingerprint of that
// failure, so the next successful resolution counts as a change.
func (c *credentialPrints) of(ctx context.Context, repo string) string {
	host := repo
	if r, err := name.NewRepository(repo, c.o.nameOpts...); err == nil {
		host = r.RegistryStr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fp, ok := c.hosts[host]; ok {
		return fp
	}
	h := sha256.New()
	h.Write([]byte("remote\x00" + c.o.remoteAuth(ctx, host) + "\x00"))
	if p, ok := c.o.publisher.(interface {
		CredentialFingerprint(context.Context, string) (string, error)
	}); ok {
		fp, err := p.CredentialFingerprint(ctx, host)
		if err != nil {
			fp = "error"
		}
		h.Write([]byte("publisher\x00" + fp))
	}
	fp := hex.EncodeToString(h.Sum(nil))
	c.hosts[host] = fp
	return fp
}

// remoteAuth returns the Authorization header the remote options send to
// host (through authProbe: nothing leaves the process), "" when they send
// none.
func (o *Orchestrator) remoteAuth(ctx context.Context, host string) string {
	ref, err := name.ParseReference(host+"/openabs/credential-probe:probe", name.Insecure)
	if err != nil {
		return ""
	}
	p := &authProbe{}
	opts := append(o.ropts(ctx), remote.WithTransport(p), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	_, _ = remote.Head(ref, opts...)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.auth
}
