// Package rpmver parses and orders RPM epoch:version-release strings the way
// rpm itself does (rpmvercmp), including the tilde (sorts before anything,
// for pre-releases) and the caret (sorts after the base version, for
// snapshots).
//
// It allocates nothing when comparing, so it can sit in the inner loop of
// advisory matching:
//
//	a, _ := rpmver.Parse("1:3.0.7-18.el9_2")
//	b, _ := rpmver.Parse("1:3.0.7-24.el9")
//	if a.Compare(b) < 0 { /* a is older */ }
package rpmver
