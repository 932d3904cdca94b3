package advisory

import "sync"

// Progress says how far a feed sync has come: Done documents read of Total.
// Total is 0 while a full archive is being streamed, when the count is not
// known in advance.
type Progress struct {
	Source string
	Done   int
	Total  int
}

// progressEvery is how many documents pass between two progress reports.
const progressEvery = 1000

// WithProgress makes a CSAF feed report its progress to f while it reads
// documents: every 1,000 documents and once at the end of each read. f is
// never called concurrently, and should return quickly.
func WithProgress(f func(Progress)) Option {
	return func(cfg *config) { cfg.progress = f }
}

// meter counts documents for one read and reports to f.
type meter struct {
	f     func(Progress)
	src   string
	total int
	mu    sync.Mutex
	done  int
}

func newMeter(f func(Progress), src string, total int) *meter {
	return &meter{f: f, src: src, total: total}
}

// step counts one document; safe for concurrent use.
func (m *meter) step() {
	if m == nil || m.f == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done++
	if m.done%progressEvery == 0 {
		m.f(Progress{Source: m.src, Done: m.done, Total: m.total})
	}
}

// finish reports the final count unless step just did.
func (m *meter) finish() {
	if m == nil || m.f == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done%progressEvery != 0 || m.done == 0 {
		m.f(Progress{Source: m.src, Done: m.done, Total: m.total})
	}
}
