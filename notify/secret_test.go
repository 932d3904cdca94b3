package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/secret"
)

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "hunter2-very-secret"
	s := secret.New(pw)
	assert.Equal(t, pw, s.Reveal())
	holder := struct {
		Exported   notify.Secret
		unexported notify.Secret
	}{s, s}
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", holder, holder, &holder),
		fmt.Sprintf("%+v", mustEmail(t, s)), fmt.Sprintf("%+v", mustWebhook(t, s)),
	} {
		assert.NotContains(t, out, pw)
		assert.NotContains(t, out, fmt.Sprintf("%x", pw))
	}
	js, err := json.Marshal(holder)
	assert.NoError(t, err)
	assert.NotContains(t, string(js), pw)

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s, "holder", holder)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", s)
	assert.NotContains(t, buf.String(), pw)
	assert.Contains(t, buf.String(), "[REDACTED]")

	assert.True(t, notify.Secret{}.IsZero())
	assert.Empty(t, notify.Secret{}.Reveal())
}

func mustEmail(t *testing.T, s notify.Secret) *notify.Email {
	n, err := notify.NewEmail(notify.EmailConfig{Host: "smtp.example.com", Username: "u", Password: s, From: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustWebhook(t *testing.T, s notify.Secret) *notify.Webhook {
	n, err := notify.NewWebhook("https://hooks.example.com/x", s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
