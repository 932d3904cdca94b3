package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/notify"
)

func TestFanoutReportsEveryFailure(t *testing.T) {
	errA, errB := errors.New("smtp down"), errors.New("hook down")
	var calls atomic.Int32
	ok := notify.Func(func(context.Context, []notify.Event) error { calls.Add(1); return nil })
	f := notify.Fanout{
		notify.Func(func(context.Context, []notify.Event) error { calls.Add(1); return errA }),
		ok,
		notify.Func(func(context.Context, []notify.Event) error { calls.Add(1); return errB }),
		notify.Func(func(context.Context, []notify.Event) error { calls.Add(1); panic("boom") }),
		ok,
	}
	err := f.Notify(t.Context(), sampleEvents())
	require.Error(t, err)
	assert.ErrorIs(t, err, errA)
	assert.ErrorIs(t, err, errB)
	assert.Contains(t, err.Error(), "notifier 0")
	assert.Contains(t, err.Error(), "notifier 2")
	assert.Contains(t, err.Error(), "notifier 3 (notify.Func) panicked: boom")
	assert.EqualValues(t, 5, calls.Load())

	require.NoError(t, notify.Fanout{ok, ok}.Notify(t.Context(), nil))
	require.NoError(t, notify.Fanout{}.Notify(t.Context(), sampleEvents()))
}

func TestLogNotifier(t *testing.T) {
	var buf bytes.Buffer
	n := notify.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, n.Notify(t.Context(), sampleEvents()))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 4)
	var recs []map[string]any
	for _, l := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec))
		recs = append(recs, rec)
	}
	assert.Equal(t, "INFO", recs[0]["level"])
	assert.Equal(t, "rebuilt", recs[0]["kind"])
	assert.Equal(t, "sha256:2222222222222222bbbb", recs[0]["rebuilt"].(map[string]any)["new_digest"])
	assert.Equal(t, "WARN", recs[1]["level"])
	assert.Equal(t, "build", recs[1]["failure"].(map[string]any)["stage"])
	assert.Equal(t, "WARN", recs[2]["level"])
	assert.Equal(t, "RHSA-2026:0003", recs[2]["grade_drop"].(map[string]any)["advisory"])
	assert.Equal(t, "re-scan found no improvement", recs[3]["skip"].(map[string]any)["reason"])

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, n.Notify(ctx, sampleEvents()), context.Canceled)
}

func TestEventValidate(t *testing.T) {
	tests := []struct {
		name string
		e    notify.Event
		ok   bool
	}{
		{"rebuilt", notify.Event{Kind: notify.KindRebuilt, Image: "a", Rebuilt: &notify.Rebuilt{}}, true},
		{"failed", notify.Event{Kind: notify.KindRebuildFailed, Image: "a", Failure: &notify.Failure{}}, true},
		{"skipped", notify.Event{Kind: notify.KindPublishSkipped, Image: "a", Skip: &notify.Skip{}}, true},
		{"grade", notify.Event{Kind: notify.KindGradeDropping, Image: "a", GradeDrop: &notify.GradeDrop{}}, true},
		{"no image", notify.Event{Kind: notify.KindRebuilt, Rebuilt: &notify.Rebuilt{}}, false},
		{"no details", notify.Event{Kind: notify.KindRebuilt, Image: "a"}, false},
		{"wrong details", notify.Event{Kind: notify.KindRebuilt, Image: "a", Skip: &notify.Skip{}}, false},
		{"unknown kind", notify.Event{Kind: "x", Image: "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate()
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, notify.ErrInvalidEvent)
			}
		})
	}
}
