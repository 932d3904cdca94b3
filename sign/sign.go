package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/openabs/abs/secret"
)

// Media types and annotations of cosign's storage format.
const (
	// MediaTypeSimpleSigning is the layer media type of a signature
	// payload.
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// MediaTypeDSSE is the layer media type of a signed attestation.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// PayloadTypeInToto is the DSSE payload type of in-toto statements.
	PayloadTypeInToto = "application/vnd.in-toto+json"
	// AnnotationSignature holds the base64 signature of a layer's payload
	// (empty for attestations, whose signature is inside the envelope).
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationPredicateType names an attestation layer's predicate type.
	AnnotationPredicateType = "predicateType"
	// ArtifactTypeSignature and ArtifactTypeAttestation are the
	// artifact types of the referrers, as cosign's OCI 1.1 mode names
	// them (`cosign verify --experimental-oci11` finds signatures by it).
	ArtifactTypeSignature   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	ArtifactTypeAttestation = "application/vnd.dev.cosign.artifact.att.v1+json"
)

// MaxLayers bounds how many existing signatures or attestations of one
// image Sign and Attest read back (and keep).
const MaxLayers = 256

// maxLayerSize bounds one existing layer read back.
const maxLayerSize = MaxStatementSize + 1<<20

// Storage says where signatures and attestations go.
type Storage int

const (
	// StorageBoth (the default) pushes each signature and attestation
	// manifest with the signed image as its subject, so that registries
	// with the OCI referrers API list it (and go-containerregistry keeps
	// the OCI tag-schema index "sha256-<hex>" on those without), and tags
	// it with cosign's tag scheme, "sha256-<hex>.sig" and
	// "sha256-<hex>.att", which every cosign release reads.
	StorageBoth Storage = iota
	// StorageTags only writes cosign's tags (the subject field is
	// left out).
	StorageTags
	// StorageReferrers only pushes the manifests by digest, with a
	// subject, and no cosign tag.
	StorageReferrers
)

type settings struct {
	remote  []remote.Option
	name    []name.Option
	log     *slog.Logger
	storage Storage
	ann     map[string]any
}

// Option configures a Signer.
type Option func(*settings)

// WithKeychain resolves registry credentials per registry (the docker
// config file's, by default).
func WithKeychain(kc authn.Keychain) Option {
	return func(s *settings) { s.remote = append(s.remote, remote.WithAuthFromKeychain(kc)) }
}

// WithBasicAuth authenticates to the registry with a user name and
// password.
func WithBasicAuth(username string, password secret.Value) Option {
	return func(s *settings) {
		s.remote = append(s.remote, remote.WithAuth(&authn.Basic{Username: username, Password: password.Reveal()}))
	}
}

// WithTransport sets the HTTP transport (for custom TLS roots, proxies).
func WithTransport(rt http.RoundTripper) Option {
	return func(s *settings) { s.remote = append(s.remote, remote.WithTransport(rt)) }
}

// WithPlainHTTP lets references use plain HTTP, for registries on
// loopback or a trusted network.
func WithPlainHTTP() Option {
	return func(s *settings) { s.name = append(s.name, name.Insecure) }
}

// WithStorage chooses where signatures and attestations are stored
// (StorageBoth by default).
func WithStorage(st Storage) Option { return func(s *settings) { s.storage = st } }

// WithAnnotations adds claims to the "optional" section of signature
// payloads; `cosign verify -a key=value` checks them.
func WithAnnotations(ann map[string]string) Option {
	return func(s *settings) {
		for k, v := range ann {
			s.ann[k] = v
		}
	}
}

// WithLogger logs what is pushed (quiet by default).
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.log = l } }

// Signer signs images and attests statements about them in a registry.
// It is safe for concurrent use.
type Signer struct {
	key *Key
	s   settings
}

// New returns a Signer that signs with key (Sign and Attest return
// [ErrKey] when key is nil).
//
// Storing a signature reads the image's existing cosign manifest and
// writes it back with the new layer; two Signers working on the same
// image at the same instant may each drop the other's layer, so sign one
// image from one place at a time.
func New(key *Key, opts ...Option) *Signer {
	s := settings{ann: map[string]any{}, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&s)
	}
	if len(s.ann) == 0 {
		s.ann = nil
	}
	return &Signer{key: key, s: s}
}

