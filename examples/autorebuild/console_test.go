package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
)

// TestDemoConsole runs the demo with its web console, signs in with the
// printed token and finds the demo's rebuild on the pages.
func TestDemoConsole(t *testing.T) {
	var out bytes.Buffer
	var fleet, image string
	_, err := demoCycle(t.Context(), demoOptions{
		Serve: func(ctx context.Context, o *abs.Orchestrator, _ *demoResult) error {
			consoleURL, stop, err := demoConsole(ctx, o, "127.0.0.1:0", &out)
			require.NoError(t, err)
			defer stop()
			m := regexp.MustCompile(`web console: (\S+)  \(sign in with token (\S+),`).FindStringSubmatch(out.String())
			require.NotNil(t, m, out.String())
			require.Equal(t, consoleURL, m[1])
			jar, err := cookiejar.New(nil)
			require.NoError(t, err)
			c := &http.Client{Jar: jar}
			get := func(resp *http.Response, err error) string {
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return string(b)
			}
			fleet = get(c.PostForm(m[1]+"signin", url.Values{"token": {m[2]}}))
			image = get(c.Get(m[1] + "images/demo/app"))
			return nil
		}})
	require.NoError(t, err)
	assert.Regexp(t, `data-image="demo/app"[\s\S]*?data-grade="A"[\s\S]*?published`, fleet)
	assert.Contains(t, image, `data-grade="A"`)
	assert.Regexp(t, `Rebuild history[\s\S]*published[\s\S]*C → A`, image)
	assert.False(t, strings.Contains(image, "Never rebuilt"))
}
