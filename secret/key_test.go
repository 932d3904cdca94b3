package secret_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/openabs/abs/secret"
)

func TestKeyRoundTripAndRotation(t *testing.T) {
	old, err := secret.GenerateKey()
	require.NoError(t, err)
	ct, err := old.Encrypt(secret.New("s3cret token value"))
	require.NoError(t, err)
	assert.NotContains(t, ct, "s3cret")
	v, current, err := old.Decrypt(ct)
	require.NoError(t, err)
	assert.Equal(t, "s3cret token value", v.Reveal())
	assert.True(t, current)

	next, err := secret.GenerateKey()
	require.NoError(t, err)
	_, _, err = next.Decrypt(ct)
	require.ErrorIs(t, err, secret.ErrDecrypt, "another identity does not open it")

	rot := next.With(old)
	v, current, err = rot.Decrypt(ct)
	require.NoError(t, err)
	assert.Equal(t, "s3cret token value", v.Reveal())
	assert.False(t, current, "opened by the old identity: to re-encrypt")
	ct2, err := rot.Encrypt(v)
	require.NoError(t, err)
	_, current, err = next.Decrypt(ct2)
	require.NoError(t, err)
	assert.True(t, current, "encrypted with the new identity")
	assert.Equal(t, next.Recipient(), rot.Recipient())

	for _, bad := range []string{"", "!!!", "YWdlIGZha2U="} {
		_, _, err := old.Decrypt(bad)
		assert.ErrorIs(t, err, secret.ErrDecrypt, bad)
	}
	var zero secret.Key
	_, err = zero.Encrypt(v)
	assert.ErrorIs(t, err, secret.ErrNoKey)
}

func TestKeyNeverPrints(t *testing.T) {
	k, err := secret.GenerateKey()
	require.NoError(t, err)
	id := k.Identities()[0].Reveal()
	require.True(t, strings.HasPrefix(id, "AGE-SECRET-KEY-1"))
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("key", "key", k)
	j, _ := json.Marshal(struct{ K secret.Key }{k})
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v %#v %s %q %x", k, k, k, k, k), b.String(), string(j)} {
		assert.NotContains(t, s, id)
		assert.NotContains(t, s, id[len("AGE-SECRET-KEY-1"):])
	}
}

func TestParseAndLoadKey(t *testing.T) {
	a, _ := secret.GenerateKey()
	b, _ := secret.GenerateKey()
	text := "# created by age-keygen\n" + a.Identities()[0].Reveal() + "\n\n" + b.Identities()[0].Reveal() + "\n"
	k, err := secret.ParseKey(secret.New(text))
	require.NoError(t, err)
	assert.Equal(t, a.Recipient(), k.Recipient())
	ct, _ := b.Encrypt(secret.New("x-value"))
	_, current, err := k.Decrypt(ct)
	require.NoError(t, err, "the second identity decrypts")
	assert.False(t, current)

	path := filepath.Join(t.TempDir(), "key.txt")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	k, err = secret.LoadKey(path, "")
	require.NoError(t, err)
	assert.Equal(t, a.Recipient(), k.Recipient())
	t.Setenv("ABS_TEST_AGE_KEY", a.Identities()[0].Reveal())
	k, err = secret.LoadKey("", "ABS_TEST_AGE_KEY")
	require.NoError(t, err)
	assert.Equal(t, a.Recipient(), k.Recipient())
	_, err = secret.LoadKey("", "ABS_TEST_AGE_KEY_UNSET")
	assert.ErrorIs(t, err, secret.ErrNoKey)
	_, err = secret.LoadKey("", "")
	assert.ErrorIs(t, err, secret.ErrNoKey)

	bad := "AGE-SECRET-KEY-1NOTAKEYATALLBUTLONGENOUGHTOLOOKLIKEONE"
	_, err = secret.ParseKey(secret.New(bad))
	require.ErrorIs(t, err, secret.ErrInvalidKey)
	assert.NotContains(t, err.Error(), "NOTAKEY", "errors never quote the key text")
	_, err = secret.ParseKey(secret.New("# nothing\n"))
	assert.ErrorIs(t, err, secret.ErrInvalidKey)
}

func TestSSHKeyFingerprint(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := gossh.NewSignerFromKey(priv)
	require.NoError(t, err)
	want := gossh.FingerprintSHA256(signer.PublicKey())
	plain, err := gossh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	enc, err := gossh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass phrase"))
	require.NoError(t, err)
	plainPEM, encPEM := string(pem.EncodeToMemory(plain)), string(pem.EncodeToMemory(enc))

	fp, err := secret.SSHKeyFingerprint(secret.New(plainPEM), secret.Value{})
	require.NoError(t, err)
	assert.Equal(t, want, fp)
	assert.True(t, strings.HasPrefix(fp, "SHA256:"))
	fp, err = secret.SSHKeyFingerprint(secret.New(encPEM), secret.New("pass phrase"))
	require.NoError(t, err)
	assert.Equal(t, want, fp)
	_, err = secret.SSHKeyFingerprint(secret.New(encPEM), secret.Value{})
	assert.ErrorIs(t, err, secret.ErrSSHKeyPassphrase)
	_, err = secret.SSHKeyFingerprint(secret.New(encPEM), secret.New("wrong"))
	assert.ErrorIs(t, err, secret.ErrSSHKeyPassphrase)
	_, err = secret.SSHKeyFingerprint(secret.New("-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n"), secret.Value{})
	require.ErrorIs(t, err, secret.ErrSSHKeyInvalid)
	assert.NotContains(t, err.Error(), "garbage")

	assert.NotEqual(t, secret.TokenFingerprint(secret.New("a-token")), secret.TokenFingerprint(secret.New("b-token")))
	assert.NotContains(t, secret.TokenFingerprint(secret.New("a-token")), "a-token")
}
