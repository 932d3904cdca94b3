package abs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
	"github.com/openabs/abs/publish"
)

func TestProjectFromCatalog(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, err := srv.AddProject(partnerapi.Project{Name: "widget", Container: partnerapi.ProjectContainer{
		Registry: "registry.example.com", Repository: "acme/widget", BuildService: true,
		SourceURI: "ssh://git@git.example.com/acme/widget.git", SourceRef: "release-1", DockerfilePath: "build/Containerfile",
		ContextDir: "src", AutoRebuild: true, AutoPublish: true}})
	require.NoError(t, err)
	got, err := abs.ProjectFromCatalog(t.Context(), srv.Client(t), p.ID)
	require.NoError(t, err)
	assert.Equal(t, p.ID, got.ID)
	assert.Equal(t, "widget", got.Name)
	require.Len(t, got.Images, 1)
	img := got.Images[0]
	assert.Equal(t, "registry.example.com/acme/widget", img.Repository)
	assert.True(t, img.AutoRebuild)
	assert.True(t, img.AutoPublish)
	require.NotNil(t, img.Source)
	assert.Equal(t, "ssh://git@git.example.com/acme/widget.git", img.Source.URL)
	assert.Equal(t, "release-1", img.Source.Branch)
	assert.Equal(t, "build/Containerfile", img.Source.Containerfile)
	assert.Equal(t, "src", img.Source.ContextDir)

	_, err = abs.ProjectFromCatalog(t.Context(), srv.Client(t), "000000000000000000000000")
	assert.ErrorIs(t, err, partnerapi.ErrNotFound)
}

// TestPollLoop: with a poll interval, Start runs a cycle by itself.
func TestPollLoop(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	e.start(e.sqlite("abs.db"), abs.WithPollInterval(time.Hour))
	require.Eventually(t, func() bool { return len(e.smtp.Messages()) == 1 }, time.Minute, 50*time.Millisecond)
	assert.Len(t, e.tagPushes(), 4)
}

// catalogScan stands in for the catalog's own scan of a pushed image: it
// records the image in the fake catalog, as certification would, so the
// catalog publisher that follows finds it by digest.
type catalogScan struct {
	srv     *partnerapitest.Server
	project string
}

func (c catalogScan) Publish(_ context.Context, req publish.Request) (*publish.Result, error) {
	d, err := req.Image.Digest()
	if err != nil {
		return nil, err
	}
	if _, err := c.srv.AddImage(partnerapi.Image{CertProject: c.project, DockerImageDigest: d.String(), Architecture: "amd64"}); err != nil &&
		!errors.Is(err, partnerapitest.ErrDuplicate) {
		return nil, err
	}
	return &publish.Result{Repository: req.Repository, Digest: d.String()}, nil
}

// TestCatalogPublish: where a catalog is configured, a verified rebuild is
// published to the registry and then to the catalog, once.
func TestCatalogPublish(t *testing.T) {
	srv := partnerapitest.Start(t)
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	p, err := srv.AddProject(partnerapi.Project{Name: "demo", Container: partnerapi.ProjectContainer{AutoRebuild: true, AutoPublish: true}})
	require.NoError(t, err)
	e.projects[0].ID = p.ID
	client := srv.Client(t, partnerapi.WithPollInterval(time.Millisecond, 10*time.Millisecond))
	o := e.start(e.sqlite("abs.db"), abs.WithPublisher(publish.Chain(
		publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP()),
		catalogScan{srv: srv, project: p.ID},
		publish.NewCatalog(client),
	)))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildPublished, r.State, r.Image+": "+r.Detail)
	}
	reqs := srv.ImageRequests()
	require.Len(t, reqs, 2, "one catalog publish request per rebuilt image")
	for _, r := range reqs {
		assert.Equal(t, partnerapi.OperationPublish, r.Operation)
	}
}
