package abs_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// skopeoPulls runs Debian's skopeo (containers/image) against a published
// image: inspect, and copy to an OCI layout. It skips when skopeo is
// missing.
func skopeoPulls(t *testing.T, ref string) {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Log("skopeo not installed: pull check skipped")
		return
	}
	out, err := exec.CommandContext(t.Context(), "skopeo", "inspect", "--tls-verify=false", "docker://"+ref).CombinedOutput()
	require.NoError(t, err, "skopeo inspect %s: %s", ref, out)
	dst := filepath.Join(t.TempDir(), "oci")
	out, err = exec.CommandContext(t.Context(), "skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+dst+":x").CombinedOutput()
	require.NoError(t, err, "skopeo copy %s: %s", ref, out)
}

func planStep(rep *abs.Report, image string) *abs.PlanStep {
	for i := range rep.Plan {
		if rep.Plan[i].Image == image {
			return &rep.Plan[i]
		}
	}
	return nil
}

// TestRetryRefusedThenFixedBase: an advisory arrives before the fixed base,
// so the rebase is refused and the rebuild waits (and says so) instead of
// repeating; when the fixed base arrives, the new base digest makes a new
// rebuild, which is published and pullable by containers/image; a cycle
// after that does nothing more.
func TestRetryRefusedThenFixedBase(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	o := e.start(e.sqlite("abs.db"), abs.WithRetryBackoff(0, 0))

	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 2)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildFailed, r.State, r.Image)
		assert.Contains(t, r.Detail, "rebase", r.Image)
		assert.Contains(t, r.Waiting, "waiting for the base", r.Image)
		assert.Equal(t, 1, r.Attempt)
	}

	again, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, again.Rebuilds, "the same inputs are not tried again")
	require.Len(t, again.Plan, 2)
	for _, st := range again.Plan {
		assert.True(t, st.Duplicate, st.Image)
		assert.Contains(t, st.Waiting, "waiting for the base, the source commit", st.Image)
	}
	for _, s := range again.Summary().Images {
		assert.Contains(t, s.Waiting, "refused", s.Name)
	}

	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	fixed, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, fixed.Rebuilds, 2)
	for _, r := range fixed.Rebuilds {
		require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
		assert.Equal(t, healthindex.GradeA, r.AfterGrade)
		assert.NotEqual(t, rep.Rebuilds[0].ID, r.ID)
	}
	for _, a := range e.fleet.Apps {
		skopeoPulls(t, a.Repository+":latest")
	}
	pushes := e.tagPushes()
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "api:1.0-2": 1, "api:latest": 1}, pushes)

	last, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, last.Plan, "a second cycle plans nothing")
	assert.Empty(t, last.Rebuilds)
	assert.Equal(t, pushes, e.tagPushes(), "and pushes nothing")
	assert.Len(t, e.smtp.Messages(), 2, "one mail for the refusal, one for the rebuild")
}

func requireBuildah(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
}

// goodContainerfile builds the demo app on the demo base.
func goodContainerfile(e *env) string {
	return "FROM " + e.fleet.BaseRef + "\nLABEL name=" + e.fleet.Apps[0].Name + " version=1.0\nCOPY app.txt /app/app.txt\n"
}

// sourceEnv is the demo fleet's app built from a git repository served
// over SSH on loopback, on the updated base.
func sourceEnv(t *testing.T, containerfile func(*env) string, auth func(srv *gittest.SSHServer) rebuild.GitAuth) (*env, *gittest.Repo) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": containerfile(e),
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	img := e.projects[0].Images[0]
	img.Source = &rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: auth(srv)}
	e.projects[0].Images = []abs.Image{img}
	return e, repo
}

// TestRetryUnknownHostKeyThenAdded: the source's SSH host key is not in
// known_hosts, so the fetch fails and the rebuild waits for its backoff
// (and says until when); once the key is added to the known_hosts file,
// the changed input plans a new rebuild at once, which is published.
func TestRetryUnknownHostKeyThenAdded(t *testing.T) {
	requireBuildah(t)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(knownHosts, nil, 0o600))
	var hostKeys []byte
	e, _ := sourceEnv(t, goodContainerfile, func(srv *gittest.SSHServer) rebuild.GitAuth {
		hostKeys = srv.KnownHosts
		return rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHostsFile: knownHosts}
	})
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}),
		abs.WithRetryBackoff(time.Hour, time.Hour))

	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	failed := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, failed.State)
	assert.Contains(t, failed.Detail, "host key unknown")
	require.NotNil(t, failed.NextAttempt)
	assert.Equal(t, abs.DefaultRetryLimit-1, failed.AttemptsLeft)
	assert.Contains(t, failed.Waiting, "next attempt at")

	wait, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, wait.Rebuilds, "not before the backoff")
	require.Len(t, wait.Plan, 1)
	assert.Contains(t, wait.Plan[0].Waiting, "next attempt at")

	require.NoError(t, os.WriteFile(knownHosts, hostKeys, 0o600))
	ok, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, ok.Rebuilds, 1)
	r := ok.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.NotEqual(t, failed.ID, r.ID, "a changed input is a new rebuild")
	skopeoPulls(t, e.fleet.Apps[0].Repository+":latest")
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1}, e.tagPushes())
}

