// Package release computes Red Hat-style release labels: the release that
// follows a rebuilt image's release, and the next one that no tag of its
// repository has taken yet. rebuild and publish both use it, so that the
// label stamped on an image and its immutable "VERSION-RELEASE" tag follow
// one rule.
package release
