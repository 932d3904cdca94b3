package abs

import (
	"github.com/riverqueue/river"
)

// Job kinds, as stored in River's job table.
const (
	KindCycle   = "abs_cycle"
	KindRebuild = "abs_rebuild"
	KindPublish = "abs_publish"
	KindNotify  = "abs_notify"
)

const maxAttempts = 8

// cycleArgs runs one pipeline cycle: sync, scan, grade, plan.
type cycleArgs struct {
	Cycle    string `json:"cycle" river:"unique"`
	Cause    string `json:"cause"`
	Advisory string `json:"advisory,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
}

func (cycleArgs) Kind() string { return KindCycle }

func (cycleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// rebuildArgs builds, rescans and verifies one image. Its id is the
// rebuild record's, which is unique per (image digest, advisories).
type rebuildArgs struct {
	Rebuild string `json:"rebuild" river:"unique"`
	Image   string `json:"image"`
}

func (rebuildArgs) Kind() string { return KindRebuild }

func (rebuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueBuild, MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// publishArgs publishes one verified rebuild.
type publishArgs struct {
	Rebuild string `json:"rebuild" river:"unique"`
	Image   string `json:"image"`
}

func (publishArgs) Kind() string { return KindPublish }

func (publishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// notifyArgs sends one owner the message of one cycle.
type notifyArgs struct {
	Notification string `json:"notification" river:"unique"`
	Cycle        string `json:"cycle"`
	Owner        string `json:"owner"`
}

func (notifyArgs) Kind() string { return KindNotify }

func (notifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
