package abs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/provenance"
	"github.com/openabs/abs/sbom"
	"github.com/openabs/abs/sign"
)

// platformIndex returns an index of the demo image for each platform.
func platformIndex(t testing.TB, archs ...string) v1.ImageIndex {
	t.Helper()
	db, err := demo.NewRPMDB()
	require.NoError(t, err)
	var adds []mutate.IndexAddendum
	for _, arch := range archs {
		img, err := demo.Image(db)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		img, err = mutate.ConfigFile(img, cf)
		require.NoError(t, err)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

func pushIndex(t testing.TB, repo string, idx v1.ImageIndex) string {
	t.Helper()
	d, err := idx.Digest()
	require.NoError(t, err)
	ref, err := name.NewDigest(repo + "@" + d.String())
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(ref, idx, remote.WithContext(t.Context())))
	return d.String()
}

func internalOrchestrator(t testing.TB, opts ...Option) *Orchestrator {
	t.Helper()
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "abs.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	o, err := New(t.Context(), db, nil, opts...)
	require.NoError(t, err)
	return o
}

// attestations returns the predicate types attested on digest.
func attestations(t *testing.T, repo, digest string) []string {
	t.Helper()
	ref, err := name.ParseReference(repo + ":sha256-" + strings.TrimPrefix(digest, "sha256:") + ".att")
	require.NoError(t, err)
	img, err := remote.Image(ref, remote.WithContext(t.Context()))
	require.NoError(t, err, "no attestation of %s", digest)
	m, err := img.Manifest()
	require.NoError(t, err)
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Annotations[sign.AnnotationPredicateType])
	}
	return out
}

// TestSignIndex: for a multi-platform rebuild the index digest is signed
// and carries the provenance, and each platform's manifest is signed and
// carries its own SBOM and its own provenance (verifiable when a client
// pulls that platform by digest).
func TestSignIndex(t *testing.T) {
	repo := testutil.Registry(t) + "/team/multi"
	idx := platformIndex(t, "amd64", "arm64")
	digest := pushIndex(t, repo, idx)
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key, err := sign.NewKey(pk)
	require.NoError(t, err)
	o := internalOrchestrator(t, WithSigner(sign.New(key, sign.WithPlainHTTP()), WithSBOM(SBOMSPDX, SBOMCycloneDX)))
	img := &Image{Name: "team/multi", Repository: repo, Tag: "latest", Tags: []string{"latest"}}
	r := store.Rebuild{ID: "rb-1", Image: img.Name, NewDigest: digest, Method: string(MethodRebase),
		Advisories: []string{"RHSA-2099:9001"}, BeforeGrade: "C", AfterGrade: "A"}
	require.NoError(t, o.signRebuild(t.Context(), r, img))

	assert.Equal(t, []string{provenance.PredicateType}, attestations(t, repo, digest), "the index carries the provenance")
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	for _, m := range im.Manifests {
		assert.ElementsMatch(t, []string{sbom.PredicateSPDX, sbom.PredicateCycloneDX, provenance.PredicateType},
			attestations(t, repo, m.Digest.String()), m.Platform.Architecture)
		ref, err := name.ParseReference(repo + ":sha256-" + m.Digest.Hex + ".sig")
		require.NoError(t, err)
		_, err = remote.Head(ref, remote.WithContext(t.Context()))
		require.NoError(t, err, "platform %s is signed", m.Platform.Architecture)
	}
}

// TestCertifyIndex: the gate runs on every platform of an index; a
// rebuild that drops a platform the current image passes on is blocked.
func TestCertifyIndex(t *testing.T) {
	repo := testutil.Registry(t) + "/team/multi"
	current := platformIndex(t, "amd64", "arm64")
	old := pushIndex(t, repo, current)
	o := internalOrchestrator(t, WithCertification(nil, nil))
	img := &Image{Name: "team/multi", Repository: repo, Tag: "latest", Tags: []string{"latest"}}
	r := store.Rebuild{ID: "rb-1", Image: img.Name, OldDigest: old}

	require.NoError(t, o.certifyRebuild(t.Context(), r, img, rebuildArtifact{Index: platformIndex(t, "amd64", "arm64")}),
		"the same platforms pass what they passed")
	err := o.certifyRebuild(t.Context(), r, img, rebuildArtifact{Index: platformIndex(t, "amd64")})
	require.ErrorIs(t, err, certify.ErrBlocked)
	assert.Contains(t, err.Error(), "lacks platform linux/arm64")
	var pe *permanentError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "verify", pe.stage)
}

// BenchmarkCertifyRebuild measures the gate on a two-platform rebuild:
// the policy run on the current index (read from the registry) and on the
// rebuild, every platform scanned.
func BenchmarkCertifyRebuild(b *testing.B) {
	repo := testutil.Registry(b) + "/team/multi"
	current := platformIndex(b, "amd64", "arm64")
	old := pushIndex(b, repo, current)
	o := internalOrchestrator(b, WithCertification(nil, nil))
	img := &Image{Name: "team/multi", Repository: repo, Tag: "latest", Tags: []string{"latest"}}
	r := store.Rebuild{ID: "rb-1", Image: img.Name, OldDigest: old}
	next := platformIndex(b, "amd64", "arm64")
	b.ReportAllocs()
	for b.Loop() {
		if err := o.certifyRebuild(b.Context(), r, img, rebuildArtifact{Index: next}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRebuild measures signing a two-platform rebuild and
// attesting its provenance and SPDX SBOMs in an in-process registry.
func BenchmarkSignRebuild(b *testing.B) {
	repo := testutil.Registry(b) + "/team/multi"
	digest := pushIndex(b, repo, platformIndex(b, "amd64", "arm64"))
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	key, err := sign.NewKey(pk)
	require.NoError(b, err)
	o := internalOrchestrator(b, WithSigner(sign.New(key, sign.WithPlainHTTP())))
	img := &Image{Name: "team/multi", Repository: repo, Tag: "latest", Tags: []string{"latest"}}
	r := store.Rebuild{ID: "rb-1", Image: img.Name, NewDigest: digest, Method: string(MethodRebase), AfterGrade: "A", BeforeGrade: "C"}
	b.ReportAllocs()
	for b.Loop() {
		if err := o.signRebuild(b.Context(), r, img); err != nil {
			b.Fatal(err)
		}
	}
}