// TestRetryFailingBuildThenManualRetry: a build that fails runs again in
// the next cycle after its backoff, up to the retry limit; then it waits,
// and says so, until Retry asks for one more run. The build fails on
// something none of its inputs cover (the image it starts FROM is not in
// the registry yet); once it is, the run Retry asked for builds and
// publishes it. Each cycle's report keeps the run it made.
func TestRetryFailingBuildThenManualRetry(t *testing.T) {
	requireBuildah(t)
	var later string
	e, _ := sourceEnv(t, func(e *env) string {
		later = e.reg.Repo("demo/later:9.4")
		return "FROM " + later + "\nLABEL name=" + e.fleet.Apps[0].Name + " version=1.0\nCOPY app.txt /app/app.txt\n"
	},
		func(srv *gittest.SSHServer) rebuild.GitAuth {
			return rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}
		})
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}),
		abs.WithRetryBackoff(0, 0), abs.WithRetryLimit(2))
	image := e.fleet.Apps[0].Name

	var cycles []string
	for attempt := 1; attempt <= 2; attempt++ {
		rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
		require.NoError(t, err)
		require.Len(t, rep.Rebuilds, 1, "attempt %d", attempt)
		r := rep.Rebuilds[0]
		require.Equal(t, abs.RebuildFailed, r.State)
		assert.Equal(t, attempt, r.Attempt)
		assert.Contains(t, r.Detail, "build")
		cycles = append(cycles, rep.Cycle)
	}
	spent, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, spent.Rebuilds)
	require.NotNil(t, planStep(spent, image))
	assert.Contains(t, planStep(spent, image).Waiting, "failed 2 of 2 attempts")
	assert.Equal(t, 0, planStep(spent, image).AttemptsLeft)

	src, err := gcrname.ParseReference(e.fleet.BaseRef)
	require.NoError(t, err)
	dst, err := gcrname.ParseReference(later)
	require.NoError(t, err)
	desc, err := remote.Get(src, remote.WithContext(t.Context()))
	require.NoError(t, err)
	require.NoError(t, remote.Tag(dst.(gcrname.Tag), desc, remote.WithContext(t.Context())))
	id, err := o.Retry(t.Context(), image)
	require.NoError(t, err)
	rep := wait(t, o, id)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.Equal(t, 3, r.Attempt)
	assert.Equal(t, []abs.RebuildState{abs.RebuildPlanned, abs.RebuildBuilding, abs.RebuildFailed, abs.RebuildPlanned,
		abs.RebuildBuilding, abs.RebuildFailed, abs.RebuildPlanned, abs.RebuildBuilding, abs.RebuildBuilt, abs.RebuildPublished}, r.History)
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1, "later:9.4": 1}, e.tagPushes(), "later:9.4 is the test's")
	for i, c := range cycles {
		old, err := o.Report(t.Context(), c)
		require.NoError(t, err)
		require.Len(t, old.Rebuilds, 1)
		assert.Equal(t, r.ID, old.Rebuilds[0].ID)
		assert.Equal(t, abs.RebuildFailed, old.Rebuilds[0].State, "as the run ended in that cycle")
		assert.Equal(t, i+1, old.Rebuilds[0].Attempt)
		assert.NotEmpty(t, old.Rebuilds[0].RetriedBy)
	}

	last, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	assert.Empty(t, last.Plan, "nothing more to do")

	_, err = o.Retry(t.Context(), "no-such-image")
	assert.ErrorIs(t, err, abs.ErrUnknownImage)
}

// TestNextReleaseFreeAmongTags: the team's own CI pushed 1.0-2 while the
// image still says release 1; the rebuild takes 1.0-3 instead of colliding
// with the immutable tag.
func TestNextReleaseFreeAmongTags(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	app := e.fleet.Apps[0]
	src, err := gcrname.ParseReference(app.Repository + ":" + app.Tag)
	require.NoError(t, err)
	dst, err := gcrname.ParseReference(app.Repository + ":1.0-2")
	require.NoError(t, err)
	desc, err := remote.Get(src, remote.WithContext(t.Context()))
	require.NoError(t, err)
	require.NoError(t, remote.Tag(dst.(gcrname.Tag), desc, remote.WithContext(t.Context())))

	o := e.start(e.sqlite("abs.db"))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	tags := map[string][]string{}
	for _, r := range rep.Rebuilds {
		require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
		tags[r.Image] = r.Tags
	}
	assert.Equal(t, []string{"1.0-3", "latest"}, tags[app.Name], "the tag CI took is skipped")
	assert.Equal(t, []string{"1.0-2", "latest"}, tags[e.fleet.Apps[1].Name], "the other image is not affected")
}

// TestUnpullableRebuildIsNotPublished: a rebuild whose manifest mixes
// media type families (a Docker v2s2 manifest over OCI layers, which
// containers/image refuses) is refused by verify and never published.
func TestUnpullableRebuildIsNotPublished(t *testing.T) {
	e := newEnv(t, demo.OpenSSL)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	mixed := buildFunc(func(ctx context.Context, req *rebuild.Request) (*rebuild.Result, error) {
		res, err := (&rebuild.Rebase{}).Build(ctx, req)
		if err != nil {
			return nil, err
		}
		layers, err := res.Image.Layers()
		if err != nil {
			return nil, err
		}
		img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
		img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
		for _, l := range layers {
			if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer}); err != nil {
				return nil, err
			}
		}
		cf, err := res.Image.ConfigFile()
		if err != nil {
			return nil, err
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, err
		}
		res.Image = img
		return res, nil
	})
	o := e.start(e.sqlite("abs.db"), abs.WithRebaser(mixed))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, rep.Rebuilds)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildFailed, r.State, r.Image)
		assert.Contains(t, r.Detail, "is not pullable", r.Image)
	}
	assert.Empty(t, e.tagPushes(), "nothing is published")
}
