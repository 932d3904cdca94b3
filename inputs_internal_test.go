package abs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
