package secret

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"filippo.io/age"
	gossh "golang.org/x/crypto/ssh"
)

// Key encrypts secrets for storage and decrypts them, with age
// (filippo.io/age) X25519 identities. The first identity encrypts; every
// identity decrypts, so a key rotation keeps the old identity after the
// new one until everything stored was re-encrypted with the new one.
//
// A Key prints as [Placeholder]; the zero Key holds no identity, and its
// Encrypt and Decrypt return [ErrNoKey].
//
// Rotation:
//
//  1. Generate a new identity (age-keygen, or GenerateKey).
//  2. Put it first in the key file (or variable), the old one after it:
//     new secrets are encrypted with the new identity, old ones still
//     decrypt.
//  3. Re-encrypt what is stored (abs.Orchestrator.RotateSecrets), then
//     drop the old identity.
type Key struct {
	ids []*age.X25519Identity
}

var (
	_ fmt.Formatter  = Key{}
	_ slog.LogValuer = Key{}
)

// Errors of Key.
var (
	// ErrNoKey: no identity was configured to encrypt or decrypt with.
	ErrNoKey = errors.New("secret: no encryption key configured")
	// ErrInvalidKey: the key text holds no valid age X25519 identity.
	ErrInvalidKey = errors.New("secret: invalid age identity")
	// ErrDecrypt: the ciphertext is damaged, or none of the identities
	// opens it.
	ErrDecrypt = errors.New("secret: cannot decrypt")
)

// maxKeyText bounds a key file or variable.
const maxKeyText = 64 << 10

// GenerateKey returns a Key with a new random X25519 identity.
func GenerateKey() (Key, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return Key{}, fmt.Errorf("secret: generate key: %w", err)
	}
	return Key{ids: []*age.X25519Identity{id}}, nil
}

// ParseKey reads age X25519 identities ("AGE-SECRET-KEY-1…" lines, as
// age-keygen writes them; blank lines and # comments are skipped). The
// first one encrypts, all decrypt. Its errors never quote the text.
func ParseKey(text Value) (Key, error) {
	s := text.Reveal()
	if len(s) > maxKeyText {
		return Key{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, maxKeyText)
	}
	var k Key
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 4096), maxKeyText)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return Key{}, fmt.Errorf("%w: line %d is not an AGE-SECRET-KEY-1 identity", ErrInvalidKey, n)
		}
		k.ids = append(k.ids, id)
	}
	if err := sc.Err(); err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if len(k.ids) == 0 {
		return Key{}, fmt.Errorf("%w: no identity found", ErrInvalidKey)
	}
	return k, nil
}

