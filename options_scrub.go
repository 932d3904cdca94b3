package abs

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	sec "github.com/openabs/abs/secret"
)

// WithScrubber sets the scrubber that removes configured secrets (and
// their base64, Basic and PLAIN forms) from every error before it is
// logged, stored or mailed: the logger's records, the progress messages,
// the failures recorded in the state database and River's job errors, the
// reports and the notifications. A server that echoes a credential back
// in an error cannot make it leak. config.Open builds one from every
// secret it reads.
func WithScrubber(s *sec.Scrubber) Option { return func(o *Orchestrator) { o.scrub = s } }

// scrubErr returns err with the configured secrets scrubbed from its
// message (errors.Is and errors.As still see the original chain).
func (o *Orchestrator) scrubErr(err error) error { return o.scrub.ScrubError(err) }

// scrubText returns s with the configured secrets scrubbed.
func (o *Orchestrator) scrubText(s string) string { return o.scrub.Scrub(s) }

// scrubMiddleware scrubs the error a job returns before River records it
// in the job's row.
type scrubMiddleware struct {
	river.MiddlewareDefaults
	s *sec.Scrubber
}

var _ rivertype.WorkerMiddleware = (*scrubMiddleware)(nil)

func (m *scrubMiddleware) Work(ctx context.Context, _ *rivertype.JobRow, doInner func(context.Context) error) error {
	return m.s.ScrubError(doInner(ctx))
}
