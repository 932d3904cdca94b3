package sign_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/sign"
)

const spdxType = "https://spdx.dev/Document"

func statements(t *testing.T, ref string) [][]byte {
	t.Helper()
	sbom, err := sign.Statement(ref, spdxType, []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`))
	require.NoError(t, err)
	prov, err := sign.Statement(ref, "https://slsa.dev/provenance/v1", []byte(`{"buildDefinition":{"buildType":"x"}}`))
	require.NoError(t, err)
	return [][]byte{sbom, prov}
}

func TestSignAndAttest(t *testing.T) {
	reg := regtest.InProcess(t)
	ref := pushImage(t, reg.Repo("team/app"), "v1")
	d, err := name.NewDigest(ref)
	require.NoError(t, err)
	key, priv := newKey(t)
	s := sign.New(key, sign.WithLogger(logger(t)))

	sig, err := s.Sign(t.Context(), ref)
	require.NoError(t, err)
	assert.True(t, sig.Referrer)
	assert.Equal(t, 1, sig.Layers)
	assert.True(t, strings.HasSuffix(sig.Tag, ":sha256-"+d.DigestStr()[7:]+".sig"), sig.Tag)

	img, m := cosignManifest(t, ref, ".sig")
	require.Len(t, m.Layers, 1)
	assert.EqualValues(t, sign.MediaTypeSimpleSigning, m.Layers[0].MediaType)
	require.NotNil(t, m.Subject)
	assert.Equal(t, d.DigestStr(), m.Subject.Digest.String())
	verifySimpleSigning(t, &priv.PublicKey, layerData(t, img, m.Layers[0].Digest), m.Layers[0].Annotations, d.DigestStr())

	att, err := s.Attest(t.Context(), ref, statements(t, ref)...)
	require.NoError(t, err)
	assert.Equal(t, 2, att.Layers)
	img, m = cosignManifest(t, ref, ".att")
	require.Len(t, m.Layers, 2)
	var types []string
	for _, l := range m.Layers {
		assert.EqualValues(t, sign.MediaTypeDSSE, l.MediaType)
		st := openEnvelope(t, &priv.PublicKey, layerData(t, img, l.Digest))
		var parsed struct {
			PredicateType string `json:"predicateType"`
		}
		require.NoError(t, json.Unmarshal(st, &parsed))
		assert.Equal(t, l.Annotations[sign.AnnotationPredicateType], parsed.PredicateType)
		types = append(types, parsed.PredicateType)
	}
	assert.ElementsMatch(t, []string{spdxType, "https://slsa.dev/provenance/v1"}, types)

	// Both manifests are referrers of the image, by cosign's artifact types.
	idx, err := remote.Referrers(d)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var found []string
	for _, r := range im.Manifests {
		found = append(found, r.ArtifactType)
	}
	assert.ElementsMatch(t, []string{sign.ArtifactTypeSignature, sign.ArtifactTypeAttestation}, found)
}

// Signing again replaces this key's signature and keeps another key's;
// attesting again replaces the same predicate types only.
func TestIdempotentAndKeepsOthers(t *testing.T) {
	reg := regtest.InProcess(t)
	ref := pushImage(t, reg.Repo("team/app"), "v1")
	mine, priv := newKey(t)
	other, otherPriv := newKey(t)

	for range 2 {
		_, err := sign.New(mine).Sign(t.Context(), ref)
		require.NoError(t, err)
	}
	art, err := sign.New(other).Sign(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, 2, art.Layers)
	art, err = sign.New(mine).Sign(t.Context(), ref)
	require.NoError(t, err)
	assert.Equal(t, 2, art.Layers)

	d, _ := name.NewDigest(ref)
	img, m := cosignManifest(t, ref, ".sig")
	require.Len(t, m.Layers, 2)
	verifySimpleSigning(t, &otherPriv.PublicKey, layerData(t, img, m.Layers[0].Digest), m.Layers[0].Annotations, d.DigestStr())
	verifySimpleSigning(t, &priv.PublicKey, layerData(t, img, m.Layers[1].Digest), m.Layers[1].Annotations, d.DigestStr())

	sts := statements(t, ref)
	_, err = sign.New(mine).Attest(t.Context(), ref, sts...)
	require.NoError(t, err)
	art, err = sign.New(mine).Attest(t.Context(), ref, sts[0])
	require.NoError(t, err)
	assert.Equal(t, 2, art.Layers, "the SPDX attestation is replaced, the provenance kept")
}

func TestStorageModes(t *testing.T) {
	reg := regtest.InProcess(t)
	key, _ := newKey(t)

	ref := pushImage(t, reg.Repo("tags/app"), "v1")
	art, err := sign.New(key, sign.WithStorage(sign.StorageTags)).Sign(t.Context(), ref)
	require.NoError(t, err)
	assert.False(t, art.Referrer)
	_, m := cosignManifest(t, ref, ".sig")
	assert.Nil(t, m.Subject)

	ref = pushImage(t, reg.Repo("referrers/app"), "v2")
	art, err = sign.New(key, sign.WithStorage(sign.StorageReferrers)).Sign(t.Context(), ref)
	require.NoError(t, err)
	assert.Empty(t, art.Tag)
	d, _ := name.NewDigest(ref)
	_, err = remote.Image(d.Context().Tag("sha256-" + d.DigestStr()[7:] + ".sig"))
	require.Error(t, err, "no cosign tag in referrers-only mode")
	idx, err := remote.Referrers(d)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1)
	assert.Equal(t, art.Digest, im.Manifests[0].Digest.String())
}

// Distribution 2.8 has no referrers API: the manifests still land under
// cosign's tags, and go-containerregistry keeps the OCI tag-schema index
// sha256-<hex> that lists them as referrers.
func TestReferrersFallbackOnDistribution(t *testing.T) {
	reg := regtest.Distribution(t)
	ref := pushImage(t, reg.Repo("team/app"), "v1")
	key, priv := newKey(t)
	s := sign.New(key)
	_, err := s.Sign(t.Context(), ref)
	require.NoError(t, err)
	_, err = s.Attest(t.Context(), ref, statements(t, ref)...)
	require.NoError(t, err)

	d, _ := name.NewDigest(ref)
	img, m := cosignManifest(t, ref, ".sig")
	verifySimpleSigning(t, &priv.PublicKey, layerData(t, img, m.Layers[0].Digest), m.Layers[0].Annotations, d.DigestStr())

	fallback, err := remote.Index(d.Context().Tag("sha256-" + d.DigestStr()[7:]))
	require.NoError(t, err, "the tag-schema referrers index")
	im, err := fallback.IndexManifest()
	require.NoError(t, err)
	var found []string
	for _, r := range im.Manifests {
		found = append(found, r.ArtifactType)
	}
	assert.ElementsMatch(t, []string{sign.ArtifactTypeSignature, sign.ArtifactTypeAttestation}, found)
}

func TestErrors(t *testing.T) {
	reg := regtest.InProcess(t)
	ref := pushImage(t, reg.Repo("team/app"), "v1")
	key, _ := newKey(t)
	s := sign.New(key)

	_, err := s.Sign(t.Context(), reg.Repo("team/app")+":latest")
	require.ErrorIs(t, err, sign.ErrReference)
	_, err = s.Sign(t.Context(), reg.Repo("team/app")+"@sha256:"+strings.Repeat("0", 64))
	require.ErrorIs(t, err, sign.ErrNotFound)

	other := pushImage(t, reg.Repo("team/app"), "v2")
	_, err = s.Attest(t.Context(), ref, statements(t, other)...)
	require.ErrorIs(t, err, sign.ErrStatement, "a statement about another digest is refused")
	_, err = s.Attest(t.Context(), ref)
	require.ErrorIs(t, err, sign.ErrStatement)
	_, err = s.Attest(t.Context(), ref, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
	require.ErrorIs(t, err, sign.ErrStatement)
	_, err = sign.Statement(ref, spdxType, []byte(`[1,2]`))
	require.ErrorIs(t, err, sign.ErrStatement)

	_, err = sign.New(nil).Sign(t.Context(), ref)
	require.ErrorIs(t, err, sign.ErrKey)

	down := regtest.InProcess(t)
	gone := pushImage(t, down.Repo("x/y"), "v1")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Sign(ctx, gone)
	var re *sign.RegistryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "head", re.Op)
}
