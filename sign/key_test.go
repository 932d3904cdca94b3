package sign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

const password = "s3cret-passw0rd"

func encryptedKey(t *testing.T) (privPEM, pubPEM []byte) {
	t.Helper()
	privPEM, pubPEM, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), func(bool) ([]byte, error) { return []byte(password), nil })
	require.NoError(t, err)
	return privPEM, pubPEM
}

func TestLoadKey(t *testing.T) {
	privPEM, pubPEM := encryptedKey(t)
	require.Contains(t, string(privPEM), "ENCRYPTED SIGSTORE PRIVATE KEY")
	k, err := sign.LoadKey(privPEM, secret.New(password))
	require.NoError(t, err)
	got, err := k.PublicKeyPEM()
	require.NoError(t, err)
	assert.Equal(t, string(pubPEM), string(got))

	// cosign generate-key-pair before v2.0.1 wrote this header.
	old := bytes.Replace(privPEM, []byte("SIGSTORE"), []byte("COSIGN"), 2)
	_, err = sign.LoadKey(old, secret.New(password))
	require.NoError(t, err)

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	sec1der, err := x509.MarshalECPrivateKey(priv)
	require.NoError(t, err)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1der})
	for _, b := range [][]byte{pkcs8, sec1} {
		k, err := sign.LoadKey(b, secret.Value{})
		require.NoError(t, err)
		assert.True(t, priv.PublicKey.Equal(k.PublicKey()))
	}

	path := filepath.Join(t.TempDir(), "cosign.key")
	require.NoError(t, os.WriteFile(path, privPEM, 0o600))
	_, err = sign.LoadKeyFile(path, secret.New(password))
	require.NoError(t, err)
	_, err = sign.LoadKeyFile(path+".missing", secret.New(password))
	require.ErrorIs(t, err, sign.ErrKey)
}

func TestLoadKeyErrorsHideThePassword(t *testing.T) {
	privPEM, _ := encryptedKey(t)
	for name, tc := range map[string]struct {
		pem []byte
		pw  string
	}{
		"wrong password": {privPEM, password + "x"},
		"no password":    {privPEM, ""},
		"not PEM":        {[]byte(password), password},
		"unknown block":  {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(password)}), password},
		"bad DER":        {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(password)}), password},
		"too large":      {bytes.Repeat([]byte("A"), sign.MaxKeySize+1), password},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sign.LoadKey(tc.pem, secret.New(tc.pw))
			require.ErrorIs(t, err, sign.ErrKey)
			if tc.pw != "" {
				assert.NotContains(t, err.Error(), tc.pw)
			}
		})
	}
}

// opaque hides the concrete key type, as a KMS client does.
type opaque struct{ s crypto.Signer }

func (o opaque) Public() crypto.PublicKey { return o.s.Public() }
func (o opaque) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, digest, opts)
}

// A KMS-style crypto.Signer signs what sigstore's verifiers (and so
// cosign) accept, for each supported algorithm.
func TestNewKeyCryptoSigner(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for name, s := range map[string]crypto.Signer{"ecdsa": ec, "rsa": rs, "ed25519": ed} {
		t.Run(name, func(t *testing.T) {
			reg := newKeyRegistry(t)
			k, err := sign.NewKey(opaque{s})
			require.NoError(t, err)
			ref := pushImage(t, reg, "v1")
			_, err = sign.New(k).Sign(t.Context(), ref)
			require.NoError(t, err)
			img, m := cosignManifest(t, ref, ".sig")
			v, err := signature.LoadVerifier(s.Public(), crypto.SHA256)
			require.NoError(t, err)
			require.NotNil(t, v)
			verifySimpleSigning(t, s.Public(), layerData(t, img, m.Layers[0].Digest), m.Layers[0].Annotations, ref[strings.LastIndex(ref, "@")+1:])
		})
	}
	_, err = sign.NewKey(nil)
	require.ErrorIs(t, err, sign.ErrKey)
}

// A Key never shows its private half through fmt or slog.
func TestKeyNeverPrintsPrivateKey(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	k, err := sign.LoadKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), secret.Value{})
	require.NoError(t, err)
	d := priv.D.String()
	dhex := fmt.Sprintf("%x", priv.D.Bytes())
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("signing", "key", k)
	type holder struct{ key *sign.Key }
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%+v %#v %v %x %s", k, k, *k, k, k), fmt.Sprintf("%+v", holder{k}), buf.String(),
	} {
		assert.NotContains(t, s, d)
		assert.NotContains(t, s, dhex)
	}
	assert.Contains(t, k.String(), k.ID())
	assert.True(t, strings.HasPrefix(k.ID(), "sha256:"))
}
