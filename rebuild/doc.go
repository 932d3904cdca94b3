// Package rebuild rebuilds container images: it fetches an image's source
// from git, builds it with a Builder, and orders many rebuilds so that
// parents are built before their children and children build on their
// parents' new digests.
//
// # Sources
//
// GitSource fetches a branch, tag or commit over HTTPS (optional access
// token, extra CA bundle) or SSH (private key in PEM or OpenSSH format,
// optional passphrase). SSH host keys are verified against known_hosts;
// GitAuth.InsecureIgnoreHostKey turns that off explicitly. Credentials are
// Secrets: they print as "[REDACTED]", are scrubbed from errors, are never
// written to disk, and the repository metadata is kept outside the build
// context. The resolved commit is recorded in Checkout.Commit.
//
// # Builders
//
// Builder is the extension point for build back-ends:
//
//   - Buildah runs `buildah build` (chroot isolation, vfs storage in a
//     private root, fresh base pulls) and loads the OCI (or docker)
//     archive it writes.
//   - Rebase swaps the base layers of the existing image after checking
//     that the old base is a true layer prefix (*PrefixError otherwise).
//   - Command drives any external tool through text/template arguments.
//
// Every builder's image uses one manifest family (OCI or Docker schema 2)
// for its manifest, config and layers, has a real creation time and a
// history, and shares the base image's layer blobs byte for byte (see
// ShareBaseLayers), so that the next base move can rebase it.
// CheckPullable (and CheckPullableIndex) checks the rules that
// containers/image clients (skopeo, podman, CRI-O) enforce, before an
// image is published; publish.WithImageCheck(rebuild.CheckPullable) wires
// it into the registry publisher.
//
// Buildah and Command hand each build an auth file and a registries
// configuration for the hosts it uses (Credentials, InsecureHosts),
// removed after the build. They run the tool in its own process group,
// killed with the build; CleanScratch, called at start, kills what a
// killed orchestrator left running and removes stale scratch directories.
// A failed build is a *BuildError whose Tail holds the last TailLines
// lines of the log, credentials scrubbed.
//
// Every rebuilt image is stamped (see Stamp) with a bumped release label
// (NextRelease, or NextFreeRelease to skip the releases the repository's
// tags hold) and labels and annotations recording why it was rebuilt:
// advisory ids, base name and digest, source URL and commit.
//
// # One step
//
// Run is the one way to run one rebuild step: fetch the source when a
// builder needs it, rebase (falling back to a build from source when the
// rebase cannot apply: Target.Fallback), stamp, verify (WithVerify) and
// stage (WithStore). Execute runs a whole Plan through it, and the
// orchestrator runs one step per job.
//
// # Multi-platform images
//
// A Target with Index (the current image index) or Platforms is rebuilt
// as one unit into a new index, never into a single image: Run builds
// every platform with Request.Platform set (Buildah passes --platform,
// Command offers .Platform to its templates, Rebase takes each base
// index's image for the platform, matched by SamePlatform), carries over
// byte for byte the platforms a rebase finds nothing to do for, stamps
// and verifies (WithVerify) every rebuilt platform, and only then stages
// the index (an IndexStore such as RegistryStore). A platform that fails,
// including a new base index without an image for it (ErrPlatformMissing),
// fails the whole image with a *PlatformError naming it, and nothing is
// staged. The new index keeps its media type (OCI index or Docker
// manifest list), order, annotations, and its descriptors' platforms and
// annotations; Outcome.Platforms has the result of each platform.
// Foreign platforms' RUN steps run under qemu user emulation registered
// with binfmt_misc.
//
// # Planning
//
// NewPlan relates Targets through their bases (the FROM lines of their
// Containerfiles, see ParseContainerfile, or their base annotations) and
// orders them in batches, parents first; cycles are a *CycleError.
// Execute runs a plan with bounded concurrency, pins each child's FROM to
// its parent's new digest (see Pin), and skips the children of a failed
// parent with the reason. WithDryRun reports the plan without building.
//
//	plan, err := rebuild.NewPlan([]*rebuild.Target{base, app})
//	if err != nil { ... }
//	fmt.Print(plan)
//	report, err := rebuild.Execute(ctx, plan,
//		rebuild.WithConcurrency(2),
//		rebuild.WithStore(&rebuild.RegistryStore{}))
//	defer report.Close()
package rebuild
