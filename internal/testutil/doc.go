// Package testutil holds small helpers shared by the module's tests,
// benchmarks and demo programs: hand-built tar layers (including hostile
// ones), images assembled from them, an in-process registry on loopback, and
// deterministic images shaped like real certified images.
//
// Nothing here is API; it lives under internal/ so that tests of different
// packages build the same fixtures the same way.
package testutil
