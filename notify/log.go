package notify

import (
	"context"
	"log/slog"
)

// Log writes one structured log/slog record per event: failures and grade
// warnings at level Warn, the rest at Info. Use it alone in development or
// next to Email and Webhook in a Fanout for an audit trail.
type Log struct {
	logger *slog.Logger
}

var _ Notifier = (*Log)(nil)

// NewLog returns a notifier that logs to l (slog.Default() if nil).
func NewLog(l *slog.Logger) *Log {
	if l == nil {
		l = slog.Default()
	}
	return &Log{logger: l}
}

// Notify logs every event; it fails only when ctx is done.
func (n *Log) Notify(ctx context.Context, events []Event) error {
	for _, e := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		level := slog.LevelInfo
		attrs := []slog.Attr{
			slog.String("kind", string(e.Kind)),
			slog.String("image", e.Image),
		}
		if e.Owner != "" {
			attrs = append(attrs, slog.String("owner", e.Owner))
		}
		if !e.Time.IsZero() {
			attrs = append(attrs, slog.Time("event_time", e.Time))
		}
		switch {
		case e.Rebuilt != nil:
			r := e.Rebuilt
			attrs = append(attrs, slog.Group("rebuilt",
				slog.String("old_digest", r.OldDigest), slog.String("new_digest", r.NewDigest),
				slog.Any("tags", r.Tags), slog.Any("advisories", r.Advisories),
				slog.String("grade_before", r.GradeBefore), slog.String("grade_after", r.GradeAfter)))
		case e.Failure != nil:
			level = slog.LevelWarn
			attrs = append(attrs, slog.Group("failure", slog.String("stage", e.Failure.Stage), slog.String("cause", e.Failure.Cause)))
		case e.Skip != nil:
			attrs = append(attrs, slog.Group("skip", slog.String("reason", e.Skip.Reason)))
		case e.GradeDrop != nil:
			level = slog.LevelWarn
			g := e.GradeDrop
			attrs = append(attrs, slog.Group("grade_drop", slog.Time("at", g.At), slog.String("advisory", g.Advisory),
				slog.String("from", g.From), slog.String("to", g.To)))
		}
		n.logger.LogAttrs(ctx, level, "notify: "+string(e.Kind), attrs...)
	}
	return nil
}
