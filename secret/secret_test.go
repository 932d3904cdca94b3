package secret_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/secret"
)

const value = "hunter2-very-secret"

// assertNoLeak fails when out holds value as is or in hex (%x, %X).
func assertNoLeak(t *testing.T, out string) {
	t.Helper()
	for _, form := range []string{value, hex.EncodeToString([]byte(value)), strings.ToUpper(hex.EncodeToString([]byte(value)))} {
		assert.NotContains(t, out, form)
	}
}

func TestSecretEveryVerb(t *testing.T) {
	s := secret.New(value)
	tests := []struct {
		format string
		want   string
	}{
		{"%v", secret.Placeholder},
		{"%+v", secret.Placeholder},
		{"%#v", secret.Placeholder},
		{"%s", secret.Placeholder},
		{"%q", secret.Placeholder},
		{"%x", secret.Placeholder},
		{"%X", secret.Placeholder},
		{"% x", secret.Placeholder},
		{"%d", secret.Placeholder},
		{"%10s", secret.Placeholder},
		{"%-30v|", secret.Placeholder + "|"},
		{"%.3s", secret.Placeholder},
		{"%t", secret.Placeholder},
		{"%p", ""}, // fmt handles %p itself: it prints the pointer, not the value
		{"%T", "secret.Value"},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			out := fmt.Sprintf(tc.format, s)
			if tc.want != "" {
				assert.Equal(t, tc.want, out)
			}
			assertNoLeak(t, out)
		})
	}
	assert.Equal(t, secret.Placeholder, s.String())
	assert.Equal(t, secret.Placeholder, s.GoString())
	assert.Equal(t, secret.Placeholder, fmt.Sprint(s))
	assert.Equal(t, secret.Placeholder+"\n", fmt.Sprintln(s))
}

func TestSecretInsideValues(t *testing.T) {
	s := secret.New(value)
	type holder struct {
		Exported   secret.Value
		unexported secret.Value
		Ptr        *secret.Value
	}
	h := holder{s, s, &s}
	values := map[string]any{
		"struct":         h,
		"pointer":        &h,
		"slice":          []secret.Value{s, s},
		"map":            map[string]secret.Value{"k": s},
		"map key":        map[secret.Value]int{s: 1},
		"any":            []any{s, &s},
		"nested pointer": struct{ p **secret.Value }{p: new(&s)},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
				assertNoLeak(t, fmt.Sprintf(format, v))
			}
		})
	}
}

func TestSecretLogs(t *testing.T) {
	s := secret.New(value)
	holder := struct {
		Exported   secret.Value
		unexported secret.Value
	}{s, s}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("msg", "secret", s, "ptr", &s, "holder", holder)
		l.Info("msg", slog.Any("secret", s), slog.Group("g", "secret", s))
		l.With("secret", s).Info("msg")
		l.Info(fmt.Sprint(s))
	}
	out := buf.String()
	assertNoLeak(t, out)
	assert.Contains(t, out, `"secret":"`+secret.Placeholder+`"`)
	assert.Contains(t, out, "secret="+secret.Placeholder)
}

func TestSecretJSON(t *testing.T) {
	s := secret.New(value)
	type config struct {
		Token    secret.Value
		Optional secret.Value `json:",omitzero"`
		Ptr      *secret.Value
	}
	out, err := json.Marshal(config{Token: s, Ptr: &s})
	require.NoError(t, err)
	assert.JSONEq(t, `{"Token":"[REDACTED]","Ptr":"[REDACTED]"}`, string(out))

	out, err = json.Marshal(map[string]any{"s": s})
	require.NoError(t, err)
	assertNoLeak(t, string(out))

	// Configuration can carry a secret in, never out.
	var cfg config
	require.NoError(t, json.Unmarshal([]byte(`{"Token":"`+value+`"}`), &cfg))
	assert.Equal(t, value, cfg.Token.Reveal())
	assert.True(t, cfg.Optional.IsZero())

	text, err := s.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, secret.Placeholder, string(text))
}

func TestSecretInErrors(t *testing.T) {
	s := secret.New(value)
	base := fmt.Errorf("login with %v: %w", s, fs.ErrPermission)
	errs := []error{
		base,
		fmt.Errorf("outer %q: %w", s, base),
		errors.Join(base, fmt.Errorf("%+v %#v %x", s, s, s)),
		fmt.Errorf("%w", &fs.PathError{Op: "open", Path: s.String(), Err: fs.ErrNotExist}),
	}
	for _, err := range errs {
		assertNoLeak(t, err.Error())
		assertNoLeak(t, fmt.Sprintf("%v %+v %#v", err, err, err))
	}
	assert.ErrorIs(t, errs[1], fs.ErrPermission)
}

func TestSecretValue(t *testing.T) {
	s := secret.New(value)
	assert.Equal(t, value, s.Reveal())
	assert.False(t, s.IsZero())
	assert.True(t, secret.Value{}.IsZero())
	assert.Empty(t, secret.Value{}.Reveal())
	assert.True(t, secret.New("").IsZero())
	assert.Equal(t, secret.Placeholder, secret.Value{}.String())

	var u secret.Value
	require.NoError(t, u.UnmarshalText([]byte(value)))
	assert.Equal(t, value, u.Reveal())
}

func FuzzSecretNeverPrints(f *testing.F) {
	for _, seed := range []string{value, "ghp_abc123", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n", "p@ss w0rd\"'`"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if len(v) < 4 || strings.Contains(secret.Placeholder+"secret.Value", v) {
			t.Skip("too short to tell from the placeholder")
		}
		s := secret.New(v)
		js, err := json.Marshal(struct{ S secret.Value }{s})
		require.NoError(t, err)
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "s", s)
		out := fmt.Sprintf("%v %+v %#v %s %q %x %X %v", s, s, s, s, s, s, s, struct{ s secret.Value }{s}) + string(js) + buf.String()
		if strings.Contains(out, v) {
			t.Fatalf("value %q printed in %q", v, out)
		}
		if s.Reveal() != v {
			t.Fatalf("Reveal = %q, want %q", s.Reveal(), v)
		}
	})
}
