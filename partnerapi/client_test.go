package partnerapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
	"github.com/openabs/abs/secret"
)

// seed fills srv with one project owning n images in one repository.
func seed(t *testing.T, srv *partnerapitest.Server, n int) (partnerapi.Project, []partnerapi.Image) {
	t.Helper()
	p, err := srv.AddProject(partnerapi.Project{
		Name: "widget",
		Container: partnerapi.ProjectContainer{
			Registry: "registry.connect.redhat.com", Repository: "acme/widget",
			BuildService: true, SourceURI: "https://git.example.com/acme/widget.git", SourceRef: "main",
			DockerfilePath: "Dockerfile", ContextDir: ".",
		},
	})
	require.NoError(t, err)
	var imgs []partnerapi.Image
	for i := range n {
		arch := "amd64"
		if i%2 == 1 {
			arch = "arm64"
		}
		img, err := srv.AddImage(partnerapi.Image{
			CertProject:       p.ID,
			Architecture:      arch,
			DockerImageDigest: "sha256:" + strings.Repeat(strconv.Itoa(i%10), 64),
			ContentSets:       []string{"rhel-9-for-x86_64-baseos-rpms"},
			FreshnessGrades: []partnerapi.FreshnessGrade{
				{Grade: "A", StartDate: partnerapi.Time{Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}},
			},
			Repositories: []partnerapi.ImageRepository{{
				Registry: "registry.connect.redhat.com", Repository: "acme/widget",
				Tags: []partnerapi.Tag{{Name: "1." + strconv.Itoa(i)}},
			}},
		})
		require.NoError(t, err)
		imgs = append(imgs, img)
	}
	return p, imgs
}

func TestProjectRoundTrip(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, _ := seed(t, srv, 1)
	c := srv.Client(t)

	got, err := c.Project(t.Context(), p.ID)
	require.NoError(t, err)
	assert.Equal(t, "widget", got.Name)
	assert.True(t, got.Container.BuildService)
	assert.Equal(t, "https://git.example.com/acme/widget.git", got.Container.SourceURI)

	upd, err := c.UpdateProject(t.Context(), p.ID, partnerapi.ProjectPatch{
		Container: &partnerapi.ContainerPatch{AutoPublish: new(true), AutoRebuild: new(true), SourceRef: new("release")},
	})
	require.NoError(t, err)
	assert.True(t, upd.Container.AutoRebuild)
	assert.True(t, upd.Container.AutoPublish)
	assert.Equal(t, "release", upd.Container.SourceRef)
	assert.Equal(t, "Dockerfile", upd.Container.DockerfilePath, "fields left out of the patch stay")

	_, err = c.Project(t.Context(), "nope")
	require.ErrorIs(t, err, partnerapi.ErrNotFound)
	var apiErr *partnerapi.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.Status)
	assert.NotEmpty(t, apiErr.TraceID)
}

func TestUpdateProjectValidates(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, _ := seed(t, srv, 0)
	c := srv.Client(t)

	tests := []struct {
		name  string
		patch partnerapi.ContainerPatch
		ok    bool
	}{
		{"rebuild without publish", partnerapi.ContainerPatch{AutoRebuild: new(true), AutoPublish: new(false)}, false},
		{"rebuild while stored publish is off", partnerapi.ContainerPatch{AutoRebuild: new(true)}, false},
		{"publish only", partnerapi.ContainerPatch{AutoPublish: new(true)}, true},
		{"rebuild once publish is on", partnerapi.ContainerPatch{AutoRebuild: new(true)}, true},
		{"publish off while rebuild is on", partnerapi.ContainerPatch{AutoPublish: new(false)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Calls())
			_, err := c.UpdateProject(t.Context(), p.ID, partnerapi.ProjectPatch{Container: &tt.patch})
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, partnerapi.ErrInvalidSettings)
			for _, call := range srv.Calls()[before:] {
				assert.NotEqual(t, http.MethodPatch, call.Method, "an invalid patch must not be sent")
			}
		})
	}
}

func TestProjectImagesPaginatesLazily(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, imgs := seed(t, srv, 7)
	c := srv.Client(t)

	got, err := partnerapi.Collect(c.ProjectImages(t.Context(), p.ID, &partnerapi.ListOptions{PageSize: 3}))
	require.NoError(t, err)
	require.Len(t, got, 7)
	for i := range imgs {
		assert.Equal(t, imgs[i].ID, got[i].ID)
	}

	before := len(srv.Calls())
	n := 0
	for img, err := range c.ProjectImages(t.Context(), p.ID, &partnerapi.ListOptions{PageSize: 3}) {
		require.NoError(t, err)
		require.NotEmpty(t, img.ID)
		if n++; n == 2 {
			break
		}
	}
	assert.Len(t, srv.Calls()[before:], 1, "stopping inside page 0 fetches no other page")
}