// LoadKey reads a Key from the file at path or, when path is empty, from
// the environment variable named env. Both empty is ErrNoKey.
func LoadKey(path, env string) (Key, error) {
	switch {
	case path != "":
		f, err := os.Open(path)
		if err != nil {
			return Key{}, fmt.Errorf("secret: key file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxKeyText+1))
		if err != nil {
			return Key{}, fmt.Errorf("secret: key file %s: %w", path, err)
		}
		k, err := ParseKey(FromBytes(b))
		if err != nil {
			return Key{}, fmt.Errorf("key file %s: %w", path, err)
		}
		return k, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return Key{}, fmt.Errorf("%w: environment variable %s is empty", ErrNoKey, env)
		}
		k, err := ParseKey(New(v))
		if err != nil {
			return Key{}, fmt.Errorf("environment variable %s: %w", env, err)
		}
		return k, nil
	}
	return Key{}, ErrNoKey
}

// IsZero reports whether the Key holds no identity.
func (k Key) IsZero() bool { return len(k.ids) == 0 }

// Recipient returns the public recipient ("age1…") of the identity that
// encrypts, or "" for the zero Key. It is not secret.
func (k Key) Recipient() string {
	if k.IsZero() {
		return ""
	}
	return k.ids[0].Recipient().String()
}

// Identities returns the identities in age's text form, the encrypting
// one first, to write a key file. Handle them as the secret they are.
func (k Key) Identities() []Value {
	out := make([]Value, len(k.ids))
	for i, id := range k.ids {
		out[i] = New(id.String())
	}
	return out
}

// With returns a Key that encrypts with k's first identity and decrypts
// with k's identities and then old's: the key of a rotation in progress.
func (k Key) With(old Key) Key {
	return Key{ids: append(append([]*age.X25519Identity(nil), k.ids...), old.ids...)}
}

// Encrypt returns v encrypted to the first identity, as base64 text fit
// for a database column.
func (k Key) Encrypt(v Value) (string, error) {
	if k.IsZero() {
		return "", ErrNoKey
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, k.ids[0].Recipient())
	if err != nil {
		return "", fmt.Errorf("secret: encrypt: %w", err)
	}
	if _, err := io.WriteString(w, v.Reveal()); err != nil {
		return "", fmt.Errorf("secret: encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("secret: encrypt: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// maxCiphertext bounds what Decrypt reads.
const maxCiphertext = 1 << 20

// Decrypt opens a ciphertext made by Encrypt with any of k's identities.
// It also reports whether the first identity opened it: false means the
// ciphertext should be re-encrypted (Rotated).
func (k Key) Decrypt(ciphertext string) (v Value, current bool, err error) {
	if k.IsZero() {
		return Value{}, false, ErrNoKey
	}
	if len(ciphertext) > maxCiphertext*4/3+4 {
		return Value{}, false, fmt.Errorf("%w: ciphertext too large", ErrDecrypt)
	}
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return Value{}, false, fmt.Errorf("%w: not base64", ErrDecrypt)
	}
	for i, id := range k.ids {
		r, err := age.Decrypt(bytes.NewReader(raw), id)
		if err != nil {
			var nomatch *age.NoIdentityMatchError
			if errors.As(err, &nomatch) {
				continue
			}
			return Value{}, false, fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, maxCiphertext+1))
		if err != nil {
			return Value{}, false, fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
		if len(b) > maxCiphertext {
			return Value{}, false, fmt.Errorf("%w: plaintext too large", ErrDecrypt)
		}
		return FromBytes(b), i == 0, nil
	}
	return Value{}, false, fmt.Errorf("%w: no configured identity matches", ErrDecrypt)
}

// String returns [Placeholder].
func (k Key) String() string { return Placeholder }

// Format prints [Placeholder] for every verb.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Placeholder)) }

// LogValue makes log/slog print [Placeholder].
func (k Key) LogValue() slog.Value { return slog.StringValue(Placeholder) }

// Errors of SSHKeyFingerprint.
var (
	// ErrSSHKeyInvalid: the text is not a PEM or OpenSSH private key.
	ErrSSHKeyInvalid = errors.New("secret: not a PEM or OpenSSH private key")
	// ErrSSHKeyPassphrase: the key is encrypted and the passphrase is
	// missing or wrong.
	ErrSSHKeyPassphrase = errors.New("secret: SSH key passphrase missing or wrong")
)

// SSHKeyFingerprint parses an SSH private key (decrypting it with
// passphrase when it is encrypted) and returns the OpenSSH fingerprint of
// its public key ("SHA256:…", as ssh-keygen -l prints it). Its errors
// never quote the key.
func SSHKeyFingerprint(key, passphrase Value) (string, error) {
	raw := []byte(key.Reveal())
	signer, err := gossh.ParsePrivateKey(raw)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase.IsZero() {
			return "", fmt.Errorf("%w: the key is encrypted and no passphrase was given", ErrSSHKeyPassphrase)
		}
		signer, err = gossh.ParsePrivateKeyWithPassphrase(raw, []byte(passphrase.Reveal()))
		if err != nil {
			return "", fmt.Errorf("%w: cannot decrypt the key with the given passphrase", ErrSSHKeyPassphrase)
		}
	}
	if err != nil {
		return "", ErrSSHKeyInvalid
	}
	return gossh.FingerprintSHA256(signer.PublicKey()), nil
}

// TokenFingerprint returns a short, non-reversible fingerprint of a
// token ("SHA256:" and the first 12 base64 characters of its SHA-256),
// enough to tell two tokens apart and never enough to recover one.
func TokenFingerprint(token Value) string {
	sum := sha256.Sum256([]byte(token.Reveal()))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])[:12]
}
