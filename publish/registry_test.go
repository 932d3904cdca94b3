package publish_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/secret"
)

func actions(res *publish.Result) map[string]publish.Action {
	out := map[string]publish.Action{}
	for _, tc := range res.Tags {
		out[tc.Tag] = tc.Action
	}
	return out
}

func TestRegistryTagPolicy(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			reg := be.start(t)
			var logs testutil.SyncBuffer
			p := newPublisher(t, reg, &logs)
			repo := reg.Repo("team/app")
			ctx := t.Context()

			img1, img2, img3 := testImage(t, 1), testImage(t, 2), testImage(t, 3)
			d1, d2, d3 := digestOf(t, img1), digestOf(t, img2), digestOf(t, img3)

			// First publish: every tag is new.
			res, err := p.Publish(ctx, publish.Request{Repository: repo, Image: img1, VersionTag: "1.0-1", FloatingTags: []string{"latest", "1", "latest"}})
			require.NoError(t, err)
			assert.Equal(t, d1, res.Digest)
			assert.True(t, res.Pushed)
			assert.Equal(t, map[string]publish.Action{"1.0-1": "created", "latest": "created", "1": "created"}, actions(res))
			assert.Equal(t, []string{"1.0-1", "latest", "1"}, res.Moved())
			assert.True(t, res.Tags[0].Immutable)
			assert.Len(t, res.Blobs, 3) // config and two layers
			for _, tag := range []string{"1.0-1", "latest", "1"} {
				assert.Equal(t, d1, tagDigest(t, reg, repo+":"+tag), tag)
			}

			// The same request again (a retry after a crash): a no-op.
			res, err = p.Publish(ctx, publish.Request{Repository: repo, Image: img1, VersionTag: "1.0-1", FloatingTags: []string{"latest", "1"}})
			require.NoError(t, err)
			assert.False(t, res.Pushed)
			assert.Empty(t, res.Moved())
			assert.Equal(t, map[string]publish.Action{"1.0-1": "unchanged", "latest": "unchanged", "1": "unchanged"}, actions(res))

			// A rebuild: new version tag, floating tags move.
			res, err = p.Publish(ctx, publish.Request{Repository: repo, Image: img2, VersionTag: "1.0-2", FloatingTags: []string{"latest", "1"}})
			require.NoError(t, err)
			assert.Equal(t, map[string]publish.Action{"1.0-2": "created", "latest": "moved", "1": "moved"}, actions(res))
			assert.Equal(t, d1, res.Tags[1].From)
			assert.Equal(t, d2, res.Tags[1].To)
			assert.Equal(t, d2, tagDigest(t, reg, repo+":latest"))
			assert.Equal(t, d1, tagDigest(t, reg, repo+":1.0-1"))

			// Reusing an immutable tag for other content is refused, and
			// nothing is pushed or moved.
			res, err = p.Publish(ctx, publish.Request{Repository: repo, Image: img3, VersionTag: "1.0-1", FloatingTags: []string{"latest"}})
			require.ErrorIs(t, err, publish.ErrImmutableTag)
			var ite *publish.ImmutableTagError
			require.ErrorAs(t, err, &ite)
			assert.Equal(t, d1, ite.Existing)
			assert.Equal(t, d3, ite.Want)
			assert.Equal(t, map[string]publish.Action{"1.0-1": "refused", "latest": "skipped"}, actions(res))
			assert.Empty(t, res.Moved())
			assert.Equal(t, d1, tagDigest(t, reg, repo+":1.0-1"))
			assert.Equal(t, d2, tagDigest(t, reg, repo+":latest"))
			assert.Empty(t, tagDigest(t, reg, repo+"@"+d3), "refused content must not be pushed")
			assert.Contains(t, logs.String(), "publish: tag moved")
		})
	}
}

func TestRegistryIndex(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			reg := be.start(t)
			p := newPublisher(t, reg, nil)
			repo := reg.Repo("team/multi")
			idx := testIndex(t, 7)
			want := digestOf(t, idx)

			res, err := p.Publish(t.Context(), publish.Request{Repository: repo, Index: idx, VersionTag: "2.0-1", FloatingTags: []string{"latest"}})
			require.NoError(t, err)
			assert.Equal(t, want, res.Digest)
			assert.Len(t, res.Manifests, 4) // index and three images
			assert.Equal(t, []string{"2.0-1", "latest"}, res.Moved())

			ref, err := name.ParseReference(repo + ":2.0-1")
			require.NoError(t, err)
			auth := remote.WithAuth(authn.Anonymous)
			got, err := remote.Index(ref, auth)
			require.NoError(t, err)
			assert.Equal(t, want, digestOf(t, got))
			im, err := got.IndexManifest()
			require.NoError(t, err)
			require.Len(t, im.Manifests, 3)
			for _, m := range im.Manifests {
				child, err := got.Image(m.Digest)
				require.NoError(t, err)
				_, err = child.Layers()
				require.NoError(t, err)
				assert.Equal(t, m.Digest.String(), tagDigest(t, reg, repo+"@"+m.Digest.String()))
			}

			// Republishing the same index is a no-op; another index under
			// the same version tag is refused.
			res, err = p.Publish(t.Context(), publish.Request{Repository: repo, Index: idx, VersionTag: "2.0-1", FloatingTags: []string{"latest"}})
			require.NoError(t, err)
			assert.Empty(t, res.Moved())
			_, err = p.Publish(t.Context(), publish.Request{Repository: repo, Index: testIndex(t, 8), VersionTag: "2.0-1"})
			require.ErrorIs(t, err, publish.ErrImmutableTag)
			assert.Equal(t, want, tagDigest(t, reg, repo+":2.0-1"))
		})
	}
}