// Cancelling the context stops the iteration, also in the middle of a
// page, with the context's error.
func TestProjectImagesStopsWhenContextEnds(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, _ := seed(t, srv, 7)
	c := srv.Client(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	before := len(srv.Calls())
	var ids []string
	var errs []error
	for img, err := range c.ProjectImages(ctx, p.ID, &partnerapi.ListOptions{PageSize: 5}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, img.ID)
		if len(ids) == 2 {
			cancel()
		}
	}
	assert.Len(t, ids, 2)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)
	assert.Len(t, srv.Calls()[before:], 1, "no page is fetched after the cancel")
}

func TestProjectImagesFilter(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, imgs := seed(t, srv, 6)
	c := srv.Client(t)

	tests := []struct {
		name   string
		filter partnerapi.Filter
		want   []int
	}{
		{"nested tag", partnerapi.Eq("repositories.tags.name", "1.2"), []int{2}},
		{"in", partnerapi.In("repositories.tags.name", "1.0", "1.5", "9.9"), []int{0, 5}},
		{"and", partnerapi.And(partnerapi.Eq("architecture", "arm64"), partnerapi.Ne("repositories.tags.name", "1.1")), []int{3, 5}},
		{"or inside and", partnerapi.And(partnerapi.Eq("architecture", "amd64"),
			partnerapi.Or(partnerapi.Eq("repositories.tags.name", "1.0"), partnerapi.Eq("repositories.tags.name", "1.4"))), []int{0, 4}},
		{"quoted value", partnerapi.Eq("repositories.tags.name", `1.0; architecture==arm64`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := partnerapi.Collect(c.ProjectImages(t.Context(), p.ID, &partnerapi.ListOptions{Filter: tt.filter}))
			require.NoError(t, err)
			var ids, want []string
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			for _, i := range tt.want {
				want = append(want, imgs[i].ID)
			}
			assert.Equal(t, want, ids)
		})
	}
}

func TestPublishAndWait(t *testing.T) {
	srv := partnerapitest.Start(t, partnerapitest.WithPollsPerStep(2))
	p, imgs := seed(t, srv, 1)
	c := srv.Client(t)

	req, err := c.CreateImageRequest(t.Context(), p.ID, partnerapi.ImageRequest{ImageID: imgs[0].ID, Operation: partnerapi.OperationPublish})
	require.NoError(t, err)
	assert.Equal(t, partnerapi.StatusPending, req.Status)

	_, err = c.CreateImageRequest(t.Context(), p.ID, partnerapi.ImageRequest{ImageID: imgs[0].ID, Operation: partnerapi.OperationPublish})
	require.ErrorIs(t, err, partnerapi.ErrConflict)

	done, err := c.WaitImageRequest(t.Context(), req.ID)
	require.NoError(t, err)
	assert.Equal(t, partnerapi.StatusCompleted, done.Status)

	img, err := c.Image(t.Context(), imgs[0].ID)
	require.NoError(t, err)
	assert.True(t, img.Repositories[0].Published)
}

func TestRetryAndRedaction(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, _ := seed(t, srv, 0)
	var logs bytes.Buffer
	c := srv.Client(t, partnerapi.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))

	srv.FailNext(2, http.StatusServiceUnavailable, "0")
	_, err := c.Project(t.Context(), p.ID)
	require.NoError(t, err)

	srv.FailNext(4, http.StatusTooManyRequests, "0") // as many as the client attempts
	_, err = c.Project(t.Context(), p.ID)
	var apiErr *partnerapi.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusTooManyRequests, apiErr.Status)

	bad, err := partnerapi.New(secret.New("wrong-key-value"), partnerapi.WithBaseURL(srv.URL), partnerapi.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	require.NoError(t, err)
	_, err = bad.Project(t.Context(), p.ID)
	require.ErrorIs(t, err, partnerapi.ErrUnauthorized)

	assert.NotContains(t, logs.String(), srv.APIKey())
	assert.NotContains(t, logs.String(), "wrong-key-value")
	assert.NotContains(t, err.Error(), "wrong-key-value")
	assert.True(t, errors.Is(err, partnerapi.ErrUnauthorized))
}

// recordingDoer is a caller-supplied Doer that counts requests and checks
// that each carries the key.
type recordingDoer struct {
	next http.Client
	key  string
	n    int
	bad  int
}

func (d *recordingDoer) Do(r *http.Request) (*http.Response, error) {
	d.n++
	if r.Header.Get("X-API-KEY") != d.key {
		d.bad++
	}
	return d.next.Do(r)
}

