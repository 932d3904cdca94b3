package testutil

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// PeakHeap runs f and returns the most heap its objects took while it
// ran, sampled every few milliseconds.
func PeakHeap(f func()) uint64 {
	// A low GC target keeps garbage from counting as held memory: with
	// the default 100%, the heap may hold twice what is live before a
	// collection, more so on a loaded machine where the collector lags.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	<-stopped
	return peak.Load()
}
