package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/config"
)

// TestFailureReminderKey: notify.failure_reminder is read, and a value that
// is not a duration is refused with the key named.
func TestFailureReminderKey(t *testing.T) {
	f, err := config.Load(write(t, "notify: {failure_reminder: 24h}\nprojects: [{name: p}]\n"))
	require.NoError(t, err)
	assert.Equal(t, "24h", f.Notify.FailureReminder)
	_, err = config.Load(write(t, "notify: {failure_reminder: weekly}\nprojects: [{name: p}]\n"))
	require.ErrorIs(t, err, abs.ErrConfig)
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "notify.failure_reminder", ce.Key)
}
