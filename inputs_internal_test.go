package abs

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestInputsFingerprint: every input that can change a rebuild's outcome
// changes the fingerprint (so the rebuild's id), nothing else does, and
// no secret appears in it.
func TestInputsFingerprint(t *testing.T) {
	const token = "ghp_the-token-value"
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(knownHosts, nil, 0o600))
	base := func() (*Orchestrator, *imageState) {
		img := &Image{Name: "app", Repository: "reg.example/app", Tag: "latest", Tags: []string{"latest"}, Owners: []string{"a@example.com"},
			BuildArgs: map[string]string{"A": "1"},
			Source: &rebuild.GitSource{URL: "ssh://git@git.example/app.git", Branch: "main",
				Auth: rebuild.GitAuth{Token: secret.New(token), KnownHostsFile: knownHosts}}}
		o := &Orchestrator{builder: &rebuild.Buildah{Credentials: map[string]rebuild.Credential{
			"reg.example": {Username: "u", Password: secret.New("registry-password")}}}}
		return o, &imageState{img: img, baseName: "reg.example/base:9", baseDigest: "sha256:old", baseNow: "sha256:old"}
	}
	o, s := base()
	ref := o.inputs(s)
	assert.Equal(t, ref, o.inputs(s), "stable")
	assert.NotContains(t, ref, token)
	for _, tc := range []struct {
		name   string
		change func(o *Orchestrator, s *imageState)
		same   bool
	}{
		{"base moved", func(_ *Orchestrator, s *imageState) { s.baseNow = "sha256:new" }, false},
		{"branch", func(_ *Orchestrator, s *imageState) { s.img.Source.Branch = "fix" }, false},
		{"commit", func(_ *Orchestrator, s *imageState) { s.img.Source.Commit = strings.Repeat("a", 40) }, false},
		{"containerfile", func(_ *Orchestrator, s *imageState) { s.img.Source.Containerfile = "Dockerfile.fixed" }, false},
		{"build arg", func(_ *Orchestrator, s *imageState) { s.img.BuildArgs["A"] = "2" }, false},
		{"tags", func(_ *Orchestrator, s *imageState) { s.img.Tags = append(s.img.Tags, "1") }, false},
		{"git token", func(_ *Orchestrator, s *imageState) { s.img.Source.Auth.Token = secret.New("rotated") }, false},
		{"known_hosts file content", func(*Orchestrator, *imageState) {
			require.NoError(t, os.WriteFile(knownHosts, []byte("git.example ssh-ed25519 AAAA\n"), 0o600))
		}, false},
		{"registry password", func(o *Orchestrator, _ *imageState) {
			o.builder = &rebuild.Buildah{Credentials: map[string]rebuild.Credential{"reg.example": {Username: "u", Password: secret.New("new")}}}
		}, false},
		{"no builder", func(o *Orchestrator, _ *imageState) { o.builder = nil }, false},
		{"builder format", func(o *Orchestrator, _ *imageState) { o.builder.(*rebuild.Buildah).Format = "docker" }, false},
		{"builder extra args", func(o *Orchestrator, _ *imageState) {
			o.builder.(*rebuild.Buildah).ExtraArgs = []string{"--squash"}
		}, false},
		{"builder env value", func(o *Orchestrator, _ *imageState) { o.builder.(*rebuild.Buildah).Env = []string{"TMPDIR=/var/tmp"} }, false},
		{"builder isolation", func(o *Orchestrator, _ *imageState) { o.builder.(*rebuild.Buildah).Isolation = "oci" }, false},
		{"builder default spelled out", func(o *Orchestrator, _ *imageState) { o.builder.(*rebuild.Buildah).Pull = "always" }, true},
		{"command builder", func(o *Orchestrator, _ *imageState) {
			o.builder = &rebuild.Command{Args: []string{"buildah", "build"}, Credentials: map[string]rebuild.Credential{
				"reg.example": {Username: "u", Password: secret.New("registry-password")}}}
		}, false},
		{"rebaser", func(o *Orchestrator, _ *imageState) { o.rebaser = &rebuild.Rebase{} }, false},
		{"owners do not matter", func(_ *Orchestrator, s *imageState) { s.img.Owners = []string{"b@example.com"} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(knownHosts, nil, 0o600))
			o, s := base()
			tc.change(o, s)
			if tc.same {
				assert.Equal(t, ref, o.inputs(s))
			} else {
				assert.NotEqual(t, ref, o.inputs(s))
			}
		})
	}
}

