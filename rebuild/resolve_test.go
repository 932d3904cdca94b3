package rebuild_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestResolveSSH lists a real SSH git server's references: a branch's tip
// follows a new commit, a tag and the remote HEAD resolve, a missing
// branch and an unknown host key are typed errors.
func TestResolveSSH(t *testing.T) {
	repo := gittest.NewRepo(t, map[string]string{"Containerfile": "FROM scratch\n"})
	first := repo.Head
	repo.Tag("v1", first)
	srv := gittest.StartSSH(t, repo.Dir)
	auth := rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	main := rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: auth}
	got, err := main.Resolve(ctx)
	require.NoError(t, err)
	assert.Equal(t, first, got)

	second := repo.Commit(map[string]string{"app.txt": "v2\n"})
	got, err = main.Resolve(ctx)
	require.NoError(t, err)
	assert.Equal(t, second, got, "the branch moved on")

	got, err = rebuild.GitSource{URL: srv.URL, Tag: "v1", Auth: auth}.Resolve(ctx)
	require.NoError(t, err)
	assert.Equal(t, first, got)
	got, err = rebuild.GitSource{URL: srv.URL, Auth: auth}.Resolve(ctx)
	require.NoError(t, err)
	assert.Equal(t, second, got, "the remote HEAD")
	got, err = rebuild.GitSource{URL: srv.URL, Commit: first, Auth: auth}.Resolve(ctx)
	require.NoError(t, err)
	assert.Equal(t, first, got, "a pinned commit needs no lookup")

	_, err = rebuild.GitSource{URL: srv.URL, Branch: "gone", Auth: auth}.Resolve(ctx)
	require.ErrorIs(t, err, rebuild.ErrRevisionNotFound)
	var fe *rebuild.FetchError
	require.ErrorAs(t, err, &fe)

	unknown := auth
	unknown.KnownHosts = []byte("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
	_, err = rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: unknown}.Resolve(ctx)
	require.ErrorIs(t, err, rebuild.ErrHostKeyUnknown)
	assert.NotContains(t, err.Error(), "PRIVATE KEY")
}

// BenchmarkResolveVsFetch compares what a cycle now spends per source as
// it plans (Resolve, ls-remote) with a shallow clone (Fetch), against the
// SSH server on loopback.
func BenchmarkResolveVsFetch(b *testing.B) {
	repo := gittest.NewRepo(b, map[string]string{"Containerfile": "FROM scratch\n", "app.txt": string(make([]byte, 64<<10))})
	srv := gittest.StartSSH(b, repo.Dir)
	src := rebuild.GitSource{URL: srv.URL, Branch: "main",
		Auth: rebuild.GitAuth{SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}}
	b.Run("resolve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Resolve(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fetch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Fetch(b.Context(), b.TempDir()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
