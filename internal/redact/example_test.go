package redact_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/openabs/abs/internal/redact"
)

func ExampleSecret() {
	token := redact.New("ghp_example")
	fmt.Println(token)
	fmt.Printf("%+v %#v %q %x\n", token, token, token, token)
	js, _ := json.Marshal(map[string]redact.Secret{"token": token})
	fmt.Println(string(js))
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("cloning", "token", token)
	fmt.Println(token.Reveal())
	// Output:
	// [REDACTED]
	// [REDACTED] [REDACTED] [REDACTED] [REDACTED]
	// {"token":"[REDACTED]"}
	// level=INFO msg=cloning token=[REDACTED]
	// ghp_example
}