// TestBuilderFingerprint: each part of a Command's or Buildah's
// configuration that can change a build changes its fingerprint, and
// credentials are not part of it (they are fingerprinted separately).
func TestBuilderFingerprint(t *testing.T) {
	cmd := func() *rebuild.Command {
		return &rebuild.Command{Args: []string{"buildah", "build", "{{.ContextDir}}"}, Env: []string{"A=1"},
			InsecureHosts: []string{"127.0.0.1:5000"}}
	}
	ref := cmd().Fingerprint()
	assert.Equal(t, ref, cmd().Fingerprint(), "stable")
	for name, change := range map[string]func(c *rebuild.Command){
		"args":           func(c *rebuild.Command) { c.Args[1] = "bud" },
		"args split":     func(c *rebuild.Command) { c.Args = []string{"buildah build", "{{.ContextDir}}"} },
		"env value":      func(c *rebuild.Command) { c.Env = []string{"A=2"} },
		"format":         func(c *rebuild.Command) { c.Format = rebuild.FormatDocker },
		"insecure hosts": func(c *rebuild.Command) { c.InsecureHosts = nil },
		"name":           func(c *rebuild.Command) { c.BuilderName = "podman" },
	} {
		c := cmd()
		change(c)
		assert.NotEqual(t, ref, c.Fingerprint(), name)
	}
	c := cmd()
	c.Credentials = map[string]rebuild.Credential{"reg.example": {Username: "u", Password: secret.New("pw")}}
	assert.Equal(t, ref, c.Fingerprint(), "credentials are fingerprinted by the caller")
	assert.NotEqual(t, (&rebuild.Buildah{}).Fingerprint(), (&rebuild.Buildah{ExtraArgs: []string{"--layers"}}).Fingerprint())
	assert.Empty(t, (*rebuild.Buildah)(nil).Fingerprint())
}

// TestCredentialPrints: the registry credentials the remote options
// resolve for a host (probed in-process, nothing is sent) and the
// publisher's change the fingerprint when they change, and only then;
// the fingerprint never holds the password.
func TestCredentialPrints(t *testing.T) {
	print := func(pass string, pub publish.Publisher) string {
		o := &Orchestrator{publisher: pub}
		if pass != "" {
			o.remote = []remote.Option{remote.WithAuth(&authn.Basic{Username: "u", Password: pass})}
		}
		return o.newCredentialPrints().of(t.Context(), "registry.example:5000/team/app")
	}
	o := &Orchestrator{remote: []remote.Option{remote.WithAuth(&authn.Basic{Username: "u", Password: "p1"})}}
	assert.Equal(t, "Basic dTpwMQ==", o.remoteAuth(t.Context(), "registry.example:5000"), "what the client would send")
	p1 := print("p1", nil)
	assert.Equal(t, p1, print("p1", nil), "stable")
	assert.NotEqual(t, p1, print("p2", nil), "a changed password")
	assert.NotEqual(t, p1, print("", nil), "anonymous")
	assert.NotContains(t, p1, "p1")
	pubA := publish.NewRegistry(publish.WithBasicAuth("u", secret.New("a")))
	pubB := publish.NewRegistry(publish.WithBasicAuth("u", secret.New("b")))
	assert.Equal(t, print("p1", pubA), print("p1", publish.NewRegistry(publish.WithBasicAuth("u", secret.New("a")))))
	assert.NotEqual(t, print("p1", pubA), print("p1", pubB), "the publisher's password")
	assert.NotEqual(t, print("p1", pubA), print("p1", publish.Chain(pubB)), "through a chain")
}

// TestTellAgain: a failure is told when it is new, different, or older
// than the reminder; the same failure within the reminder is not.
func TestTellAgain(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	prev := store.Mailed{Fingerprint: "fp", Sent: now.Add(-time.Hour)}
	assert.True(t, tellAgain(store.Mailed{}, false, "fp", now, DefaultFailureReminder), "never told")
	assert.False(t, tellAgain(prev, true, "fp", now, DefaultFailureReminder), "told an hour ago")
	assert.True(t, tellAgain(prev, true, "other", now, DefaultFailureReminder), "a different failure")
	assert.True(t, tellAgain(prev, true, "fp", now, time.Hour), "the reminder is due")
	assert.True(t, tellAgain(prev, true, "fp", now, 0), "no reminder interval: every time")
	a := failurePrint(&notify.Failure{Stage: "build", Cause: "buildah failed (exit 1)", Log: "tail one"})
	assert.Equal(t, a, failurePrint(&notify.Failure{Stage: "build", Cause: "buildah failed (exit 1)", Log: "tail two"}), "the log tail does not count")
	assert.NotEqual(t, a, failurePrint(&notify.Failure{Stage: "fetch", Cause: "buildah failed (exit 1)"}))
}

// BenchmarkCredentialProbe is what a cycle spends per registry host to
// fingerprint the credentials the remote options resolve (no I/O).
func BenchmarkCredentialProbe(b *testing.B) {
	o := &Orchestrator{remote: []remote.Option{remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})}}
	b.ReportAllocs()
	for b.Loop() {
		if o.remoteAuth(b.Context(), "registry.example:5000") == "" {
			b.Fatal("no credentials seen")
		}
	}
}

// TestCredentialPrintsDockerConfig: with the default remote options (the
// Docker config keychain), a password changed in $DOCKER_CONFIG/config.json
// changes the fingerprint.
func TestCredentialPrintsDockerConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	write := func(pass string) {
		auth := base64.StdEncoding.EncodeToString([]byte("u:" + pass))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"),
			[]byte(`{"auths":{"registry.example:5000":{"auth":"`+auth+`"}}}`), 0o600))
	}
	o := &Orchestrator{remote: []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
	print := func() string { return o.newCredentialPrints().of(t.Context(), "registry.example:5000/team/app") }
	write("old")
	before := print()
	assert.Equal(t, before, print())
	write("new")
	assert.NotEqual(t, before, print(), "the password changed in the docker config")
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("u:new")), o.remoteAuth(t.Context(), "registry.example:5000"))
}
