package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/secret"
)

func load(t *testing.T, body string) (*File, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return Load(path)
}

func TestStormSection(t *testing.T) {
	f, err := load(t, `
storm:
  soak: 48h
  budgets: {global: 8, per_project: 2, per_registry: 4, registries: {quay.io: 1}}
  freeze:
    - {days: [sat, sunday], time_zone: Europe/Paris}
    - {days: [fri], from: "18:00", to: "06:00", builds: true}
builder:
  kind: buildkit
  max_per_daemon: 3
  cache: reg.example/cache
  daemons:
    - {address: unix:///run/buildkit/buildkitd.sock}
    - {address: tcp://10.0.0.7:1234, ca_cert: ca.pem, cert: c.pem, key: k.pem, max_builds: 5}
projects: [{name: p}]
`)
	require.NoError(t, err)
	s, err := f.storm()
	require.NoError(t, err)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	assert.Equal(t, abs.DefaultBatchWindow, s.BatchWindow, "default window when the section is present")
	assert.Equal(t, 48*time.Hour, s.Soak)
	assert.Equal(t, abs.Budgets{Global: 8, PerProject: 2, PerRegistry: 4, Registries: map[string]int{"quay.io": 1}}, s.Budgets)
	require.Len(t, s.Freeze, 2)
	assert.Equal(t, []time.Weekday{time.Saturday, time.Sunday}, s.Freeze[0].Days)
	assert.Equal(t, paris, s.Freeze[0].Location)
	assert.Equal(t, abs.FreezeWindow{Days: []time.Weekday{time.Friday}, From: 18 * time.Hour, To: 6 * time.Hour, Location: time.UTC, Builds: true}, s.Freeze[1])
	// Friday 20:00 UTC is in the second window, which ends Saturday 06:00.
	end, ok := s.Freeze[1].End(time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC))
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC), end)

	bk := f.buildKit(nil, nil, nil, nil)
	assert.Equal(t, "reg.example/cache", bk.Cache)
	assert.Equal(t, []BuildKitDaemon{{Address: "unix:///run/buildkit/buildkitd.sock", MaxBuilds: 3},
		{Address: "tcp://10.0.0.7:1234", CACert: "ca.pem", Cert: "c.pem", Key: "k.pem", MaxBuilds: 5}}, bk.Daemons)

	none, err := load(t, "projects: [{name: p}]\n")
	require.NoError(t, err)
	s, err = none.storm()
	require.NoError(t, err)
	assert.Equal(t, abs.Storm{}, s, "no section: nothing shaped")
}

func TestStormErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, key string }{
		{"bad window", "storm: {batch_window: soon}\n", "storm.batch_window"},
		{"negative budget", "storm: {budgets: {global: -1}}\n", "storm.budgets"},
		{"bad day", "storm: {freeze: [{days: [funday]}]}\n", "storm.freeze[0].days"},
		{"bad time", "storm: {freeze: [{from: \"25:00\", to: \"06:00\"}]}\n", "storm.freeze[0]"},
		{"half range", "storm: {freeze: [{from: \"10:00\"}]}\n", "storm.freeze[0]"},
		{"bad zone", "storm: {freeze: [{time_zone: Mars/Olympus}]}\n", "storm.freeze[0].time_zone"},
		{"buildkit without daemons", "builder: {kind: buildkit}\n", "builder.daemons"},
		{"daemons without buildkit", "builder: {daemons: [{address: tcp://x:1}]}\n", "builder.daemons"},
		{"bad address", "builder: {kind: buildkit, daemons: [{address: x:1}]}\n", "builder.daemons[0].address"},
		{"half tls", "builder: {kind: buildkit, daemons: [{address: tcp://x:1, cert: c.pem}]}\n", "builder.daemons[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.body+"projects: [{name: p}]\n")
			require.ErrorIs(t, err, abs.ErrConfig)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key, err.Error())
		})
	}
}

func TestBuildKitNeedsLinking(t *testing.T) {
	f, err := load(t, "builder: {kind: buildkit, daemons: [{address: unix:///x.sock}]}\nstate: {sqlite: "+filepath.Join(t.TempDir(), "a.db")+"}\nprojects: [{name: p}]\n")
	require.NoError(t, err)
	_, _, err = f.Open(t.Context())
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "builder.kind", ce.Key)
}

func TestBuildSecretsFromFile(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	require.NoError(t, os.WriteFile(tok, []byte("build-secret-value\n"), 0o600))
	f, err := load(t, "projects: [{name: p, images: [{repository: reg.example/a, build_secrets: {token: {secret_file: "+tok+"}, missing: {secret_env: ABS_TEST_UNSET_VAR}}}]}]\n")
	require.NoError(t, err)
	_, err = f.projects(t.Context(), nil)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "projects[0].images[0].build_secrets.missing.secret_env", ce.Key)

	f, err = load(t, "projects: [{name: p, images: [{repository: reg.example/a, build_secrets: {token: {secret_file: "+tok+"}}}]}]\n")
	require.NoError(t, err)
	ps, err := f.projects(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, "build-secret-value", ps[0].Images[0].BuildSecrets["token"].Reveal())
	assert.Equal(t, "x "+secret.Placeholder+" y", f.scrubber().Scrub("x build-secret-value y"), "the scrubber knows it")
}
