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

// ExampleKey encrypts a credential for storage and decrypts it, during a
// rotation: the new identity encrypts, the old one still decrypts.
func ExampleKey() {
	old, _ := secret.GenerateKey()
	stored, _ := old.Encrypt(secret.New("ghp_example-token"))

	next, _ := secret.GenerateKey()
	rotating := next.With(old) // key file: the new identity first, the old one after
	v, current, _ := rotating.Decrypt(stored)
	fmt.Println(v, current) // a Value prints as a placeholder
	if !current {
		stored, _ = rotating.Encrypt(v) // re-encrypt with the new identity
	}
	_, current, _ = next.Decrypt(stored)
	fmt.Println(current)
	// Output:
	// [REDACTED] false
	// true
}
