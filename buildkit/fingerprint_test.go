package buildkit_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestFingerprint: the settings that change a build change the
// fingerprint; secret values and credentials are not part of it.
func TestFingerprint(t *testing.T) {
	mk := func() *buildkit.Builder {
		return &buildkit.Builder{Platforms: []string{"linux/amd64"}, Cache: "reg/ns/cache",
			Secrets: map[string]rebuild.Secret{"token": secret.New("a")}}
	}
	ref := mk().Fingerprint()
	assert.Equal(t, ref, mk().Fingerprint(), "stable")
	for name, change := range map[string]func(b *buildkit.Builder){
		"platforms":      func(b *buildkit.Builder) { b.Platforms = append(b.Platforms, "linux/arm64") },
		"cache":          func(b *buildkit.Builder) { b.Cache = "" },
		"insecure hosts": func(b *buildkit.Builder) { b.InsecureHosts = []string{"127.0.0.1:5000"} },
		"max attempts":   func(b *buildkit.Builder) { b.MaxAttempts = 1 },
		"secret ids":     func(b *buildkit.Builder) { b.Secrets["other"] = secret.New("b") },
	} {
		b := mk()
		change(b)
		assert.NotEqual(t, ref, b.Fingerprint(), name)
	}
	b := mk()
	b.Secrets["token"] = secret.New("rotated")
	b.Credentials = map[string]rebuild.Credential{"reg": {Username: "u", Password: secret.New("p")}}
	assert.Equal(t, ref, b.Fingerprint(), "values of secrets and credentials are not in it")
}
