package abs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/provenance"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/sbom"
	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// SBOMFormat is a format of the software bill of materials attested on
// every published rebuild.
type SBOMFormat string

// The SBOM formats.
const (
	// SBOMSPDX is SPDX 2.3 JSON (predicate sbom.PredicateSPDX, `cosign
	// verify-attestation --type spdxjson`), the default.
	SBOMSPDX SBOMFormat = "spdx"
	// SBOMCycloneDX is CycloneDX 1.6 JSON (predicate
	// sbom.PredicateCycloneDX, `--type cyclonedx`).
	SBOMCycloneDX SBOMFormat = "cyclonedx"
)

// DefaultBuilderID is the prefix of the SLSA builder id recorded in
// provenance; the rebuild method ("rebase", "buildah"…) is appended.
const DefaultBuilderID = "https://openabs.dev/builders/"

// supplyChain is what WithSigner configures.
type supplyChain struct {
	signer    *sign.Signer
	formats   []SBOMFormat
	builderID string
}

// SupplyChainOption configures what WithSigner attaches to a published
// rebuild.
type SupplyChainOption func(*supplyChain)

// WithSBOM sets the SBOM formats attested (default SBOMSPDX); give both
// formats to attest both. An unknown format makes New fail.
func WithSBOM(formats ...SBOMFormat) SupplyChainOption {
	return func(s *supplyChain) { s.formats = formats }
}

// WithBuilderID sets the prefix of the SLSA builder id (default
// DefaultBuilderID); the rebuild method is appended to it.
func WithBuilderID(prefix string) SupplyChainOption {
	return func(s *supplyChain) { s.builderID = prefix }
}

// WithSigner signs every rebuild the orchestrator publishes and attests
// its SBOM and its SLSA provenance, with s (see package sign: a key file
// or any crypto.Signer, in the form `cosign verify` and `cosign
// verify-attestation` check).
//
// What is signed is the published digest: the image manifest of a
// single-platform image; for a multi-platform image the index and, so
// that a client pulling one platform by its own digest can verify it too,
// each platform's manifest. The provenance (in-toto statement, SLSA v1
// predicate: source URL and commit, base image digest, builder, build
// arguments, advisories fixed, the re-scan's grade) is attested on the
// published digest and, for an index, on each platform's manifest too
// (with that manifest as its subject and that platform's base image); the
// SBOM is attested on each image manifest (for an index, each platform's
// own SBOM on its manifest).
//
// The order keeps tags honest: the verified rebuild is staged by digest
// before the publish step, and the publish step signs and attests that
// digest before any tag moves. When signing fails the publish job fails
// at stage "sign" and is retried (signing again replaces what an earlier
// attempt stored); no tag moves to an unsigned digest. A key or a
// statement that cannot be used fails the rebuild at once, and so does a
// signing failure once the job's attempts are used up: the report and
// the owners' message then say "sign: …", and the tags stay on the image
// customers have now.
func WithSigner(s *sign.Signer, opts ...SupplyChainOption) Option {
	return func(o *Orchestrator) {
		sc := &supplyChain{signer: s, formats: []SBOMFormat{SBOMSPDX}, builderID: DefaultBuilderID}
		for _, opt := range opts {
			opt(sc)
		}
		o.supply = sc
	}
}

// check validates the configuration; New calls it.
func (s *supplyChain) check() error {
	if s.signer == nil {
		return fmt.Errorf("%w: WithSigner: nil signer", ErrConfig)
	}
	for _, f := range s.formats {
		if f != SBOMSPDX && f != SBOMCycloneDX {
			return fmt.Errorf("%w: WithSigner: unknown SBOM format %q (want %q or %q)", ErrConfig, f, SBOMSPDX, SBOMCycloneDX)
		}
	}
	return nil
}