// An index whose last child cannot be stored must leave no tag behind.
func TestRegistryIndexAllOrNothing(t *testing.T) {
	idx := testIndex(t, 9)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	bad := im.Manifests[2].Digest.String()
	c := &counter{fail: func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+bad) {
			return http.StatusBadRequest
		}
		return 0
	}}
	reg := regtest.InProcess(t, regtest.WithMiddleware(c.wrap))
	repo := reg.Repo("team/multi")
	p := newPublisher(t, reg, nil)

	// Tags that exist before the failed publish stay where they were.
	old := testIndex(t, 10)
	_, err = p.Publish(t.Context(), publish.Request{Repository: repo, Index: old, VersionTag: "1-1", FloatingTags: []string{"latest"}})
	require.NoError(t, err)

	res, err := p.Publish(t.Context(), publish.Request{Repository: repo, Index: idx, VersionTag: "2-1", FloatingTags: []string{"latest"}})
	require.Error(t, err)
	require.NotNil(t, res)
	assert.Empty(t, res.Moved())
	assert.Equal(t, map[string]publish.Action{"2-1": "skipped", "latest": "skipped"}, actions(res))
	assert.Empty(t, tagDigest(t, reg, repo+":2-1"))
	assert.Empty(t, tagDigest(t, reg, repo+"@"+digestOf(t, idx)))
	assert.Equal(t, digestOf(t, old), tagDigest(t, reg, repo+":latest"))
}

// A registry that fails twice with 503 and then works: the publish
// succeeds after retries, and the retries are logged.
func TestRegistryFlaky(t *testing.T) {
	failures := 0
	c := &counter{fail: func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && failures < 2 {
			failures++
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	reg := regtest.InProcess(t, regtest.WithMiddleware(c.wrap))
	var logs testutil.SyncBuffer
	p := newPublisher(t, reg, &logs)
	img := testImage(t, 11)
	res, err := p.Publish(t.Context(), publish.Request{Repository: reg.Repo("a/b"), Image: img, VersionTag: "1-1"})
	require.NoError(t, err)
	assert.Equal(t, 2, failures)
	assert.Equal(t, []string{"1-1"}, res.Moved())
	assert.Equal(t, 2, strings.Count(logs.String(), "retrying"))

	// A registry that keeps failing: the error says so after the
	// attempts are used up, and the result tells which tags did not move.
	puts := 0
	always := &counter{fail: func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			puts++
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	reg = regtest.InProcess(t, regtest.WithMiddleware(always.wrap))
	res, err = newPublisher(t, reg, nil).Publish(t.Context(), publish.Request{Repository: reg.Repo("a/b"), Image: img, VersionTag: "1-1", FloatingTags: []string{"latest"}})
	require.Error(t, err)
	var terr *transport.Error
	require.ErrorAs(t, err, &terr)
	assert.Equal(t, http.StatusServiceUnavailable, terr.StatusCode)
	assert.Equal(t, fastAttempts, puts)
	assert.Equal(t, map[string]publish.Action{"1-1": "skipped", "latest": "skipped"}, actions(res))
}

// Floating tags that fail after the version tag is set are reported one by
// one; the version tag stays set and the result says so.
func TestRegistryPartialFailure(t *testing.T) {
	c := &counter{fail: func(r *http.Request) int {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/stable") {
			return http.StatusForbidden
		}
		return 0
	}}
	reg := regtest.InProcess(t, regtest.WithMiddleware(c.wrap))
	img := testImage(t, 12)
	res, err := newPublisher(t, reg, nil).Publish(t.Context(), publish.Request{
		Repository: reg.Repo("a/b"), Image: img, VersionTag: "1-1", FloatingTags: []string{"stable", "latest"},
	})
	require.Error(t, err)
	assert.Equal(t, []string{"1-1", "latest"}, res.Moved())
	assert.Equal(t, map[string]publish.Action{"1-1": "created", "stable": "failed", "latest": "created"}, actions(res))
	assert.Contains(t, res.Tags[1].Error, "stable")
}

func TestRegistryDryRun(t *testing.T) {
	c := &counter{}
	reg := regtest.InProcess(t, regtest.WithMiddleware(c.wrap))
	p := newPublisher(t, reg, nil)
	repo := reg.Repo("team/app")
	old := testImage(t, 1)
	_, err := p.Publish(t.Context(), publish.Request{Repository: repo, Image: old, VersionTag: "1-1", FloatingTags: []string{"latest"}})
	require.NoError(t, err)
	writes := c.Writes()

	img := testImage(t, 2)
	res, err := p.Publish(t.Context(), publish.Request{Repository: repo, Image: img, VersionTag: "1-2", FloatingTags: []string{"latest"}, DryRun: true})
	require.NoError(t, err)
	assert.True(t, res.DryRun)
	assert.False(t, res.Pushed)
	assert.Empty(t, res.Moved())
	assert.Equal(t, map[string]publish.Action{"1-2": "created", "latest": "moved"}, actions(res))
	assert.Len(t, res.Manifests, 1)
	assert.Len(t, res.Blobs, 3)
	assert.Equal(t, writes, c.Writes(), "a dry run must not write")
	assert.Equal(t, digestOf(t, old), tagDigest(t, reg, repo+":latest"))

	// A dry run still reports an immutable-tag conflict.
	_, err = p.Publish(t.Context(), publish.Request{Repository: repo, Image: img, VersionTag: "1-1", DryRun: true})
	require.ErrorIs(t, err, publish.ErrImmutableTag)
}

func TestRegistryBasicAuth(t *testing.T) {
	const user, pass = "robot", "s3cr3t-Pa55word"
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			reg := be.start(t, regtest.WithBasicAuth(user, pass))
			img := testImage(t, 20)
			req := publish.Request{Repository: reg.Repo("team/app"), Image: img, VersionTag: "1-1"}

			var logs testutil.SyncBuffer
			res, err := newPublisher(t, reg, &logs).Publish(t.Context(), req)
			require.NoError(t, err)
			assert.Equal(t, []string{"1-1"}, res.Moved())
			assert.Equal(t, digestOf(t, img), tagDigest(t, reg, req.Repository+":1-1"))
			assert.NotContains(t, logs.String(), pass)

			tests := []struct {
				name string
				opt  publish.Option
			}{
				{"anonymous", publish.WithAnonymous()},
				{"wrong password", publish.WithBasicAuth(user, secret.New("wrong-"+pass))},
				{"empty keychain", publish.WithKeychain(emptyKeychain{})},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var logs testutil.SyncBuffer
					p := publish.NewRegistry(tt.opt, publish.WithPlainHTTP(), fastRetry,
						publish.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
					_, err := p.Publish(t.Context(), publish.Request{Repository: req.Repository, Image: testImage(t, 21), VersionTag: "1-2"})
					require.Error(t, err)
					assert.Contains(t, err.Error(), "401")
					assert.NotContains(t, err.Error(), pass)
					assert.NotContains(t, logs.String(), pass)
					assert.NotContains(t, fmt.Sprintf("%+v %#v", p, p), pass)
				})
			}
		})
	}
}

