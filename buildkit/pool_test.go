package buildkit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/buildkit"
)

// fakeHealth is a health check whose answers the test sets per address.
type fakeHealth struct {
	mu    sync.Mutex
	down  map[string]bool
	calls map[string]int
}

func (f *fakeHealth) check(_ context.Context, addr string, _ *client.Client) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[addr]++
	if f.down[addr] {
		return errors.New("connection refused")
	}
	return nil
}

func (f *fakeHealth) set(addr string, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[addr] = down
}

func fakePool(t *testing.T, ds []buildkit.Daemon, opts ...buildkit.Option) (*buildkit.Pool, *fakeHealth) {
	t.Helper()
	f := &fakeHealth{down: map[string]bool{}, calls: map[string]int{}}
	p, err := buildkit.NewPool(ds, append([]buildkit.Option{buildkit.WithHealthCheck(f.check)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p, f
}

const (
	addrA = "unix:///tmp/openabs-test-a.sock"
	addrB = "unix:///tmp/openabs-test-b.sock"
)

func TestNewPoolRejects(t *testing.T) {
	for name, ds := range map[string][]buildkit.Daemon{
		"none":      nil,
		"empty":     {{}},
		"scheme":    {{Address: "http://x:1"}},
		"duplicate": {{Address: addrA}, {Address: addrA}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := buildkit.NewPool(ds)
			assert.Error(t, err)
		})
	}
}

func TestPoolWaitsForSlot(t *testing.T) {
	p, _ := fakePool(t, []buildkit.Daemon{{Address: addrA, MaxBuilds: 1}})
	l1, err := p.Acquire(t.Context())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = p.Acquire(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the only slot is taken")

	got := make(chan *buildkit.Lease)
	go func() {
		l, err := p.Acquire(t.Context())
		assert.NoError(t, err)
		got <- l
	}()
	l1.Release()
	l1.Release() // twice is harmless
	l2 := <-got
	assert.Equal(t, addrA, l2.Address())
	assert.Equal(t, 1, p.Status()[0].InFlight)
	l2.Release()
	assert.Equal(t, 0, p.Status()[0].InFlight)
}

func TestPoolNoHealthyDaemon(t *testing.T) {
	p, f := fakePool(t, []buildkit.Daemon{{Address: addrA}, {Address: addrB}})
	f.set(addrA, true)
	f.set(addrB, true)
	_, err := p.Acquire(t.Context())
	require.ErrorIs(t, err, buildkit.ErrNoDaemon)
	assert.Contains(t, err.Error(), "connection refused")

	f.set(addrB, false)
	_, err = p.Acquire(t.Context(), addrB)
	require.ErrorIs(t, err, buildkit.ErrNoDaemon, "the only healthy daemon is excluded")
}

func TestPoolHealthInterval(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p, f := fakePool(t, []buildkit.Daemon{{Address: addrA, MaxBuilds: 8}}, buildkit.WithClock(clock), buildkit.WithHealthInterval(time.Minute))
	for range 3 {
		l, err := p.Acquire(t.Context())
		require.NoError(t, err)
		l.Release()
	}
	assert.Equal(t, 1, f.calls[addrA], "one check per interval")

	f.set(addrA, true)
	l, err := p.Acquire(t.Context())
	require.NoError(t, err, "the healthy result is trusted until the interval ends")
	l.Release()
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	_, err = p.Acquire(t.Context())
	require.ErrorIs(t, err, buildkit.ErrNoDaemon)

	f.set(addrA, false)
	_, err = p.Acquire(t.Context())
	require.ErrorIs(t, err, buildkit.ErrNoDaemon, "down until the next interval")
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	l, err = p.Acquire(t.Context())
	require.NoError(t, err, "back after a passing check")
	l.Release()
}

// TestPoolLimits runs many concurrent leases and checks that no daemon
// ever exceeds its MaxBuilds and that the load spreads.
func TestPoolLimits(t *testing.T) {
	p, _ := fakePool(t, []buildkit.Daemon{{Address: addrA, MaxBuilds: 2}, {Address: addrB, MaxBuilds: 3}})
	var (
		cur  [2]atomic.Int32
		peak [2]atomic.Int32
		wg   sync.WaitGroup
	)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := p.Acquire(t.Context())
			if !assert.NoError(t, err) {
				return
			}
			i := 0
			if l.Address() == addrB {
				i = 1
			}
			n := cur[i].Add(1)
			for {
				old := peak[i].Load()
				if n <= old || peak[i].CompareAndSwap(old, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			cur[i].Add(-1)
			l.Release()
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, peak[0].Load(), int32(2))
	assert.LessOrEqual(t, peak[1].Load(), int32(3))
	st := p.Status()
	assert.Equal(t, 40, st[0].Builds+st[1].Builds)
	assert.Positive(t, st[0].Builds)
	assert.Positive(t, st[1].Builds)
}

func TestPoolClosed(t *testing.T) {
	p, _ := fakePool(t, []buildkit.Daemon{{Address: addrA}})
	require.NoError(t, p.Close())
	_, err := p.Acquire(t.Context())
	require.ErrorIs(t, err, buildkit.ErrClosed)
}