// Artifact is a signature or attestation manifest that was pushed.
type Artifact struct {
	// Digest is the manifest's digest.
	Digest string `json:"digest"`
	// Tag is the cosign tag that names it ("…:sha256-<hex>.sig"), "" with
	// StorageReferrers.
	Tag string `json:"tag,omitempty"`
	// Referrer reports that the manifest names the image as its subject.
	Referrer bool `json:"referrer,omitempty"`
	// Layers counts the signatures (or attestations) it holds, this
	// signer's and others' kept from before.
	Layers int `json:"layers"`
}

func parseDigest(ref string, opts ...name.Option) (name.Digest, error) {
	d, err := name.NewDigest(ref, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%w %q: %v", ErrReference, ref, err)
	}
	if !strings.HasPrefix(d.DigestStr(), "sha256:") {
		return name.Digest{}, fmt.Errorf("%w %q: not a sha256 digest", ErrReference, ref)
	}
	return d, nil
}

func (s *Signer) opts(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx)}, s.s.remote...)
}

// Sign signs the image ref ("repository@sha256:…", which must exist in the
// registry) with a cosign simple-signing payload and stores the signature
// as cosign does. A signature this key made earlier for the same payload
// is replaced; other signatures are kept. `cosign verify --key` accepts
// the result.
func (s *Signer) Sign(ctx context.Context, ref string) (*Artifact, error) {
	if s.key == nil {
		return nil, fmt.Errorf("%w: no key", ErrKey)
	}
	d, err := parseDigest(ref, s.s.name...)
	if err != nil {
		return nil, err
	}
	desc, err := s.subject(ctx, d)
	if err != nil {
		return nil, err
	}
	pl, err := payload.Cosign{Image: d, Annotations: s.s.ann}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("sign: payload: %w", err)
	}
	sig, err := s.key.sign(pl)
	if err != nil {
		return nil, fmt.Errorf("sign: signing %s: %w", d, err)
	}
	layer := newLayer{
		data: pl, mediaType: MediaTypeSimpleSigning,
		ann: map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)},
	}
	// Our own earlier signature of this same payload is superseded.
	replace := func(ann map[string]string, data []byte) bool {
		old, err := base64.StdEncoding.DecodeString(ann[AnnotationSignature])
		return err == nil && bytes.Equal(data, pl) && s.key.verify(old, data)
	}
	return s.store(ctx, d, desc, ".sig", ArtifactTypeSignature, []newLayer{layer}, replace)
}

// Attest signs each statement (an in-toto statement whose subjects
// include the digest of ref; see [Statement]) in a DSSE envelope and
// stores the envelopes as cosign's attestations of the image. An
// attestation this key made earlier with the same predicate type is
// replaced; others are kept. `cosign verify-attestation --key --type …`
// accepts the result.
func (s *Signer) Attest(ctx context.Context, ref string, statements ...[]byte) (*Artifact, error) {
	if s.key == nil {
		return nil, fmt.Errorf("%w: no key", ErrKey)
	}
	d, err := parseDigest(ref, s.s.name...)
	if err != nil {
		return nil, err
	}
	if len(statements) == 0 {
		return nil, fmt.Errorf("%w: no statement to attest", ErrStatement)
	}
	types := map[string]bool{}
	var layers []newLayer
	wrapped := dsse.WrapSigner(s.key.sv, PayloadTypeInToto)
	for i, st := range statements {
		pt, err := checkStatement(st, d.DigestStr())
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i, err)
		}
		env, err := wrapped.SignMessage(bytes.NewReader(st))
		if err != nil {
			return nil, fmt.Errorf("sign: signing statement %d: %w", i, err)
		}
		types[pt] = true
		layers = append(layers, newLayer{
			data: env, mediaType: MediaTypeDSSE,
			ann: map[string]string{AnnotationSignature: "", AnnotationPredicateType: pt},
		})
	}
	desc, err := s.subject(ctx, d)
	if err != nil {
		return nil, err
	}
	replace := func(ann map[string]string, data []byte) bool {
		return types[ann[AnnotationPredicateType]] && s.verifyEnvelope(ctx, data)
	}
	return s.store(ctx, d, desc, ".att", ArtifactTypeAttestation, layers, replace)
}

