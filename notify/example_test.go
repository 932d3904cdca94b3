package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/secret"
)

// A receiver checks a webhook's SignatureHeader with secret.Verify.
func Example_verify() {
	body := []byte(`{"events":[]}`)
	sig := secret.Sign(secret.New("k"), body)
	fmt.Println(sig)
	fmt.Println(secret.Verify(secret.New("k"), body, sig))
	// Output:
	// sha256=fb3a9d128c223c4de382139ee19dee144cc857647203b940b2bf3a1a5ab0cffc
	// true
}

func ExampleLog() {
	// Drop the time so that the output is stable.
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}})
	n := notify.NewLog(slog.New(h))
	_ = n.Notify(context.Background(), []notify.Event{
		{Kind: notify.KindRebuildFailed, Image: "registry.example.com/team/app", Owner: "team@example.com",
			Failure: &notify.Failure{Stage: "build", Cause: "exit status 1"}},
		{Kind: notify.KindGradeDropping, Image: "registry.example.com/team/db",
			GradeDrop: &notify.GradeDrop{At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Advisory: "RHSA-2026:0003", From: "B", To: "C"}},
	})
	// Output:
	// level=WARN msg="notify: rebuild_failed" kind=rebuild_failed image=registry.example.com/team/app owner=team@example.com failure.stage=build failure.cause="exit status 1"
	// level=WARN msg="notify: grade_dropping" kind=grade_dropping image=registry.example.com/team/db grade_drop.at=2026-12-01T00:00:00.000Z grade_drop.advisory=RHSA-2026:0003 grade_drop.from=B grade_drop.to=C
}

func ExampleFanout() {
	printer := notify.Func(func(_ context.Context, events []notify.Event) error {
		fmt.Println(len(events), "events")
		return nil
	})
	failing := notify.Func(func(context.Context, []notify.Event) error { return fmt.Errorf("smtp down") })
	err := notify.Fanout{printer, failing}.Notify(context.Background(), []notify.Event{
		{Kind: notify.KindPublishSkipped, Image: "app", Skip: &notify.Skip{Reason: "no improvement"}},
	})
	fmt.Println(err)
	// Output:
	// 1 events
	// notify: notifier 1 (notify.Func): smtp down
}
