// Package demo holds the self-contained demonstration of the auto-rebuild
// pipeline that `go run ./examples/autorebuild` runs with no flags, and the
// fixtures the orchestrator's tests share with it.
//
// EVERYTHING HERE IS DEMO DATA. The advisories are generated in the real
// CSAF 2.0 shape but are not Red Hat advisories: their ids use the year
// 2099, their titles start with "DEMO", their publisher is "openabs demo
// data", and each carries a note saying so. The rpm databases under
// testdata/ were written by Debian's rpm from empty stand-in packages (see
// testdata/gen.sh).
//
// The demonstration runs with nothing outside the process: an in-process
// registry on loopback (Registry) seeded with a base image and two
// application images built on it whose RPMs are out of date, an updated
// base image already pushed to the base's tag (Seed), a git repository
// with the applications' Containerfile (GitRepo), the demo advisories
// (WriteAdvisories), and an SMTP sink (StartSMTP). The orchestrator
// rebases the applications onto the updated base, rescans them, publishes
// them and mails their owner once.
package demo