func TestRepositoryAndDigestLookups(t *testing.T) {
	srv := partnerapitest.Start(t)
	_, imgs := seed(t, srv, 4)
	_, err := srv.AddRepository(partnerapi.Repository{Registry: "registry.access.redhat.com", Repository: "ubi9/ubi",
		AutoRebuildTags: []string{"latest", "9.4"},
		ContentStreamGrades: []partnerapi.ContentStreamGrade{{Tag: "9.4", Grade: "B",
			ImageIDs: []partnerapi.ArchImageID{{Arch: "amd64", ID: imgs[0].ID}}}}})
	require.NoError(t, err)
	doer := &recordingDoer{next: *srv.HTTP.Client(), key: srv.APIKey()}
	c := srv.Client(t, partnerapi.WithHTTPClient(doer))

	repo, err := c.Repository(t.Context(), "registry.access.redhat.com", "ubi9/ubi")
	require.NoError(t, err)
	assert.Equal(t, []string{"latest", "9.4"}, repo.AutoRebuildTags)
	require.Len(t, repo.ContentStreamGrades, 1)
	assert.Equal(t, "B", repo.ContentStreamGrades[0].Grade)
	assert.Equal(t, imgs[0].ID, repo.ContentStreamGrades[0].ImageIDs[0].ID)

	_, err = c.Repository(t.Context(), "registry.access.redhat.com", "ubi9/nope")
	require.ErrorIs(t, err, partnerapi.ErrNotFound)

	got, err := partnerapi.Collect(c.RepositoryImages(t.Context(), "registry.connect.redhat.com", "acme/widget", &partnerapi.ListOptions{PageSize: 3}))
	require.NoError(t, err)
	assert.Len(t, got, 4)

	byDigest, err := c.ImagesByDigest(t.Context(), imgs[1].DockerImageDigest)
	require.NoError(t, err)
	require.Len(t, byDigest, 1)
	assert.Equal(t, imgs[1].ID, byDigest[0].ID)
	none, err := c.ImagesByDigest(t.Context(), "sha256:none")
	require.NoError(t, err)
	assert.Empty(t, none)

	require.NoError(t, srv.SetRPMManifest(imgs[0].ID, []partnerapi.RPM{{Name: "bash", Version: "5.1.8", Release: "6.el9", Architecture: "x86_64"}}))
	m, err := c.RPMManifest(t.Context(), imgs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "bash", m.RPMs[0].Name)
	_, err = c.RPMManifest(t.Context(), imgs[1].ID)
	require.ErrorIs(t, err, partnerapi.ErrNotFound)

	var vulns []partnerapi.Vulnerability
	for i := range 5 {
		vulns = append(vulns, partnerapi.Vulnerability{CVEID: "CVE-2025-000" + strconv.Itoa(i), Severity: []string{"Low", "Important"}[i%2]})
	}
	require.NoError(t, srv.SetVulnerabilities(imgs[0].ID, vulns))
	important, err := partnerapi.Collect(c.Vulnerabilities(t.Context(), imgs[0].ID, &partnerapi.ListOptions{
		Filter: partnerapi.Eq("severity", "Important"), PageSize: 1, SortBy: []partnerapi.Sort{{Field: "cve_id", Order: partnerapi.Desc}}}))
	require.NoError(t, err)
	require.Len(t, important, 2)
	assert.Equal(t, "CVE-2025-0003", important[0].CVEID)

	assert.Positive(t, doer.n)
	assert.Zero(t, doer.bad, "every request carries the key")
}

func TestBadListOptions(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, _ := seed(t, srv, 1)
	c := srv.Client(t)
	before := len(srv.Calls())
	for _, opts := range []*partnerapi.ListOptions{
		{Filter: partnerapi.Eq("", "x")},
		{Filter: partnerapi.In("architecture")},
		{SortBy: []partnerapi.Sort{{Field: "x", Order: "sideways"}}},
	} {
		_, err := partnerapi.Collect(c.ProjectImages(t.Context(), p.ID, opts))
		require.Error(t, err)
	}
	_, err := partnerapi.Collect(c.ProjectImages(t.Context(), "", nil))
	require.Error(t, err)
	assert.Len(t, srv.Calls(), before, "invalid options send nothing")
}

func TestTimeoutBoundsAnAttempt(t *testing.T) {
	block := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	t.Cleanup(func() { close(block); ts.Close() })
	c, err := partnerapi.New(secret.New("k"), partnerapi.WithBaseURL(ts.URL), partnerapi.WithHTTPClient(ts.Client()),
		partnerapi.WithTimeout(20*time.Millisecond), partnerapi.WithRetry(2, time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	_, err = c.Image(t.Context(), "x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestWaitStopsWithContext(t *testing.T) {
	srv := partnerapitest.Start(t, partnerapitest.WithPollsPerStep(1_000_000))
	p, imgs := seed(t, srv, 1)
	c := srv.Client(t)
	req, err := c.CreateImageRequest(t.Context(), p.ID, partnerapi.ImageRequest{ImageID: imgs[0].ID, Operation: partnerapi.OperationSyncTags})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	last, err := c.WaitImageRequest(ctx, req.ID)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	if last != nil { // nil only when the deadline hit the very first poll
		assert.Equal(t, partnerapi.StatusPending, last.Status)
	}
}
