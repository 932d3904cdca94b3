package sign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/sign"
)

// pushImage pushes a small linux/amd64 image with one file to repo and
// returns "repo@sha256:…".
func pushImage(t testing.TB, repo, content string) string {
	t.Helper()
	img := testutil.MustImage(t, testutil.Config{Labels: map[string]string{"name": "app"}},
		[]testutil.Entry{testutil.File("etc/app.conf", []byte(content))})
	d, err := img.Digest()
	require.NoError(t, err)
	ref, err := name.ParseReference(repo + ":latest")
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img))
	return repo + "@" + d.String()
}

func newKey(t testing.TB) (*sign.Key, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k, err := sign.NewKey(priv)
	require.NoError(t, err)
	return k, priv
}

func logger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

// cosignManifest reads the manifest cosign would read at the tag scheme
// of ref with the given suffix (".sig", ".att").
func cosignManifest(t *testing.T, ref, suffix string) (v1.Image, *v1.Manifest) {
	t.Helper()
	d, err := name.NewDigest(ref)
	require.NoError(t, err)
	tag := d.Context().Tag("sha256-" + d.DigestStr()[len("sha256:"):] + suffix)
	img, err := remote.Image(tag)
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	return img, m
}

func layerData(t *testing.T, img v1.Image, h v1.Hash) []byte {
	t.Helper()
	l, err := img.LayerByDigest(h)
	require.NoError(t, err)
	rc, err := l.Compressed()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// verifySimpleSigning checks a signature layer the way cosign does:
// signature over the payload with pub, payload naming digest.
func verifySimpleSigning(t *testing.T, pub crypto.PublicKey, data []byte, ann map[string]string, digest string) {
	t.Helper()
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	require.NoError(t, err)
	sig, err := base64.StdEncoding.DecodeString(ann[sign.AnnotationSignature])
	require.NoError(t, err)
	require.NoError(t, v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)))
	var p payload.Cosign
	require.NoError(t, json.Unmarshal(data, &p))
	require.Equal(t, digest, p.Image.DigestStr())
}

// openEnvelope verifies a DSSE envelope with pub and returns the statement.
func openEnvelope(t *testing.T, pub crypto.PublicKey, data []byte) []byte {
	t.Helper()
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	require.NoError(t, err)
	var env ssldsse.Envelope
	require.NoError(t, json.Unmarshal(data, &env))
	require.Equal(t, sign.PayloadTypeInToto, env.PayloadType)
	ev, err := ssldsse.NewEnvelopeVerifier(&dsse.VerifierAdapter{SignatureVerifier: v})
	require.NoError(t, err)
	_, err = ev.Verify(t.Context(), &env)
	require.NoError(t, err)
	st, err := base64.StdEncoding.DecodeString(env.Payload)
	require.NoError(t, err)
	return st
}

// newKeyRegistry returns a repository on a fresh in-process registry.
func newKeyRegistry(t *testing.T) string {
	t.Helper()
	return regtest.InProcess(t).Repo("kms/app")
}
