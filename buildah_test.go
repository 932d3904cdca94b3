package abs_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestBuildFromSourceOverSSH rebuilds from source: the image's git
// repository is served over SSH on loopback and cloned with a private key
// checked against known_hosts, and buildah builds it on the updated base.
func TestBuildFromSourceOverSSH(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	app := e.fleet.Apps[0]
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + e.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY app.txt /app/app.txt\n",
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	img := e.projects[0].Images[0]
	img.Source = &rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: rebuild.GitAuth{
		SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}}
	e.projects[0].Images = []abs.Image{img}

	o := e.start(e.sqlite("abs.db"),
		abs.WithRebaser(nil),
		abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.Equal(t, abs.MethodBuild, r.Method)
	assert.Equal(t, healthindex.GradeC, r.BeforeGrade)
	assert.Equal(t, healthindex.GradeA, r.AfterGrade)
	assert.Equal(t, []string{"1.0-2", "latest"}, r.Tags)
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1}, e.tagPushes())
	assert.Len(t, e.smtp.Messages(), 1)
}
