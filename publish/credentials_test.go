package publish_test

import (
	"errors"
	"fmt"
	"net/http"
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

// TestRefusedCredentialsEcho: a registry that echoes the login in its 401
// answer: the CredentialError's message quotes nothing of it.
func TestRefusedCredentialsEcho(t *testing.T) {
	echo := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, p, ok := r.BasicAuth(); ok {
				if r.Method == http.MethodHead || r.Method == http.MethodGet {
					w.WriteHeader(http.StatusNotFound) // no tag, no blob yet
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":"password %q refused"}]}`, p)
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
			w.WriteHeader(http.StatusUnauthorized)
		})
	}
	reg := regtest.InProcess(t, regtest.WithMiddleware(echo))
	pub := newPublisher(t, &regtest.Registry{Host: reg.Host, Username: "ci", Password: "echoed-S3cret"}, nil)
	_, err := pub.Publish(t.Context(), publish.Request{Repository: reg.Repo("team/app"), Image: testImage(t, 2), VersionTag: "1.0-1"})
	var ce *publish.CredentialError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 403, ce.Status)
	assert.NotContains(t, err.Error(), "echoed-S3cret")
	assert.Contains(t, ce.Err.Error(), "echoed-S3cret", "the registry's answer stays reachable through Unwrap")
}
