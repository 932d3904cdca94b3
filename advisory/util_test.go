package advisory

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

func cut(s, sep string) (string, string, bool) { return strings.Cut(s, sep) }

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

var errCanceled = context.Canceled

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
