package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
)

// TestJobsKeys: jobs.timeout and jobs.rescue_after are read, and a rescue
// delay shorter than the timeout is refused with the key named.
func TestJobsKeys(t *testing.T) {
	f, err := config.Load(write(t, "jobs: {timeout: 5m, rescue_after: 7m}\nprojects: [{name: p}]\n"))
	require.NoError(t, err)
	assert.Equal(t, "5m", f.Jobs.Timeout)
	assert.Equal(t, "7m", f.Jobs.RescueAfter)
	for _, tc := range []struct{ body, key string }{
		{"jobs: {timeout: 30m, rescue_after: 10m}\nprojects: [{name: p}]\n", "jobs.rescue_after"},
		{"jobs: {timeout: 30m}\nprojects: [{name: p}]\n", ""}, // rescue follows the timeout
		{"jobs: {timeout: soon}\nprojects: [{name: p}]\n", "jobs.timeout"},
	} {
		_, err := config.Load(write(t, tc.body))
		if tc.key == "" {
			assert.NoError(t, err, tc.body)
			continue
		}
		require.ErrorIs(t, err, abs.ErrConfig, tc.body)
		var ce *config.Error
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, tc.key, ce.Key)
	}
}
