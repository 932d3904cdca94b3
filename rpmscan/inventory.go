package rpmscan

import (
	"context"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Scanner produces the RPM inventory of an image. It is an extension point:
// the default implementation reads the rpmdb straight from the image's
// layers, and callers may plug in their own (for example one that asks a
// catalog for a pre-computed manifest).
type Scanner interface {
	Scan(ctx context.Context, img v1.Image) (*Inventory, error)
}

// Package is one installed RPM as recorded in the image's rpmdb.
type Package struct {
	Name      string `json:"name"`
	Epoch     int    `json:"epoch"`
	Version   string `json:"version"`
	Release   string `json:"release"`
	Arch      string `json:"arch"`
	SourceRPM string `json:"source_rpm,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	// Module is the package's modularity label, "name:stream:version:context",
	// or empty for non-modular content.
	Module string `json:"module,omitempty"`
}

// InstalledFiles are the files one package installed, as its rpmdb header
// records them. Scans made [WithFiles] fill [Inventory.Files] with them.
type InstalledFiles struct {
	// NEVRA names the package, as [Package.NEVRA] spells it.
	NEVRA string `json:"nevra"`
	// InstallTime is when rpm installed the package, in seconds since the
	// epoch; a package installed again has a later one.
	InstallTime int64  `json:"install_time"`
	Files       []File `json:"files"`
}

// File is one file an RPM installed.
type File struct {
	// Path is absolute, as rpm records it ("/usr/bin/bash").
	Path string `json:"path"`
	// Mode is the file's st_mode as rpm records it: type and permission bits.
	Mode uint16 `json:"mode"`
	// Flags are rpm's attributes of the file (%config, %doc, %ghost…).
	Flags FileFlags `json:"flags,omitempty"`
}

// IsDir reports whether the file is a directory.
func (f File) IsDir() bool { return f.Mode&0o170000 == 0o040000 }

// FileFlags are rpm's attributes of an installed file (its RPMFILE_* bits).
type FileFlags uint32

// The file attributes rpm records.
const (
	FileConfig    FileFlags = 1 << 0  // %config
	FileDoc       FileFlags = 1 << 1  // %doc
	FileMissingOK FileFlags = 1 << 3  // %config(missingok)
	FileNoReplace FileFlags = 1 << 4  // %config(noreplace)
	FileGhost     FileFlags = 1 << 6  // %ghost
	FileLicense   FileFlags = 1 << 7  // %license
	FileReadme    FileFlags = 1 << 8  // %readme
	FileArtifact  FileFlags = 1 << 12 // %artifact (build-id links and the like)
)

// EVR returns the package's "epoch:version-release"; the epoch is always
// present, so EVRs compare the same way whatever produced them.
func (p Package) EVR() string {
	return strconv.Itoa(p.Epoch) + ":" + p.Version + "-" + p.Release
}

// NEVRA returns "name-epoch:version-release.arch".
func (p Package) NEVRA() string {
	return p.Name + "-" + p.EVR() + "." + p.Arch
}

// ModuleStream returns the "name:stream" part of the package's modularity
// label, or "" when the package is not modular.
func (p Package) ModuleStream() string {
	if p.Module == "" {
		return ""
	}
	parts := strings.SplitN(p.Module, ":", 3)
	if len(parts) < 2 {
		return p.Module
	}
	return parts[0] + ":" + parts[1]
}

// OS describes the operating system an image claims, from
// /etc/os-release (or /usr/lib/os-release) and /etc/redhat-release.
type OS struct {
	ID         string `json:"id,omitempty"`
	VersionID  string `json:"version_id,omitempty"`
	Name       string `json:"name,omitempty"`
	PrettyName string `json:"pretty_name,omitempty"`
	CPEName    string `json:"cpe_name,omitempty"`
	// RedHatRelease is the single line of /etc/redhat-release, if any.
	RedHatRelease string `json:"redhat_release,omitempty"`
}

// ImageInfo identifies the scanned image.
type ImageInfo struct {
	// Digest is the image manifest digest, "sha256:…".
	Digest string `json:"digest"`
	// Labels holds the config labels that matter for matching and
	// rebuilding (com.redhat.component, name, version, release,
	// architecture, org.opencontainers.image.base.*).
	Labels map[string]string `json:"labels,omitempty"`
}

// RPMDB says where the package database was found.
type RPMDB struct {
	// Path is the database file inside the image, e.g. "var/lib/rpm/rpmdb.sqlite".
	Path string `json:"path"`
	// Backend is "sqlite", "bdb" or "ndb".
	Backend string `json:"backend"`
	// LayerDigest is the digest of the (compressed) layer that holds the database.
	LayerDigest string `json:"layer_digest"`
}

// BaseImage identifies the image an image was built on, as the image's own
// metadata names it.
type BaseImage struct {
	// Name is the base's reference as the build wrote it, for example
	// "registry.redhat.io/openshift4/ose-cli:v4.16".
	Name string `json:"name,omitempty"`
	// Digest is the base's manifest digest, "sha256:…", when known.
	Digest string `json:"digest,omitempty"`
	// Source says where Name and Digest were read: "annotation" (the
	// manifest's org.opencontainers.image.base.name and .digest), "label"
	// (config labels of the same names) or "config" (set by the caller).
	Source string `json:"source,omitempty"`
}

// BuildInfo is one Red Hat content manifest found under
// /root/buildinfo/content_manifests: the build of one Red Hat image layer.
type BuildInfo struct {
	// NVR is the manifest's file name without ".json", the Red Hat build
	// that made the layer, e.g.
	// "openshift-enterprise-console-container-v4.16.0-202409181705.p0.g0b1616c.assembly.stream.el9".
	NVR string `json:"nvr"`
	// LayerIndex is the manifest's metadata.image_layer_index, -1 when
	// absent.
	LayerIndex int `json:"layer_index"`
}

// Inventory is everything a scan learns about an image.
type Inventory struct {
	Image       ImageInfo `json:"image"`
	OS          OS        `json:"os"`
	ContentSets []string  `json:"content_sets"`
	Packages    []Package `json:"packages"`
	// RPMDB is nil when the image has no rpmdb (distroless, scratch, Debian…).
	RPMDB *RPMDB `json:"rpmdb,omitempty"`
	// Files lists, package by package in the order of Packages, the files
	// each installed; only scans made [WithFiles] fill it.
	Files []InstalledFiles `json:"files,omitempty"`
	// Base is the image this one was built on, when its metadata says;
	// a caller that knows better (a configured base) may set it.
	Base *BaseImage `json:"base,omitempty"`
	// BuildInfo lists the Red Hat content manifests in the image, the
	// highest layer index first.
	BuildInfo []BuildInfo `json:"buildinfo,omitempty"`
}
