package rebuild_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestTrustOnFirstUse: the hook sees the first key of an unknown host,
// the recorded key is then enforced, and a server presenting another key
// under the same address is refused as a mismatch.
func TestTrustOnFirstUse(t *testing.T) {
	f := newGitFixture(t)
	srv := gittest.StartSSH(t, f.repo.Dir)
	var mu sync.Mutex
	var recorded []string
	hook := func(host, line string) error {
		mu.Lock()
		defer mu.Unlock()
		recorded = append(recorded, line)
		return nil
	}
	src := rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: rebuild.GitAuth{
		SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), TrustOnFirstUse: hook}}

	refs, err := src.LsRemote(t.Context())
	require.NoError(t, err)
	assert.Equal(t, f.second, refs["refs/heads/main"])
	require.Len(t, recorded, 1, "first use recorded")
	assert.Contains(t, recorded[0], strings.TrimPrefix(srv.URL, "ssh://git@")[:len("127.0.0.1")])

	// Next use: the recorded line is known; the hook is not called again.
	src.Auth.KnownHosts = []byte(recorded[0] + "\n")
	_, err = src.Fetch(t.Context(), t.TempDir())
	require.NoError(t, err)
	assert.Len(t, recorded, 1)

	// A host that presents a different key than the recorded one.
	other := gittest.StartSSH(t, f.repo.Dir)
	line := strings.Replace(recorded[0], hostOf(srv.URL), hostOf(other.URL), 1)
	src2 := src
	src2.URL = other.URL
	src2.Auth.SSHKey = secret.FromBytes(other.ClientKey.PrivatePEM)
	src2.Auth.KnownHosts = []byte(line + "\n")
	_, err = src2.LsRemote(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, rebuild.ErrHostKeyMismatch)
	assert.Len(t, recorded, 1, "a known host is never first use")

	// A hook that refuses: the fetch fails with its cause.
	refuse := errors.New("not on the allow list")
	src3 := rebuild.GitSource{URL: other.URL, Auth: rebuild.GitAuth{
		SSHKey:          secret.FromBytes(other.ClientKey.PrivatePEM),
		TrustOnFirstUse: func(string, string) error { return refuse }}}
	_, err = src3.LsRemote(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, rebuild.ErrHostKeyMismatch)
	assert.Contains(t, err.Error(), "not on the allow list")
}

// hostOf returns the "[host]:port" form of an ssh:// URL's address.
func hostOf(url string) string {
	addr := strings.TrimPrefix(url, "ssh://git@")
	addr = addr[:strings.IndexByte(addr, '/')]
	i := strings.LastIndexByte(addr, ':')
	return "[" + addr[:i] + "]" + addr[i:]
}
