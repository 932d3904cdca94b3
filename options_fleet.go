package abs

import "time"

// Defaults of the plan-time source lookup and of failure mail.
const (
	// DefaultSourceTimeout bounds the lookup of one source's branch or
	// tag (git ls-remote) when a cycle plans.
	DefaultSourceTimeout = 30 * time.Second
	// DefaultFailureReminder is how long an owner who was told about a
	// failure hears nothing more of it while it stays the same.
	DefaultFailureReminder = 7 * 24 * time.Hour
)

// fleetSettings are the options of this file; the zero value means the
// defaults.
type fleetSettings struct {
	srcTimeout  time.Duration
	reminder    time.Duration
	reminderSet bool
}

// WithSourceTimeout bounds the lookup of each image source's branch or
// tag when a cycle plans (default DefaultSourceTimeout). A lookup that
// fails or times out is a warning of the image in the cycle's report; the
// image is planned on the commit seen last.
func WithSourceTimeout(d time.Duration) Option {
	return func(o *Orchestrator) { o.fleet.srcTimeout = d }
}

// WithFailureReminder sets how long an owner told about an image's failure
// (an unreadable image, a failed rebuild) is not told again while the
// failure stays the same (default DefaultFailureReminder). A different
// failure, or the same one after the image recovered, is told at once.
// Zero or less tells every failure every time.
func WithFailureReminder(d time.Duration) Option {
	return func(o *Orchestrator) { o.fleet.reminder, o.fleet.reminderSet = d, true }
}

func (o *Orchestrator) sourceTimeout() time.Duration {
	if o.fleet.srcTimeout <= 0 {
		return DefaultSourceTimeout
	}
	return o.fleet.srcTimeout
}

func (o *Orchestrator) failureReminder() time.Duration {
	if !o.fleet.reminderSet {
		return DefaultFailureReminder
	}
	return o.fleet.reminder
}
