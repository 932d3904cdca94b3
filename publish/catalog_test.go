package publish_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
	"github.com/openabs/abs/publish"
)

// catalogWith starts the catalog fake with one project and one catalog
// image per digest, not yet published.
func catalogWith(t *testing.T, digests ...string) (*partnerapitest.Server, string, []string) {
	t.Helper()
	srv := partnerapitest.Start(t)
	p, err := srv.AddProject(partnerapi.Project{Name: "app"})
	require.NoError(t, err)
	var ids []string
	for _, d := range digests {
		img, err := srv.AddImage(partnerapi.Image{CertProject: p.ID, DockerImageDigest: d, Architecture: "amd64",
			Repositories: []partnerapi.ImageRepository{{Registry: "registry.example.com", Repository: "team/app"}}})
		require.NoError(t, err)
		ids = append(ids, img.ID)
	}
	return srv, p.ID, ids
}

// noFinder hides ImagesByDigest.
type noFinder struct{ publish.CatalogClient }

func TestCatalogPublish(t *testing.T) {
	img := testImage(t, 30)
	d := digestOf(t, img)
	tests := []struct {
		name     string
		outcome  partnerapi.Status
		explicit bool
		hideFind bool
		noImage  bool
		dryRun   bool
		wantErr  []error
		status   string
		requests int
	}{
		{name: "completes", status: "completed", requests: 1},
		{name: "fails", outcome: partnerapi.StatusFailed, wantErr: []error{publish.ErrCatalog, partnerapi.ErrRequestFailed}, status: "failed", requests: 1},
		{name: "aborted", outcome: partnerapi.StatusAborted, wantErr: []error{publish.ErrCatalog}, status: "aborted", requests: 1},
		{name: "explicit id without finder", explicit: true, hideFind: true, status: "completed", requests: 1},
		{name: "no id without finder", hideFind: true, wantErr: []error{publish.ErrNoCatalogImage}},
		{name: "image not in catalog", noImage: true, wantErr: []error{publish.ErrNoCatalogImage}},
		{name: "dry run", dryRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digests := []string{d}
			if tt.noImage {
				digests = []string{"sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
			}
			srv, project, ids := catalogWith(t, digests...)
			if tt.outcome != "" {
				srv.SetRequestOutcome(tt.outcome, "image is not certified")
			}
			var client publish.CatalogClient = srv.Client(t)
			if tt.hideFind {
				client = noFinder{client}
			}
			target := publish.CatalogTarget{ProjectID: project}
			if tt.explicit {
				target.ImageID = ids[0]
			}
			res, err := publish.NewCatalog(client).Publish(t.Context(), publish.Request{
				Repository: "registry.example.com/team/app", Image: img, VersionTag: "1-1", DryRun: tt.dryRun, Catalog: target,
			})
			for _, want := range tt.wantErr {
				require.ErrorIs(t, err, want)
			}
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Len(t, res.Catalog.Images, 1)
				assert.Equal(t, ids[0], res.Catalog.Images[0].ImageID)
				assert.Equal(t, tt.status, res.Catalog.Images[0].Status)
			}
			assert.Len(t, srv.ImageRequests(), tt.requests)
			if tt.status == "failed" {
				var ce *publish.CatalogError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "image is not certified", ce.Message)
				assert.Equal(t, srv.ImageRequests()[0].ID, ce.RequestID)
			}
		})
	}
}

// Publishing again after success (a retry after a crash) finds the image
// published and makes no new request.
func TestCatalogIdempotent(t *testing.T) {
	img := testImage(t, 31)
	srv, project, _ := catalogWith(t, digestOf(t, img))
	c := publish.NewCatalog(srv.Client(t))
	req := publish.Request{Repository: "r.example/a", Image: img, VersionTag: "1-1", Catalog: publish.CatalogTarget{ProjectID: project}}
	_, err := c.Publish(t.Context(), req)
	require.NoError(t, err)
	res, err := c.Publish(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, publish.CatalogUnchanged, res.Catalog.Images[0].Status)
	assert.Len(t, srv.ImageRequests(), 1)
}

// An index is published in the catalog through its per-architecture
// images, found by their manifest digests.
func TestCatalogIndex(t *testing.T) {
	idx := testIndex(t, 32)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var children []string
	for _, m := range im.Manifests {
		children = append(children, m.Digest.String())
	}
	srv, project, ids := catalogWith(t, children...)
	res, err := publish.NewCatalog(srv.Client(t)).Publish(t.Context(), publish.Request{
		Repository: "r.example/a", Index: idx, VersionTag: "1-1", Catalog: publish.CatalogTarget{ProjectID: project}})
	require.NoError(t, err)
	require.Len(t, res.Catalog.Images, 3)
	var got []string
	for _, ci := range res.Catalog.Images {
		got = append(got, ci.ImageID)
		assert.Equal(t, "completed", ci.Status)
	}
	assert.ElementsMatch(t, ids, got)
	assert.Len(t, srv.ImageRequests(), 3)
}

func TestCatalogTransientFailures(t *testing.T) {
	img := testImage(t, 33)
	srv, project, _ := catalogWith(t, digestOf(t, img))
	srv.FailNext(2, 503, "")
	res, err := publish.NewCatalog(srv.Client(t)).Publish(t.Context(), publish.Request{
		Repository: "r.example/a", Image: img, VersionTag: "1-1", Catalog: publish.CatalogTarget{ProjectID: project}})
	require.NoError(t, err)
	assert.Equal(t, "completed", res.Catalog.Images[0].Status)
}

func TestCatalogContextCancel(t *testing.T) {
	img := testImage(t, 34)
	srv, project, _ := catalogWith(t, digestOf(t, img))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := publish.NewCatalog(srv.Client(t)).Publish(ctx, publish.Request{
		Repository: "r.example/a", Image: img, VersionTag: "1-1", Catalog: publish.CatalogTarget{ProjectID: project}})
	require.ErrorIs(t, err, context.Canceled)
}

// Chain: the catalog is asked only after the registry publish succeeded,
// and the merged result holds both records.
func TestChainRegistryThenCatalog(t *testing.T) {
	reg := regtest.InProcess(t)
	img := testImage(t, 40)
	srv, project, _ := catalogWith(t, digestOf(t, img))
	p := publish.Chain(newPublisher(t, reg, nil), publish.NewCatalog(srv.Client(t)))
	req := publish.Request{Repository: reg.Repo("a/b"), Image: img, VersionTag: "1-1", FloatingTags: []string{"latest"},
		Catalog: publish.CatalogTarget{ProjectID: project}}
	res, err := p.Publish(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []string{"1-1", "latest"}, res.Moved())
	require.NotNil(t, res.Catalog)
	assert.Equal(t, "completed", res.Catalog.Images[0].Status)
	assert.True(t, res.Pushed)

	// The registry refuses: the catalog is not asked.
	req.Image = testImage(t, 41)
	res, err = p.Publish(t.Context(), req)
	require.ErrorIs(t, err, publish.ErrImmutableTag)
	assert.Nil(t, res.Catalog)
	assert.Len(t, srv.ImageRequests(), 1)
}
