// Package imageref opens container images named by the strings users type:
// a registry reference, an OCI layout directory or a docker-archive
// tarball. It returns go-containerregistry's public v1.Image, so callers
// never see a type of this package beyond its options and errors.
//
// Accepted references:
//
//	registry.example.com/ns/repo:tag   registry (also with a docker:// prefix)
//	registry.example.com/ns/repo@sha256:…
//	oci:DIR                            the only image (or index) in the layout
//	oci:DIR:TAG                        by org.opencontainers.image.ref.name
//	oci:DIR@sha256:…                   by manifest digest
//	docker-archive:FILE                a `docker save` / tarball.Write file
//	docker-archive:FILE:REPO:TAG       one image of a multi-image archive
//
// Multi-platform indexes resolve to one image: linux/amd64 unless
// [WithPlatform] says otherwise.
package imageref
