// Package abs is the openabs orchestrator: it keeps certified container
// images current without a person in the loop, the way Red Hat's
// Automated Build Service does, and never makes an image worse.
//
// An Orchestrator composes the module's packages through their extension
// points: advisory.Source (advisories, synced incrementally),
// rpmscan.Scanner (what each image holds), healthindex.Policy (grades),
// rebuild.Builder (rebase fast path, buildah or any build tool, from the
// image's git source), publish.Publisher (registry and catalog) and
// notify.Notifier (email, webhook, logs). Every part is replaceable with an
// Option.
//
// Each cycle
//
//  1. syncs advisories from the stored cursor;
//  2. resolves each managed image's tag and scans only digests it has not
//     seen (inventories are stored once per rpmdb layer, so images that
//     share a base share its packages), and finds what a new advisory
//     affects through a reverse index from package names to images;
//  3. regrades every image (grades decay with time) and warns owners
//     before a grade drops;
//  4. decides what to rebuild (unapplied Critical/Important advisories by
//     default, a RebuildPolicy for the rest, or a moved base image) and
//     plans parents before children;
//  5. builds (rebase when the image's packages live in its base, else
//     from source);
//  6. rescans the result and accepts it only when it fixes what it should
//     and is not worse (grade, set of unapplied advisories);
//  7. publishes; 8. tells each owner once.
//
// A tag that points at an image index is handled per platform and as one
// unit: one inventory and grade per platform image (the image's grade is
// the worst platform's, PlatformGrade in reports), every platform rebuilt
// (rebased onto the new base index's image for the same platform, or
// built from source for it) and verified, and the new index published
// only when every platform passed.
//
// The steps are durable jobs on River (github.com/riverqueue/river): a
// cycle job plans and, in the same transaction, records the plan and
// enqueues one rebuild job per image, unique per (image digest, cause,
// inputs: base, source, configuration, credentials generation) so the
// same inputs never rebuild an image twice while a changed input plans a
// new rebuild at once; a failed rebuild runs again in later cycles after a
// backoff, up to WithRetryLimit runs, or at once on Orchestrator.Retry,
// and reports say what a waiting rebuild waits for; each rebuild
// enqueues its publish job in the transaction that records the verified
// image; a child's rebuild is enqueued in the transaction that finishes its
// parent, and an owner's notify job in the one that finishes the owner's
// last rebuild of the cycle, so no job polls for its turn. A crashed
// worker's job is picked up again after the rescue delay
// (WithRescueAfter, minutes by default) and resumes from the recorded
// state; Start removes the build scratch a dead process left. The database is SQLite by default (OpenSQLite: one file, nothing
// to install) or PostgreSQL (OpenPostgres) for several replicas sharing
// the work; NewSQLite and NewPostgres take a pool the program opened
// itself, as River's drivers do. The state lives beside River's tables with
// its own versioned migrations, which New applies unless
// WithAutoMigrate(false) leaves them to a separate Database.Migrate step.
// The package links no SQL driver: register one as "sqlite" (import
// github.com/openabs/abs/rpmscan/sqlitedriver) for SQLite.
//
// When one advisory affects a whole fleet, WithStorm shapes the storm:
// advisories arriving within a batch window are folded into one rebuild
// per image, build budgets (global, per project, per registry) are counted
// in the database so they hold across replicas, and the builds past them
// queue Critical first, then by the soonest grade drop; freeze windows hold
// publishes, a soak time holds non-critical rebuilds, and Pause and Resume
// switch a project (or every project) off and on. Held work stays queued
// and reports say why it waits. Rollback moves an image's tags back to the
// digest published before.
//
// Results are typed: a Report carries CycleState, RebuildState,
// NotificationState, Method and Reason constants and healthindex.Grade
// grades, and lists per image the CVEs that affect it with no fix yet
// (ImageReport.Unfixed, from VEX documents; never graded). Advisory sync
// applies each source's batch with advisory.ApplyBatch, the same rules as
// advisory.Store. Inventories are stored under the scanner's release
// (VersionedScanner), so a new scanner release rescans.
//
// Projects and their images live in the database too, and change while
// the orchestrator runs: CreateProject, UpdateImage (the build service,
// auto-rebuild, auto-publish, the git source as a SourceSpec, tags,
// owners, base, build args; IfVersion for optimistic concurrency),
// SetSSHKey and SetToken (stored encrypted with age, WithSecretKey; only
// a fingerprint comes back), TestAccess, and the other methods, each
// recorded in the audit log (Audit) with the actor WithActor names. Every
// replica reloads them at the start of each cycle and job; the projects
// given to New seed and sync them (New says how).
//
// Certification and supply chain are opt-in. WithCertification adds a
// gate to the verify step: the certify package's checks run on the image
// customers have now and on its rebuild, and a rebuild that breaks a check
// the current image passes is not published (a CertificationError names
// the checks; reports and mails say which). WithSigner signs the verified
// digest and attests its SBOM (SPDX or CycloneDX) and its SLSA provenance
// in the registry, in the form cosign verifies, before the publish step
// moves any tag.
//
// Cycles start from a poll loop (WithPollInterval), a call to Trigger or
// RunCycle, or an HTTP push (Handler) authenticated by a shared secret.
// A dry run (CycleOptions.DryRun) plans with explanations and builds,
// pushes and mails nothing. Plan runs one without starting the workers, so
// work queued by earlier cycles stays queued as well.
//
//	import _ "github.com/openabs/abs/rpmscan/sqlitedriver" // "sqlite" for the state and rpmdbs
//
//	db, err := abs.OpenSQLite(ctx, "abs.db")
//	if err != nil { … }
//	o, err := abs.New(ctx, db, projects,
//		abs.WithSources(advisory.NewDir("advisories/")),
//		abs.WithNotifier(mailer))
//	if err != nil { … }
//	if err := o.Start(ctx); err != nil { … }
//	defer o.Stop(context.Background())
//	report, err := o.RunCycle(ctx, abs.CycleOptions{})
package abs
