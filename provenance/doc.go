// Package provenance records how a published rebuild was made as SLSA
// provenance v1 (predicate https://slsa.dev/provenance/v1) inside an
// in-toto v1 statement, using the in-toto project's Go types
// (github.com/in-toto/attestation).
//
// A [Build] says what was built (the published digest), from what (the
// source repository and commit, the base image digest), by whom (the
// builder id), how (the build arguments), why (the advisories the rebuild
// was asked to fix) and how it came out (the re-scan's grade and the
// advisories it no longer carries). [New] turns it into a statement,
// [Marshal] into the JSON that package sign attests, and [Parse] reads
// such JSON back and validates it.
//
//	st, err := provenance.New(provenance.Build{
//		Subject:    provenance.Image{Repository: repo, Digest: res.Digest},
//		Source:     provenance.Source{URL: "https://git.example.com/team/app.git", Commit: out.Commit},
//		Base:       provenance.Image{Repository: "registry.access.redhat.com/ubi9/ubi", Digest: baseDigest},
//		BuilderID:  "https://openabs.dev/builders/buildah",
//		BuildArgs:  target.BuildArgs,
//		Advisories: []string{"RHSA-2026:1234"},
//		Rescan:     &provenance.Rescan{Grade: "A", PreviousGrade: "C", Fixed: []string{"RHSA-2026:1234"}},
//	})
//	payload, err := provenance.Marshal(st)
//
// # Where each fact goes
//
// SLSA separates the inputs a consumer should check from what the build
// platform chose and from what the build produced besides its output:
//
//   - externalParameters (inputs that came from outside the platform and
//     that a verifier compares with its expectations): the source URL and
//     revision, the Containerfile path, the build arguments, the base image
//     reference and the advisories the rebuild was requested for.
//   - internalParameters (set by the platform, for debugging): build
//     options such as disabling the cache.
//   - resolvedDependencies: the source at its exact commit and the base
//     image at its exact digest.
//   - byproducts: the re-scan. Its grade is not an input of the build, the
//     builder does not choose it, and it is not the build's output: it is a
//     result observed about the output after the build, before publishing.
//     SLSA's place for such results is runDetails.byproducts, so the
//     re-scan is a resource descriptor named "rescan" whose annotations
//     hold the grade, the grade before, and the advisories fixed.
//
// Output is deterministic: no clock is read (the build's start and finish
// come with the Build) and JSON keys and whitespace are normalized.
package provenance
