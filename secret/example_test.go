package secret_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/openabs/abs/secret"
)

func ExampleValue() {
	token := secret.New("ghp_example")
	fmt.Println(token)
	fmt.Printf("%+v %#v %q %x\n", token, token, token, token)
	js, _ := json.Marshal(map[string]secret.Value{"token": token})
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

func ExampleSign() {
	key := secret.New("shared")
	body := []byte(`{"advisory":"RHSA-2026:0001"}`)
	sig := secret.Sign(key, body)
	fmt.Println(secret.SignatureHeader)
	fmt.Println(secret.Verify(key, body, sig), secret.Verify(key, []byte(`{}`), sig))
	// Output:
	// X-Openabs-Signature-256
	// true false
}

func ExampleScrubber() {
	s := secret.NewScrubber("catalog-key")
	s.AddBasic("robot", "hunter2")
	err := errors.New("401 from registry: Basic cm9ib3Q6aHVudGVyMg== rejected, key catalog-key")
	fmt.Println(s.ScrubError(err))
	// Output:
	// 401 from registry: Basic [REDACTED] rejected, key [REDACTED]
}
