package rebuild_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// TestFetchOpenSSH fetches from OpenSSH's sshd (three host keys:
// ed25519, ecdsa, rsa) the way a real git host is reached: known_hosts
// holding only one of the server's keys (the client must ask for that
// key's algorithm), a hashed known_hosts line, an unknown and a changed
// host key, and a key the server does not accept.
func TestFetchOpenSSH(t *testing.T) {
	f := newGitFixture(t)
	srv := gittest.StartOpenSSH(t, f.repo.Dir)
	require.Len(t, srv.HostKeys, 3)
	other := gittest.NewKey(t)
	key := secret.FromBytes(srv.ClientKey.PrivatePEM)

	hashed := gittest.WriteFile(t, "known_hosts", srv.KnownHostsLine("ssh-ed25519"))
	_, keygen := gittest.RequireOpenSSH(t)
	out, err := exec.Command(keygen, "-H", "-f", hashed).CombinedOutput()
	require.NoError(t, err, "%s", out)
	hashedLine, err := os.ReadFile(hashed)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(hashedLine), "|1|"), "ssh-keygen -H hashed the host: %s", hashedLine)
	require.NotContains(t, string(hashedLine), "127.0.0.1")

	// The server's address with a key it does not have.
	changed := []byte("[127.0.0.1]:" + strings.Split(srv.Addr, ":")[1] + " " + string(gossh.MarshalAuthorizedKey(other.Public)))

	tests := []struct {
		name    string
		auth    rebuild.GitAuth
		wantErr error
	}{
		{name: "all three host keys", auth: rebuild.GitAuth{SSHKey: key, KnownHosts: srv.KnownHosts}},
		{name: "only the ed25519 key", auth: rebuild.GitAuth{SSHKey: key, KnownHosts: srv.KnownHostsLine("ssh-ed25519")}},
		{name: "only the rsa key", auth: rebuild.GitAuth{SSHKey: key, KnownHosts: srv.KnownHostsLine("ssh-rsa")}},
		{name: "only the ecdsa key", auth: rebuild.GitAuth{SSHKey: key, KnownHosts: srv.KnownHostsLine("ecdsa-sha2-nistp256")}},
		{name: "hashed known_hosts file", auth: rebuild.GitAuth{SSHKey: key, KnownHostsFile: hashed}},
		{name: "host key unknown", wantErr: rebuild.ErrHostKeyUnknown,
			auth: rebuild.GitAuth{SSHKey: key, KnownHosts: []byte("[127.0.0.1]:1 " + string(srv.KnownHostsLine("ssh-ed25519")[strings.Index(string(srv.KnownHostsLine("ssh-ed25519")), " ")+1:]))}},
		{name: "host key changed", wantErr: rebuild.ErrHostKeyMismatch, auth: rebuild.GitAuth{SSHKey: key, KnownHosts: changed}},
		{name: "wrong user key", wantErr: rebuild.ErrAuth,
			auth: rebuild.GitAuth{SSHKey: secret.FromBytes(other.PrivatePEM), KnownHosts: srv.KnownHosts}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: tc.auth}
			co, err := src.Fetch(t.Context(), t.TempDir())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr, "sshd log:\n%s", srv.Log())
				var fe *rebuild.FetchError
				require.ErrorAs(t, err, &fe)
				assertNoSecret(t, err.Error(), string(srv.ClientKey.PrivatePEM), string(other.PrivatePEM))
				t.Logf("error: %v", err)
				return
			}
			require.NoError(t, err, "sshd log:\n%s", srv.Log())
			assert.Equal(t, f.second, co.Commit)
			assert.FileExists(t, co.Containerfile)
		})
	}
	assert.Contains(t, srv.Log(), "Accepted publickey for "+srv.User, "the fetches went through sshd")
}
