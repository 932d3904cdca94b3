package publish_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/publish"
)

// fakeCatalog walks each request through a scripted list of states.
type fakeCatalog struct {
	mu      sync.Mutex
	script  []string          // states a new request goes through
	images  map[string]string // digest -> image id
	created []string          // image ids a request was created for
	reads   int
	getErr  error
}

func (f *fakeCatalog) CreatePublishRequest(_ context.Context, projectID, imageID string) (publish.CatalogRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, imageID)
	return publish.CatalogRequest{ID: "req-" + imageID, Status: f.script[0]}, nil
}

func (f *fakeCatalog) GetRequest(_ context.Context, id string) (publish.CatalogRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return publish.CatalogRequest{}, f.getErr
	}
	f.reads++
	st := f.script[min(f.reads, len(f.script)-1)]
	msg := ""
	if st == publish.CatalogFailed {
		msg = "image is not certified"
	}
	return publish.CatalogRequest{ID: id, Status: st, Message: msg}, nil
}

type findingCatalog struct{ *fakeCatalog }

func (f findingCatalog) FindImageID(_ context.Context, _, digest string) (string, error) {
	return f.images[digest], nil
}

func TestCatalogPublish(t *testing.T) {
	img := testImage(t, 30)
	tests := []struct {
		name    string
		script  []string
		imageID string
		find    bool
		dryRun  bool
		wantErr error
		status  string
		creates int
	}{
		{"completes", []string{"pending", "in progress", "in progress", "completed"}, "img-1", false, false, nil, "completed", 1},
		{"fails", []string{"pending", "failed"}, "img-1", false, false, publish.ErrCatalog, "failed", 1},
		{"aborted", []string{"pending", "aborted"}, "img-1", false, false, publish.ErrCatalog, "aborted", 1},
		{"finds image id", []string{"completed"}, "", true, false, nil, "completed", 1},
		{"no image id", []string{"completed"}, "", false, false, publish.ErrNoCatalogImage, "", 0},
		{"dry run", []string{"completed"}, "", true, true, nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &fakeCatalog{script: tt.script, images: map[string]string{digestOf(t, img): "img-found"}}
			var client publish.CatalogClient = fc
			if tt.find {
				client = findingCatalog{fc}
			}
			c := publish.NewCatalog(client, publish.WithPollInterval(time.Millisecond, 2*time.Millisecond))
			res, err := c.Publish(t.Context(), publish.Request{
				Repository: "r.example/a", Image: img, VersionTag: "1-1", DryRun: tt.dryRun,
				Catalog: publish.CatalogTarget{ProjectID: "p1", ImageID: tt.imageID},
			})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.NotNil(t, res)
			require.NotNil(t, res.Catalog)
			assert.Equal(t, tt.status, res.Catalog.Status)
			assert.Len(t, fc.created, tt.creates)
			if tt.status == "failed" {
				var ce *publish.CatalogError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, "image is not certified", ce.Message)
			}
			if tt.find && tt.wantErr == nil {
				assert.Equal(t, "img-found", res.Catalog.ImageID)
			}
		})
	}
}

func TestCatalogReadError(t *testing.T) {
	boom := errors.New("catalog unreachable")
	fc := &fakeCatalog{script: []string{"pending"}, getErr: boom}
	c := publish.NewCatalog(fc, publish.WithPollInterval(time.Millisecond, time.Millisecond))
	res, err := c.Publish(t.Context(), publish.Request{Repository: "r.example/a", Image: testImage(t, 1), VersionTag: "1-1",
		Catalog: publish.CatalogTarget{ProjectID: "p", ImageID: "i"}})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "req-i", res.Catalog.RequestID)
	assert.Equal(t, "pending", res.Catalog.Status)
}

func TestCatalogContextCancel(t *testing.T) {
	fc := &fakeCatalog{script: []string{"pending"}}
	c := publish.NewCatalog(fc, publish.WithPollInterval(time.Hour, time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Publish(ctx, publish.Request{Repository: "r.example/a", Image: testImage(t, 1), VersionTag: "1-1",
		Catalog: publish.CatalogTarget{ProjectID: "p", ImageID: "i"}})
	require.ErrorIs(t, err, context.Canceled)
}

// Chain: the catalog is asked only after the registry publish succeeded,
// and the merged result holds both records.
func TestChainRegistryThenCatalog(t *testing.T) {
	reg := regtest.InProcess(t)
	fc := &fakeCatalog{script: []string{"pending", "completed"}}
	p := publish.Chain(newPublisher(t, reg, nil), publish.NewCatalog(fc, publish.WithPollInterval(time.Millisecond, time.Millisecond)))
	img := testImage(t, 40)
	req := publish.Request{Repository: reg.Repo("a/b"), Image: img, VersionTag: "1-1", FloatingTags: []string{"latest"},
		Catalog: publish.CatalogTarget{ProjectID: "p", ImageID: "i"}}
	res, err := p.Publish(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []string{"1-1", "latest"}, res.Moved())
	require.NotNil(t, res.Catalog)
	assert.Equal(t, "completed", res.Catalog.Status)
	assert.True(t, res.Pushed)

	// The registry refuses: the catalog is not asked.
	req.Image = testImage(t, 41)
	res, err = p.Publish(t.Context(), req)
	require.ErrorIs(t, err, publish.ErrImmutableTag)
	assert.Nil(t, res.Catalog)
	assert.Len(t, fc.created, 1)
}
