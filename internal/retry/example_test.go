package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openabs/abs/internal/retry"
)

func ExamplePolicy_Do() {
	p := retry.Policy{Attempts: 3, Initial: time.Millisecond, Max: 10 * time.Millisecond,
		OnRetry: func(attempt int, wait time.Duration, err error) {
			fmt.Printf("attempt %d failed (%v), waiting %v\n", attempt, err, wait)
		}}
	err := p.Do(context.Background(), func(attempt int) error {
		if attempt < 3 {
			return retry.Again(errors.New("503 Service Unavailable"), 0)
		}
		return nil
	})
	fmt.Println("done:", err)
	// Output:
	// attempt 1 failed (503 Service Unavailable), waiting 1ms
	// attempt 2 failed (503 Service Unavailable), waiting 2ms
	// done: <nil>
}
