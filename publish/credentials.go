package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrCredentials is matched by *CredentialError: the registry refused the
// credentials (HTTP 401 or 403). Trying again with the same credentials
// gives the same answer, so it is not retried.
var ErrCredentials = errors.New("publish: registry refused credentials")

// CredentialError reports a registry that answered 401 Unauthorized or
// 403 Forbidden to a publish step. Its message names the host and the
// status only: what the registry said (which may echo the credentials)
// stays in Err. It matches ErrCredentials.
type CredentialError struct {
	Host   string // the registry host ("registry.example:5000")
	Status int    // 401 or 403
	Err    error  // the refused step's error
}

// Error says which registry refused the credentials and how.
func (e *CredentialError) Error() string {
	return fmt.Sprintf("publish: registry refused credentials for %s (HTTP %d %s)", e.Host, e.Status, http.StatusText(e.Status))
}

// Unwrap returns the refused step's error.
func (e *CredentialError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCredentials.
func (e *CredentialError) Is(target error) bool { return target == ErrCredentials }

// credentialError turns a 401 or 403 answer anywhere in err into a
// *CredentialError (kept as it is when it is one already).
func credentialError(err error) error {
	if err == nil || errors.Is(err, ErrCredentials) {
		return err
	}
	var terr *transport.Error
	if !errors.As(err, &terr) || (terr.StatusCode != http.StatusUnauthorized && terr.StatusCode != http.StatusForbidden) {
		return err
	}
	host := ""
	if terr.Request != nil && terr.Request.URL != nil {
		host = terr.Request.URL.Host
	}
	if host == "" {
		host = "the registry"
	}
	return &CredentialError{Host: host, Status: terr.StatusCode, Err: err}
}

// CredentialFingerprint returns a fingerprint of the credentials Publish
// sends to registry (a host, "registry.example:5000"): a SHA-256 of the
// resolved authentication (WithBasicAuth, WithKeychain or the docker
// config), never the credentials themselves. It changes when they change,
// so a caller can try again what the old ones could not publish. It is a
// plain hash of a secret, so keep it as one: fold it into a digest of its
// own rather than storing or printing it.
func (r *Registry) CredentialFingerprint(ctx context.Context, registry string) (string, error) {
	auth := r.auth
	if auth == nil {
		reg, err := name.NewRegistry(registry)
		if err != nil {
			return "", fmt.Errorf("%w: registry %q: %v", ErrInvalidRequest, registry, err)
		}
		if auth, err = r.keychain.Resolve(reg); err != nil {
			return "", fmt.Errorf("publish: credentials for %s: %w", registry, err)
		}
	}
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return "", fmt.Errorf("publish: credentials for %s: %w", registry, err)
	}
	return AuthFingerprint(cfg), nil
}

// AuthFingerprint is the fingerprint CredentialFingerprint gives for a
// resolved authentication: a SHA-256 over each of its fields.
func AuthFingerprint(cfg *authn.AuthConfig) string {
	h := sha256.New()
	for _, f := range []string{cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CredentialFingerprint of a chain combines the fingerprints of its
// publishers that offer one (CredentialFingerprint).
func (c chain) CredentialFingerprint(ctx context.Context, registry string) (string, error) {
	h := sha256.New()
	for _, p := range c {
		fp, ok := p.(interface {
			CredentialFingerprint(context.Context, string) (string, error)
		})
		if !ok {
			continue
		}
		s, err := fp.CredentialFingerprint(ctx, registry)
		if err != nil {
			return "", err
		}
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
