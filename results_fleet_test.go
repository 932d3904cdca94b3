package abs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	abs "github.com/openabs/abs"
)

// TestSummaryNotifications: the summary counts delivered, undelivered and
// pending messages apart; a message sent with no event delivered nothing.
func TestSummaryNotifications(t *testing.T) {
	rep := &abs.Report{Notifications: []abs.NotificationReport{
		{Owner: "a", State: abs.NotificationSent, Events: 2},
		{Owner: "b", State: abs.NotificationSent},
		{Owner: "c", State: abs.NotificationFailed, Error: "dial tcp: connection refused"},
		{Owner: "d", State: abs.NotificationPending},
		{Owner: "e", State: abs.NotificationSending},
		{Owner: "f", State: abs.NotificationFailed, Cycle: "cycle-1"},
	}}
	s := rep.Summary()
	assert.Equal(t, 1, s.Notifications)
	assert.Equal(t, 2, s.NotificationsFailed)
	assert.Equal(t, 2, s.NotificationsPending)
}
