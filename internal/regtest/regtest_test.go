package regtest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
)

func TestRegistries(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...regtest.Option) *regtest.Registry{
		"inprocess":    regtest.InProcess,
		"distribution": regtest.Distribution,
	} {
		t.Run(name, func(t *testing.T) {
			anon := start(t)
			resp, err := http.Get(anon.URL + "/v2/")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			auth := start(t, regtest.WithBasicAuth("u", "p"))
			resp, err = http.Get(auth.URL + "/v2/")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

			req, err := http.NewRequest(http.MethodGet, auth.URL+"/v2/", nil)
			require.NoError(t, err)
			req.SetBasicAuth("u", "p")
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, auth.Host+"/x/y", auth.Repo("x/y"))
		})
	}
}
