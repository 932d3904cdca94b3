package publish

import (
	"github.com/openabs/abs/internal/retry"

	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retry runs f until it succeeds, fails permanently, or the attempts are
// used up.
func (r *Registry) retry(ctx context.Context, op string, f func() error) error {
	p := r.policy
	p.OnRetry = func(attempt int, wait time.Duration, err error) {
		r.logger.LogAttrs(ctx, slog.LevelWarn, "publish: transient failure, retrying",
			slog.String("op", op), slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", err.Error()))
	}
	return p.Do(ctx, func(int) error {
		err := f()
		if err != nil && transient(err) {
			return retry.Again(err, 0)
		}
		return err
	})
}

// transient reports whether err is worth retrying: connection failures,
// timeouts and 408, 429 and 5xx answers.
func transient(err error) bool {
	if errors.Is(err, ErrPlainHTTP) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return terr.Temporary()
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