type emptyKeychain struct{}

func (emptyKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.Anonymous, nil
}

func TestRegistryPlainHTTPRefused(t *testing.T) {
	reg := regtest.InProcess(t)
	p := publish.NewRegistry(publish.WithAnonymous(), fastRetry)
	res, err := p.Publish(t.Context(), publish.Request{Repository: reg.Repo("a/b"), Image: testImage(t, 1), VersionTag: "1-1"})
	require.ErrorIs(t, err, publish.ErrPlainHTTP)
	assert.NotNil(t, res)
	assert.Empty(t, res.Moved())
}

func TestRegistryInvalidRequest(t *testing.T) {
	img := testImage(t, 1)
	idx := testIndex(t, 1)
	tests := []struct {
		name string
		req  publish.Request
	}{
		{"no content", publish.Request{Repository: "r.example/a", VersionTag: "1-1"}},
		{"both", publish.Request{Repository: "r.example/a", Image: img, Index: idx, VersionTag: "1-1"}},
		{"no version tag", publish.Request{Repository: "r.example/a", Image: img}},
		{"bad tag", publish.Request{Repository: "r.example/a", Image: img, VersionTag: "1-1", FloatingTags: []string{"bad tag"}}},
		{"header in tag", publish.Request{Repository: "r.example/a", Image: img, VersionTag: "1\r\nX: y"}},
		{"version tag floating", publish.Request{Repository: "r.example/a", Image: img, VersionTag: "1-1", FloatingTags: []string{"1-1"}}},
		{"bad repository", publish.Request{Repository: "UPPER/Case", Image: img, VersionTag: "1-1"}},
	}
	p := publish.NewRegistry(publish.WithAnonymous())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Publish(t.Context(), tt.req)
			require.ErrorIs(t, err, publish.ErrInvalidRequest)
		})
	}
}

func TestImmutableTagErrorIs(t *testing.T) {
	var err error = fmt.Errorf("wrapped: %w", &publish.ImmutableTagError{Ref: "r/a:1", Existing: "sha256:a", Want: "sha256:b"})
	assert.True(t, errors.Is(err, publish.ErrImmutableTag))
	assert.False(t, errors.Is(err, publish.ErrDigestMismatch))
	assert.True(t, errors.Is(&publish.DigestMismatchError{}, publish.ErrDigestMismatch))
}