// signRebuild signs the staged digest of a verified rebuild and attests
// its SBOM and provenance; the publish step calls it before moving any
// tag. Errors that retrying cannot fix are permanent failures of "sign".
func (o *Orchestrator) signRebuild(ctx context.Context, r store.Rebuild, img *Image) error {
	if o.supply == nil {
		return nil
	}
	if err := o.supply.check(); err != nil {
		return permanent("sign", err)
	}
	dref, err := o.digestRef(img.Repository + "@" + r.NewDigest)
	if err != nil {
		return permanent("sign", err)
	}
	desc, err := remote.Get(dref, o.ropts(ctx)...)
	if err != nil {
		return fmt.Errorf("read the staged rebuild: %w", err)
	}
	// The images whose SBOM is attested, each on its own digest.
	type platformImage struct {
		img  v1.Image
		hash v1.Hash
		arch string
		meta meta // how this platform's image was made
	}
	var images []platformImage
	var annotations map[string]string
	var cf *v1.ConfigFile
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return fmt.Errorf("read the staged index: %w", err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("read the staged index: %w", err)
		}
		annotations = im.Annotations
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() || (m.Platform != nil && m.Platform.OS == "unknown") {
				continue // attestation manifests of other tools
			}
			child, err := idx.Image(m.Digest)
			if err != nil {
				return fmt.Errorf("read platform %s: %w", m.Digest, err)
			}
			pi := platformImage{img: child, hash: m.Digest}
			if m.Platform != nil {
				pi.arch = m.Platform.Architecture
			}
			ccf, _ := child.ConfigFile()
			var cann map[string]string
			if cm, err := child.Manifest(); err == nil {
				cann = cm.Annotations
			}
			pi.meta = imageMeta(cann, ccf)
			images = append(images, pi)
			if cf == nil {
				cf = ccf
			}
		}
	} else {
		single, err := desc.Image()
		if err != nil {
			return fmt.Errorf("read the staged image: %w", err)
		}
		m, err := single.Manifest()
		if err != nil {
			return fmt.Errorf("read the staged image: %w", err)
		}
		annotations = m.Annotations
		if cf, err = single.ConfigFile(); err != nil {
			return fmt.Errorf("read the staged image: %w", err)
		}
		images = append(images, platformImage{img: single, hash: desc.Digest, arch: cf.Architecture})
	}
	meta := imageMeta(annotations, cf)
	tag := versionTagOf(cf, r.NewDigest)
	published := img.Repository + "@" + r.NewDigest

	// Provenance of the published digest and, for an index, of each
	// platform's image (its own subject, source and base), so that a
	// client pulling one platform by digest can verify how it was made.
	// An index whose own annotations do not name its source commit
	// takes them from its first platform (all are built from one commit).
	if meta.revision == "" && len(images) > 0 && images[0].hash != desc.Digest {
		meta.source, meta.revision = images[0].meta.source, images[0].meta.revision
	}
	prov, err := o.provenanceOf(r, img, published, tag, meta)
	if err != nil {
		return permanent("sign", err)
	}
	provs := map[string][]byte{}
	for _, pi := range images {
		ref := img.Repository + "@" + pi.hash.String()
		if ref == published {
			continue
		}
		if provs[ref], err = o.provenanceOf(r, img, ref, tag, pi.meta); err != nil {
			return permanent("sign", err)
		}
	}
	// SBOMs: one per image manifest.
	sboms := map[string][][]byte{}
	for _, pi := range images {
		inv, err := o.inventoryOf(ctx, pi.img, pi.hash.String())
		if err != nil {
			return fmt.Errorf("inventory of %s: %w", pi.hash, err)
		}
		ref := img.Repository + "@" + pi.hash.String()
		for _, f := range o.supply.formats {
			st, err := o.sbomStatement(inv, ref, sbom.Image{Repository: img.Repository, Digest: pi.hash.String(), Tag: tag, Arch: pi.arch}, f)
			if err != nil {
				return permanent("sign", err)
			}
			sboms[ref] = append(sboms[ref], st)
		}
	}

	// Sign and attest: the published digest (with its provenance), then
	// each platform of an index.
	var signed []string
	attest := func(ref string, statements [][]byte) error {
		if _, err := o.supply.signer.Sign(ctx, ref); err != nil {
			return signErr(err)
		}
		if len(statements) > 0 {
			if _, err := o.supply.signer.Attest(ctx, ref, statements...); err != nil {
				return signErr(err)
			}
		}
		signed = append(signed, ref[strings.LastIndexByte(ref, '@')+1:])
		return nil
	}
	if err := attest(published, append(sboms[published], prov)); err != nil {
		return err
	}
	for _, pi := range images {
		ref := img.Repository + "@" + pi.hash.String()
		if ref == published {
			continue
		}
		if err := attest(ref, append(sboms[ref], provs[ref])); err != nil {
			return err
		}
	}
	var kinds []string
	for _, f := range o.supply.formats {
		kinds = append(kinds, string(f))
	}
	o.note(r.Cycle, "sign", r.Image, "signed",
		fmt.Sprintf("%s: signed %s and attested its SBOM (%s) and SLSA provenance", r.Image, short(r.NewDigest), strings.Join(kinds, ", ")),
		"rebuild", r.ID, "digest", r.NewDigest, "signed", signed, "sbom", kinds)
	return nil
}

