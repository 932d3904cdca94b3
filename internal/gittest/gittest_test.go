package gittest_test

import (
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/skeema/knownhosts"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
)

func TestServers(t *testing.T) {
	repo := gittest.NewRepo(t, map[string]string{"a.txt": "a", "dir/b.txt": "b"})
	second := repo.Commit(map[string]string{"c.txt": "c"})
	require.Equal(t, second, repo.Head)

	t.Run("ssh", func(t *testing.T) {
		srv := gittest.StartSSH(t, repo.Dir)
		auth, err := gitssh.NewPublicKeys("git", srv.ClientKey.PrivatePEM, "")
		require.NoError(t, err)
		db, err := knownhosts.NewDB(gittest.WriteFile(t, "known_hosts", srv.KnownHosts))
		require.NoError(t, err)
		auth.HostKeyCallback = db.HostKeyCallback()
		auth.HostKeyAlgorithms = db.HostKeyAlgorithms(srv.Addr)
		r, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{URL: srv.URL, Auth: auth})
		require.NoError(t, err)
		head, err := r.Head()
		require.NoError(t, err)
		require.Equal(t, second, head.Hash().String())
	})
	t.Run("http", func(t *testing.T) {
		srv := gittest.StartHTTP(t, repo.Dir, gittest.WithToken("tok"))
		_, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{URL: srv.URL, CABundle: srv.CA})
		require.Error(t, err, "anonymous clone must be refused")
		r, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{
			URL: srv.URL, CABundle: srv.CA, Auth: &http.BasicAuth{Username: "x", Password: "tok"}, Depth: 1,
		})
		require.NoError(t, err)
		head, err := r.Head()
		require.NoError(t, err)
		require.Equal(t, second, head.Hash().String())
	})
}
