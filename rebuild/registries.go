package rebuild

import (
	"github.com/openabs/abs/secret"

	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Credential is a registry login handed to a build tool.
type Credential struct {
	Username string
	Password Secret
}

// normHost returns the canonical form of a registry host, so that
// "docker.io" and "index.docker.io" name the same registry.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://"), "/")
	if r, err := name.NewRegistry(h); err == nil {
		return r.RegistryStr()
	}
	return h
}

// validHost accepts what can appear as a registry host (name, IPv4 or
// bracketed IPv6, optional port), so that writing it into a
// configuration file cannot inject anything.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]_", c)) {
			return false
		}
	}
	return true
}

// credentialFor returns the credential of host.
func credentialFor(creds map[string]Credential, host string) (Credential, bool) {
	want := normHost(host)
	for h, c := range creds {
		if normHost(h) == want {
			return c, true
		}
	}
	return Credential{}, false
}

// isInsecure reports whether host is in hosts.
func isInsecure(hosts []string, host string) bool {
	want := normHost(host)
	return slices.ContainsFunc(hosts, func(h string) bool { return normHost(h) == want })
}

// keychain resolves the credentials of a build for go-containerregistry.
type keychain map[string]Credential

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if c, ok := credentialFor(k, r.RegistryStr()); ok {
		return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password.Reveal()}), nil
	}
	return authn.Anonymous, nil
}

// credentialSecrets returns every form in which the credentials could
// appear in a tool's output: the passwords, and base64 of
// "user:password" (an auth file or Basic header) and of the password.
func credentialSecrets(creds map[string]Credential) []Secret {
	var out []Secret
	for _, c := range creds {
		p := c.Password.Reveal()
		if p == "" {
			continue
		}
		out = append(out, c.Password)
		for _, v := range []string{c.Username + ":" + p, p} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				out = append(out, secret.New(enc.EncodeToString([]byte(v))))
			}
		}
	}
	return out
}

// registryFiles are the per-build files that tell a containers/image
// tool (buildah, podman, skopeo) how to reach registries: an auth file
// (containers-auth.json(5)) and a registries configuration
// (containers-registries.conf(5)). They live in a private directory
// that Close removes.
type registryFiles struct {
	dir      string
	AuthFile string // "" when no credential applies
	Conf     string // "" when no host is insecure
}

// writeRegistryFiles writes, into a new private directory under parent,
// an auth file with the credentials of hosts (all credentials when hosts
// is nil) and a registries configuration marking the insecure hosts.
func writeRegistryFiles(parent string, creds map[string]Credential, insecure, hosts []string) (*registryFiles, error) {
	rf := &registryFiles{}
	auths := map[string]map[string]string{}
	for h, c := range creds {
		if !validHost(h) {
			return nil, fmt.Errorf("rebuild: invalid registry host %q in credentials", h)
		}
		if hosts != nil && !slices.ContainsFunc(hosts, func(u string) bool { return normHost(u) == normHost(h) }) {
			continue
		}
		key := h
		if normHost(h) == name.DefaultRegistry {
			key = "docker.io"
		}
		auths[key] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password.Reveal()))}
	}
	var conf strings.Builder
	for _, h := range insecure {
		if !validHost(h) {
			return nil, fmt.Errorf("rebuild: invalid insecure registry host %q", h)
		}
		fmt.Fprintf(&conf, "[[registry]]\nlocation = %s\ninsecure = true\n\n", strconv.Quote(h))
	}
	if len(auths) == 0 && conf.Len() == 0 {
		return rf, nil
	}
	dir, err := os.MkdirTemp(parent, ".registries-")
	if err != nil {
		return nil, err
	}
	rf.dir = dir
	if len(auths) > 0 {
		data, err := json.Marshal(map[string]any{"auths": auths})
		if err != nil {
			_ = rf.Close()
			return nil, err
		}
		rf.AuthFile = filepath.Join(dir, "auth.json")
		if err := os.WriteFile(rf.AuthFile, data, 0o600); err != nil {
			_ = rf.Close()
			return nil, err
		}
	}
	if conf.Len() > 0 {
		rf.Conf = filepath.Join(dir, "registries.conf")
		if err := os.WriteFile(rf.Conf, []byte(conf.String()), 0o600); err != nil {
			_ = rf.Close()
			return nil, err
		}
	}
	return rf, nil
}

// Env returns the environment variables that point containers/image
// tools at the files.
func (rf *registryFiles) Env() []string {
	var env []string
	if rf.AuthFile != "" {
		env = append(env, "REGISTRY_AUTH_FILE="+rf.AuthFile)
	}
	if rf.Conf != "" {
		env = append(env, "CONTAINERS_REGISTRIES_CONF="+rf.Conf)
	}
	return env
}

// Close removes the files.
func (rf *registryFiles) Close() error {
	if rf == nil || rf.dir == "" {
		return nil
	}
	return os.RemoveAll(rf.dir)
}

// hostsOf returns the registry hosts of the images a Containerfile builds
// on, or nil (meaning: every host) when one of them is a short name that
// the tool resolves through its search registries.
func hostsOf(bases []string) []string {
	var hosts []string
	for _, b := range bases {
		first, _, ok := strings.Cut(b, "/")
		if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
			return nil
		}
		ref, err := name.ParseReference(b)
		if err != nil {
			return nil
		}
		if h := ref.Context().RegistryStr(); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if hosts == nil {
		hosts = []string{}
	}
	return hosts
}