func (s *Signer) verifyEnvelope(ctx context.Context, data []byte) bool {
	var env ssldsse.Envelope
	if json.Unmarshal(data, &env) != nil {
		return false
	}
	v, err := ssldsse.NewEnvelopeVerifier(&dsse.VerifierAdapter{SignatureVerifier: s.key.sv})
	if err != nil {
		return false
	}
	_, err = v.Verify(ctx, &env)
	return err == nil
}

// subject returns the descriptor of the image to sign.
func (s *Signer) subject(ctx context.Context, d name.Digest) (v1.Descriptor, error) {
	desc, err := remote.Head(d, s.opts(ctx)...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return v1.Descriptor{}, fmt.Errorf("%w: %s", ErrNotFound, d)
		}
		return v1.Descriptor{}, &RegistryError{Op: "head", Ref: d.String(), Err: err}
	}
	if desc.Digest.String() != d.DigestStr() {
		return v1.Descriptor{}, &RegistryError{Op: "head", Ref: d.String(), Err: fmt.Errorf("registry answered digest %s", desc.Digest)}
	}
	return v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}, nil
}

type newLayer struct {
	data      []byte
	mediaType types.MediaType
	ann       map[string]string
}

// store merges layers into the cosign manifest of d under suffix (".sig"
// or ".att"), keeping the existing layers that replace does not claim,
// and pushes it.
func (s *Signer) store(ctx context.Context, d name.Digest, subject v1.Descriptor, suffix, artifactType string,
	layers []newLayer, replace func(map[string]string, []byte) bool) (*Artifact, error) {
	tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + suffix)

	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.MediaType(artifactType))
	var adds []mutate.Addendum
	if s.s.storage != StorageReferrers {
		kept, err := s.existing(ctx, tag, replace)
		if err != nil {
			return nil, err
		}
		adds = kept
	}
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(l.data, l.mediaType), Annotations: l.ann})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("sign: build manifest: %w", err)
	}
	art := &Artifact{Layers: len(adds)}
	if s.s.storage != StorageTags {
		img = mutate.Subject(img, subject).(v1.Image)
		art.Referrer = true
	}
	dig, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("sign: build manifest: %w", err)
	}
	art.Digest = dig.String()
	var target name.Reference = d.Context().Digest(dig.String())
	if s.s.storage != StorageReferrers {
		target = tag
		art.Tag = tag.String()
	}
	if err := remote.Write(target, img, s.opts(ctx)...); err != nil {
		return nil, &RegistryError{Op: "push" + suffix, Ref: target.String(), Err: err}
	}
	s.s.log.InfoContext(ctx, "sign: pushed", "subject", d.String(), "manifest", art.Digest,
		"tag", art.Tag, "referrer", art.Referrer, "layers", art.Layers)
	return art, nil
}

// existing returns the layers of the manifest at tag that replace does
// not claim (none when the tag does not exist).
func (s *Signer) existing(ctx context.Context, tag name.Tag, replace func(map[string]string, []byte) bool) ([]mutate.Addendum, error) {
	img, err := remote.Image(tag, s.opts(ctx)...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		return nil, &RegistryError{Op: "read", Ref: tag.String(), Err: err}
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, &RegistryError{Op: "read", Ref: tag.String(), Err: err}
	}
	if len(m.Layers) > MaxLayers {
		return nil, &RegistryError{Op: "read", Ref: tag.String(), Err: fmt.Errorf("%d layers, more than %d", len(m.Layers), MaxLayers)}
	}
	var kept []mutate.Addendum
	for _, ld := range m.Layers {
		if ld.Size > maxLayerSize {
			return nil, &RegistryError{Op: "read", Ref: tag.String(), Err: fmt.Errorf("layer %s of %d bytes", ld.Digest, ld.Size)}
		}
		l, err := img.LayerByDigest(ld.Digest)
		if err != nil {
			return nil, &RegistryError{Op: "read", Ref: tag.String(), Err: err}
		}
		data, err := readLayer(l)
		if err != nil {
			return nil, &RegistryError{Op: "read", Ref: tag.String(), Err: err}
		}
		if replace(ld.Annotations, data) {
			continue
		}
		kept = append(kept, mutate.Addendum{Layer: static.NewLayer(data, ld.MediaType), Annotations: ld.Annotations})
	}
	return kept, nil
}

func readLayer(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLayerSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxLayerSize {
		return nil, fmt.Errorf("layer larger than %d bytes", maxLayerSize)
	}
	return b, nil
}