// signErr marks what retrying cannot fix as permanent.
func signErr(err error) error {
	if errors.Is(err, sign.ErrKey) || errors.Is(err, sign.ErrReference) || errors.Is(err, sign.ErrStatement) {
		return permanent("sign", err)
	}
	return err
}

// meta is what a rebuilt image records about how it was made, from its
// manifest annotations and, failing those, its labels.
type meta struct {
	source, revision, baseName, baseDigest, method string
}

func imageMeta(ann map[string]string, cf *v1.ConfigFile) meta {
	get := func(k string) string {
		if v := ann[k]; v != "" {
			return v
		}
		if cf != nil {
			return cf.Config.Labels[k]
		}
		return ""
	}
	return meta{source: get(rebuild.AnnotationSource), revision: get(rebuild.AnnotationRevision),
		baseName: get(rebuild.AnnotationBaseName), baseDigest: get(rebuild.AnnotationBaseDigest), method: get(rebuild.LabelMethod)}
}

// provenanceOf returns the SLSA provenance statement of the published
// rebuild.
func (o *Orchestrator) provenanceOf(r store.Rebuild, img *Image, published, tag string, m meta) ([]byte, error) {
	d, err := o.digestRef(published)
	if err != nil {
		return nil, err
	}
	method := m.method
	if method == "" {
		method = r.Method
	}
	b := provenance.Build{
		Subject:      provenance.Image{Repository: d.Context().Name(), Digest: d.DigestStr(), Tag: tag},
		BuilderID:    o.supply.builderID + method,
		BuildArgs:    img.BuildArgs,
		Advisories:   r.Advisories,
		Reason:       r.Reason,
		InvocationID: r.ID,
		FinishedOn:   r.Updated,
		Rescan: &provenance.Rescan{Grade: r.AfterGrade, PreviousGrade: r.BeforeGrade, Fixed: r.Advisories,
			ScannedAt: r.Updated},
	}
	if m.revision != "" {
		src := &provenance.Source{URL: secret.HideUserinfo(m.source), Commit: m.revision}
		if img.Source != nil {
			if src.URL == "" {
				src.URL = secret.HideUserinfo(img.Source.URL)
			}
			src.Ref = img.Source.Branch
			if src.Ref == "" {
				src.Ref = img.Source.Tag
			}
			src.Containerfile = img.Source.Containerfile
		}
		b.Source = src
	}
	if m.baseDigest != "" && m.baseName != "" {
		base := &provenance.Image{Repository: m.baseName, Digest: m.baseDigest}
		if ref, err := name.ParseReference(m.baseName, o.nameOpts...); err == nil {
			base.Repository = ref.Context().Name()
			if t, ok := ref.(name.Tag); ok {
				base.Tag = t.TagStr()
			}
		}
		b.Base = base
	}
	st, err := provenance.New(b)
	if err != nil {
		return nil, err
	}
	return provenance.Marshal(st)
}

// inventoryOf returns the inventory of a rebuilt image: the one the
// verify step stored, else a scan.
func (o *Orchestrator) inventoryOf(ctx context.Context, img v1.Image, digest string) (*rpmscan.Inventory, error) {
	inv, err := store.Inventory(ctx, o.db, digest)
	if err == nil {
		return inv, nil
	}
	inv, err = o.scanner.Scan(ctx, img)
	if err != nil {
		return nil, err
	}
	inv.Image.Digest = digest
	return inv, nil
}

// sbomStatement returns the in-toto statement of one SBOM about ref.
func (o *Orchestrator) sbomStatement(inv *rpmscan.Inventory, ref string, im sbom.Image, f SBOMFormat) ([]byte, error) {
	doc, err := sbom.New(inv, im, sbom.WithClock(o.now))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	predicate := sbom.PredicateSPDX
	if f == SBOMCycloneDX {
		predicate = sbom.PredicateCycloneDX
		err = doc.WriteCycloneDX(&buf)
	} else {
		err = doc.WriteSPDX(&buf)
	}
	if err != nil {
		return nil, err
	}
	return sign.Statement(ref, predicate, buf.Bytes())
}

// checkSupplyChain validates WithSigner's and WithCertification's
// settings; New calls it.
func (o *Orchestrator) checkSupplyChain() error {
	if o.supply != nil {
		if err := o.supply.check(); err != nil {
			return err
		}
	}
	if o.cert != nil && o.scanner != nil {
		if _, err := o.cert.policyFor(o.scanner); err != nil {
			return fmt.Errorf("%w: WithCertification: %w", ErrConfig, err)
		}
	}
	return nil
}
