package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Notifier tells image owners what happened. It is the extension point of
// this package: Email, Webhook and Log implement it, Fanout combines
// several, and Func adapts a function.
//
// Notify receives every event of one run at once, so that an
// implementation can batch (Email sends one message per owner per run).
// An empty batch sends nothing. Implementations must not put secrets in
// the errors they return.
type Notifier interface {
	Notify(ctx context.Context, events []Event) error
}

// Func adapts a function to a Notifier.
type Func func(ctx context.Context, events []Event) error

var _ Notifier = Func(nil)

// Notify calls f.
func (f Func) Notify(ctx context.Context, events []Event) error { return f(ctx, events) }

// Fanout sends each batch to every notifier in it, concurrently, and
// returns every failure joined (errors.Join), each prefixed with the
// failing notifier's position and type. One notifier failing does not stop
// the others.
type Fanout []Notifier

var _ Notifier = Fanout(nil)

// Notify sends events to every notifier and waits for all of them.
func (f Fanout) Notify(ctx context.Context, events []Event) error {
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, n := range f {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("notify: notifier %d (%T) panicked: %v", i, n, r)
				}
			}()
			if err := n.Notify(ctx, events); err != nil {
				errs[i] = fmt.Errorf("notify: notifier %d (%T): %w", i, n, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
