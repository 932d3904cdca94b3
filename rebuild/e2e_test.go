package rebuild_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestExecuteFromGitWithBuildah rebuilds a chain base -> app from a git
// repository served over SSH with buildah, storing images by digest in a
// loopback registry. The app's FROM names base:1, a tag that was never
// pushed: the build only succeeds if it is pinned to the base's new digest.
func TestExecuteFromGitWithBuildah(t *testing.T) {
	requireBuildah(t)
	reg := startRegistry(t)
	busybox := busyboxBase(t, reg)
	files := map[string]string{
		"base/Containerfile": "FROM " + busybox + "\nRUN mkdir -p /etc && echo fixed > /etc/fixed\nLABEL release=1\n",
		"app/Containerfile":  "ARG BASE=" + reg + "/base:1\nFROM ${BASE}\nRUN cat /etc/fixed > /app.txt\n",
	}
	repo := gittest.NewRepo(t, files)
	srv := gittest.StartSSH(t, repo.Dir)
	key := secret.FromBytes(srv.ClientKey.PrivatePEM)
	src := func(dir string) *rebuild.GitSource {
		return &rebuild.GitSource{URL: srv.URL, Branch: "main", ContextDir: dir,
			Auth: rebuild.GitAuth{SSHKey: key, KnownHosts: srv.KnownHosts}}
	}
	b := &rebuild.Buildah{InsecureRegistries: true}
	var targets []*rebuild.Target
	for _, n := range []string{"app", "base"} {
		cf, err := rebuild.ParseContainerfile([]byte(files[n+"/Containerfile"]), nil)
		require.NoError(t, err)
		targets = append(targets, &rebuild.Target{
			Name: n, Ref: reg + "/" + n + ":1", Bases: cf.Bases(), Source: src(n), Builder: b,
			Reason: rebuild.Reason{Advisories: []string{"RHSA-2026:0042"}},
		})
	}
	targets[0].Release = "7.1"

	plan, err := rebuild.NewPlan(targets)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"base"}, {"app"}}, names(plan))

	var logs strings.Builder
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	start := time.Now()
	rep, err := rebuild.Execute(t.Context(), plan,
		rebuild.WithStore(&rebuild.RegistryStore{}),
		rebuild.WithClock(func() time.Time { return now }),
		rebuild.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Logf("two buildah builds from git took %s", time.Since(start))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rep.Close() })
	require.NoError(t, rep.Err(), "%s", rep)
	assert.NotContains(t, logs.String(), strings.TrimSpace(strings.Split(string(srv.ClientKey.PrivatePEM), "\n")[1]))

	base, app := rep.Get("base"), rep.Get("app")
	assert.Equal(t, reg+"/base@"+base.Digest.String(), base.Pinned)
	assert.Equal(t, map[string]string{rebuild.Repository(reg + "/base:1"): base.Pinned}, app.Pins)
	assert.Equal(t, repo.Head, base.Commit)

	// The stored app is built on the new base, by digest.
	img := pull(t, app.Pinned)
	got, ok := readFile(t, img, "app.txt")
	require.True(t, ok)
	assert.Equal(t, "fixed\n", got)
	baseLayers := layerDigests(t, pull(t, base.Pinned))
	assert.Equal(t, baseLayers, layerDigests(t, img)[:len(baseLayers)])

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	for k, want := range map[string]string{
		rebuild.LabelRelease:         "7.2",
		rebuild.LabelAdvisories:      "RHSA-2026:0042",
		rebuild.LabelMethod:          "buildah",
		rebuild.LabelRebuilt:         "2026-11-27T12:00:00Z",
		rebuild.AnnotationRevision:   repo.Head,
		rebuild.AnnotationSource:     srv.URL,
		rebuild.AnnotationBaseDigest: base.Digest.String(),
	} {
		assert.Equal(t, want, cf.Config.Labels[k], "label %s", k)
	}
	assert.Equal(t, base.Digest.String(), m.Annotations[rebuild.AnnotationBaseDigest])
	assert.Equal(t, "RHSA-2026:0042", m.Annotations[rebuild.LabelAdvisories])

	// The base's release comes from its Containerfile's LABEL, bumped.
	bcf, err := pull(t, base.Pinned).ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "2", bcf.Config.Labels[rebuild.LabelRelease])

	// Source checkouts are gone once the steps are done.
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "rebuild-*", "source"))
	for _, m := range matches {
		assert.NotContains(t, m, "rebuild-app-")
	}
}
