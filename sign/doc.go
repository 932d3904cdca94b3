// Package sign signs published images and attests statements about them
// (SBOMs, provenance) in the form the cosign CLI verifies, and stores both
// in the image's registry.
//
// A [Key] holds the signing key: a file in cosign's encrypted PEM format
// or a plain PEM key ([LoadKey], [LoadKeyFile]), or any crypto.Signer
// whose private key lives in a KMS or HSM ([NewKey]). A [Signer] uses it:
//
//	key, err := sign.LoadKeyFile("cosign.key", secret.New(os.Getenv("COSIGN_PASSWORD")))
//	s := sign.New(key, sign.WithKeychain(authn.DefaultKeychain))
//	ref := res.Repository + "@" + res.Digest // the published digest
//	if _, err := s.Sign(ctx, ref); err != nil { ... }
//	spdx, _ := sign.Statement(ref, sbom.PredicateSPDX, spdxJSON)
//	prov, _ := provenance.Marshal(statement)
//	if _, err := s.Attest(ctx, ref, spdx, prov); err != nil { ... }
//
// # Format and storage
//
// A signature is cosign's "simple signing" payload (built with
// sigstore's payload package) naming the manifest digest, signed with the
// key over SHA-256 and carried as a layer of media type
// [MediaTypeSimpleSigning] with the base64 signature in the
// [AnnotationSignature] annotation. An attestation is an in-toto statement
// in a DSSE envelope (sigstore's dsse wrapper), a layer of media type
// [MediaTypeDSSE] annotated with its predicate type.
//
// Each manifest names the signed image as its OCI 1.1 subject, so
// registries with the referrers API list it under the artifact types
// [ArtifactTypeSignature] and [ArtifactTypeAttestation]; on registries
// without that API go-containerregistry maintains the OCI tag-schema
// index "sha256-<hex>" instead. The same manifest is also tagged with
// cosign's tag scheme, "sha256-<hex>.sig" and "sha256-<hex>.att", which is
// where every cosign release looks by default. [WithStorage] selects one
// of the two places only. Signing again replaces this key's earlier
// signature (and attestations of the same predicate type) and keeps
// other signers' layers.
//
// # Verifying
//
// Keyless signing (Fulcio certificates) and the Rekor transparency log
// need online services and are out of scope, so nothing is uploaded to a
// log and cosign must be told not to look for an entry:
//
//	cosign verify --key cosign.pub --insecure-ignore-tlog=true IMAGE@DIGEST
//	cosign verify-attestation --key cosign.pub --insecure-ignore-tlog=true --type spdxjson IMAGE@DIGEST
//	cosign verify-attestation --key cosign.pub --insecure-ignore-tlog=true --type slsaprovenance1 IMAGE@DIGEST
//
// `cosign verify --experimental-oci11=true` finds signatures through the
// referrers API. Add --allow-http-registry=true for plain-HTTP
// registries. The package's tests run exactly these commands with the
// real cosign CLI (v2.6.5) against registries on loopback.
package sign
