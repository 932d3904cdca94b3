package secret_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/secret"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"advisory":"RHSA-2026:0001"}`)
	key := secret.New("shared")
	mac := hmac.New(sha256.New, []byte("shared"))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	assert.Equal(t, want, secret.Sign(key, body))

	tests := []struct {
		name string
		key  secret.Value
		body []byte
		sig  string
		ok   bool
	}{
		{"valid", key, body, want, true},
		{"other body", key, []byte(`{}`), want, false},
		{"other key", secret.New("other"), body, want, false},
		{"no prefix", key, body, want[len("sha256="):], false},
		{"truncated", key, body, want[:20], false},
		{"empty signature", key, body, "", false},
		{"zero key", secret.Value{}, body, secret.Sign(secret.Value{}, body), false},
		{"empty key", secret.New(""), body, secret.Sign(secret.New(""), body), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.ok, secret.Verify(tc.key, tc.body, tc.sig))
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"advisory":"RHSA-2026:0001"}`), "sha256=00")
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		key := secret.New("k")
		if secret.Verify(key, body, sig) != (sig == secret.Sign(key, body)) {
			t.Fatalf("Verify disagrees with Sign for %q", sig)
		}
	})
}
