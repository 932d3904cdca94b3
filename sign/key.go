package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/openabs/abs/secret"
)

// MaxKeySize bounds the key files LoadKey reads.
const MaxKeySize = 64 << 10

// Key signs payloads the way cosign does with `--key`: SHA-256 digests,
// ECDSA (P-256, cosign's default), RSA PKCS#1 v1.5 or Ed25519. Its
// private half never leaves it: a Key prints, formats and logs as its
// public key's fingerprint.
type Key struct {
	sv signature.SignerVerifier
	id string
}

// LoadKey reads a private key in PEM: cosign's encrypted format
// ("ENCRYPTED SIGSTORE PRIVATE KEY", or "ENCRYPTED COSIGN PRIVATE KEY" as
// `cosign generate-key-pair` writes it, opened with password), or a plain
// PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE
// KEY") key, for which password is ignored. Errors match [ErrKey] and
// never contain the password.
func LoadKey(pemBytes []byte, password secret.Value) (*Key, error) {
	if len(pemBytes) > MaxKeySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrKey, len(pemBytes), MaxKeySize)
	}
	pk, err := parsePrivateKey(pemBytes, password)
	if err != nil {
		return nil, err
	}
	signer, ok := pk.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrKey, pk)
	}
	sv, err := signature.LoadSignerVerifier(pk, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return newKey(sv, signer.Public())
}

// parsePrivateKey recovers from panics in the PEM and ASN.1 parsers: key
// files are outside input.
func parsePrivateKey(pemBytes []byte, password secret.Value) (pk crypto.PrivateKey, err error) {
	defer func() {
		if r := recover(); r != nil {
			pk, err = nil, fmt.Errorf("%w: unreadable key", ErrKey)
		}
	}()
	pf := func(bool) ([]byte, error) { return []byte(password.Reveal()), nil }
	pk, err = cryptoutils.UnmarshalPEMToPrivateKey(pemBytes, pf)
	if err != nil {
		// The parsers' messages name formats, not secrets; keep them for
		// the reader but do not wrap the cause (a password-derived
		// value could hide in a future library's error).
		return nil, fmt.Errorf("%w: %s", ErrKey, keyMessage(err))
	}
	return pk, nil
}

func keyMessage(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// LoadKeyFile reads a private key file with LoadKey.
func LoadKeyFile(path string, password secret.Value) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return LoadKey(b, password)
}

// NewKey wraps a signer whose private key stays elsewhere: a KMS, an
// HSM, an agent (any crypto.Signer). Its public key must be ECDSA, RSA or
// Ed25519. ECDSA and RSA signers are asked to sign SHA-256 digests (ECDSA
// signatures in ASN.1 DER, RSA in PKCS#1 v1.5), Ed25519 signers the whole
// message.
func NewKey(s crypto.Signer) (*Key, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil signer", ErrKey)
	}
	pub := s.Public()
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("%w: unsupported public key type %T", ErrKey, pub)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return newKey(&cryptoSigner{s: s, v: v}, pub)
}

func newKey(sv signature.SignerVerifier, pub crypto.PublicKey) (*Key, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	sum := sha256.Sum256(der)
	return &Key{sv: sv, id: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

// PublicKey returns the public half.
func (k *Key) PublicKey() crypto.PublicKey {
	pub, _ := k.sv.PublicKey()
	return pub
}

// PublicKeyPEM returns the public key as the PEM "PUBLIC KEY" that
// `cosign verify --key` reads.
func (k *Key) PublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(k.PublicKey())
}

// ID returns "sha256:" and the hex SHA-256 of the public key's DER form.
func (k *Key) ID() string { return k.id }

// String returns "sign.Key(" + ID + ")".
func (k *Key) String() string { return "sign.Key(" + k.id + ")" }

// Format prints String for every verb, so that no dump shows the private
// key.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue logs the key's ID.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// sign signs payload (digesting it first where the algorithm does).
func (k *Key) sign(payload []byte) ([]byte, error) {
	return k.sv.SignMessage(bytes.NewReader(payload))
}

// verify reports whether sig is this key's signature of payload.
func (k *Key) verify(sig, payload []byte) bool {
	return k.sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)) == nil
}

// cryptoSigner adapts a crypto.Signer to sigstore's SignerVerifier.
type cryptoSigner struct {
	s crypto.Signer
	v signature.Verifier
}

func (c *cryptoSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return c.s.Public(), nil
}

func (c *cryptoSigner) SignMessage(r io.Reader, _ ...signature.SignOption) ([]byte, error) {
	msg, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if _, ok := c.s.Public().(ed25519.PublicKey); ok {
		return c.s.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	sum := sha256.Sum256(msg)
	sig, err := c.s.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: signer: %w", err)
	}
	if len(sig) == 0 {
		return nil, errors.New("sign: signer returned an empty signature")
	}
	return sig, nil
}

func (c *cryptoSigner) VerifySignature(sig, msg io.Reader, opts ...signature.VerifyOption) error {
	return c.v.VerifySignature(sig, msg, opts...)
}

var _ signature.SignerVerifier = (*cryptoSigner)(nil)
