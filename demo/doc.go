// Package demo holds the fixtures of the self-contained demonstration that
// `go run ./examples/autorebuild` runs with no flags, which the
// orchestrator's tests and the examples share: a registry, images, demo
// advisories, a git repository and a mail sink, all in-process. The example
// itself shows how an orchestrator is wired over them.
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
// (WriteAdvisories), and an SMTP sink (StartSMTP). Image builds a small
// certified-layout image around an rpmdb for the scanner's demonstration.
//
//	reg := demo.StartRegistry()
//	defer reg.Close()
//	fleet, err := demo.Seed(ctx, reg.Host)
//	if err != nil { … }
//	err = demo.UpdateBase(ctx, fleet) // the base's vendor ships a fix
package demo
