package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/demo"
)

// TestConfigSupplyChain: certification and signing set in the file gate
// and sign the rebuilds the orchestrator publishes: cosign's signature
// and attestation tags of each published digest are in the registry.
func TestConfigSupplyChain(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(pk)
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "signing.key")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	path := write(t, fmt.Sprintf(`
state:
  sqlite: %s
poll_interval: "0"
advisories:
  sources: [%s]
registries:
  - host: %s
    insecure: true
builder:
  kind: none
certification:
  enabled: true
  policy: container
  skip: [BasedOnUbi]
signing:
  key_file: %s
  sbom: both
work_dir: %s
projects:
  - name: demo
    owners: [%s]
    images:
      - repository: %s
        auto_rebuild: true
`, filepath.Join(dir, "abs.db"), w.advDir, w.reg.Host, keyFile, dir, demo.Owner, w.fleet.Apps[0].Repository))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	var signed []string
	cfg.Progress = func(p abs.Progress) {
		if p.Stage == "sign" || strings.Contains(p.Message, "certification") {
			signed = append(signed, p.Message)
		}
	}
	o, db, err := cfg.Open(t.Context(), abs.WithClock(func() time.Time { return w.now }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, o.Start(t.Context()))
	t.Cleanup(func() { _ = o.Stop(t.Context()) })
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	sum := rep.Summary().Images
	require.Len(t, sum, 1)
	require.True(t, sum[0].Published, sum[0].Error)
	hex := strings.TrimPrefix(sum[0].NewDigest, "sha256:")
	for _, suffix := range []string{".sig", ".att"} {
		ref, err := name.ParseReference(w.fleet.Apps[0].Repository + ":sha256-" + hex + suffix)
		require.NoError(t, err)
		_, err = remote.Head(ref, remote.WithContext(t.Context()))
		require.NoError(t, err, suffix)
	}
	joined := strings.Join(signed, "\n")
	assert.Contains(t, joined, "certification (container-BasedOnUbi")
	assert.Contains(t, joined, "attested its SBOM (spdx, cyclonedx) and SLSA provenance")
}

// TestConfigSupplyChainErrors: bad certification and signing settings
// name their key.
func TestConfigSupplyChainErrors(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "bad.key")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key"), 0o600))
	for _, tc := range []struct{ name, body, key string }{
		{"unknown policy", "certification: {enabled: true, policy: strict}\n", "certification.policy"},
		{"settings while off", "certification: {policy: root}\n", "certification.enabled"},
		{"unknown check", "certification: {enabled: true, skip: [HasNoBugs]}\n", "certification.skip[0]"},
		{"unknown sbom", "signing: {key_file: k, sbom: syft}\n", "signing.sbom"},
		{"password without key", "signing: {password_env: X}\n", "signing.key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(write(t, tc.body+"projects: [{name: p}]\n"))
			require.ErrorIs(t, err, abs.ErrConfig)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key, err.Error())
		})
	}
	t.Run("unusable key", func(t *testing.T) {
		t.Setenv("ABS_TEST_KEY_PASSWORD", "hunter2-key-password")
		cfg, err := config.Load(write(t, "state: {sqlite: "+filepath.Join(t.TempDir(), "db")+"}\nbuilder: {kind: none}\n"+
			"signing: {key_file: "+garbage+", password_env: ABS_TEST_KEY_PASSWORD}\nprojects: [{name: p}]\n"))
		require.NoError(t, err)
		_, _, err = cfg.Open(t.Context())
		var ce *config.Error
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "signing.key_file", ce.Key)
		assert.NotContains(t, err.Error(), "hunter2-key-password")
	})
}
