package publish_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/secret"
)

// TestRefusedCredentials: Debian's docker-registry with htpasswd refuses a
// wrong password; Publish fails with a *CredentialError naming the host,
// tries once (no transient retries), never prints the password, and the
// right password publishes. The credential fingerprint changes with the
// password and does not contain it.
func TestRefusedCredentials(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			reg := b.start(t, regtest.WithBasicAuth("ci", "right-password"))
			var logs testutil.SyncBuffer
			wrong := newPublisher(t, &regtest.Registry{Host: reg.Host, Username: "ci", Password: "wrong-password"}, &logs)
			req := publish.Request{Repository: reg.Repo("team/app"), Image: testImage(t, 1), VersionTag: "1.0-1"}
			_, err := wrong.Publish(t.Context(), req)
			require.Error(t, err)
			require.ErrorIs(t, err, publish.ErrCredentials)
			var ce *publish.CredentialError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, reg.Host, ce.Host)
			assert.Equal(t, 401, ce.Status)
			assert.Equal(t, "publish: registry refused credentials for "+reg.Host+" (HTTP 401 Unauthorized)", err.Error())
			assert.NotContains(t, logs.String(), "transient failure", "a refusal is not retried")
			assert.NotContains(t, err.Error()+logs.String(), "wrong-password")

			right := newPublisher(t, reg, nil)
			_, err = right.Publish(t.Context(), req)
			require.NoError(t, err)

			fpWrong, err := wrong.CredentialFingerprint(t.Context(), reg.Host)
			require.NoError(t, err)
			fpRight, err := right.CredentialFingerprint(t.Context(), reg.Host)
			require.NoError(t, err)
			assert.NotEqual(t, fpWrong, fpRight)
			again, err := publish.NewRegistry(publish.WithBasicAuth("ci", secret.New("right-password"))).CredentialFingerprint(t.Context(), reg.Host)
			require.NoError(t, err)
			assert.Equal(t, fpRight, again, "the same credentials give the same fingerprint")
			assert.NotContains(t, fpRight, "right-password")
		})
	}
}
