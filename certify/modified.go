package certify

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/openabs/abs/rpmscan"
)

// modifiable are the files an image may change after rpm installed them.
const modifiable = rpmscan.FileConfig | rpmscan.FileDoc | rpmscan.FileMissingOK | rpmscan.FileGhost |
	rpmscan.FileLicense | rpmscan.FileReadme | rpmscan.FileArtifact

// FileLister returns the inventory of an image's live rpmdb with each
// package's installed files and install time ([rpmscan.Inventory.Files]).
// It is the seam between HasModifiedFiles and the rpmdb reader; an image
// without an rpmdb gives an inventory without packages, and no error.
// [ScannerFiles] is the default.
type FileLister interface {
	Files(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error)
}

// ScannerFiles is a [FileLister] that scans with an rpmscan.Scanner made
// to record files. A nil Scanner is rpmscan.New(rpmscan.WithFiles()); to
// set other scanner options (limits, temporary directory), pass
// ScannerFiles{Scanner: rpmscan.New(rpmscan.WithFiles(), opts...)} to
// [WithFileLister].
type ScannerFiles struct {
	Scanner rpmscan.Scanner
}

var _ FileLister = ScannerFiles{}

// Files implements [FileLister].
func (s ScannerFiles) Files(ctx context.Context, img v1.Image) (*rpmscan.Inventory, error) {
	sc := s.Scanner
	if sc == nil {
		sc = rpmscan.New(rpmscan.WithFiles())
	}
	return sc.Scan(ctx, img)
}

// HasModifiedFiles rejects an image in which a layer changes or deletes a
// file that a Red Hat RPM installed in a lower layer, outside rpm.
//
// Files under etc/, var/, run/, usr/tmp/ and usr/lib/.build-id/, *.cache
// files under usr/, directories and files rpm marks config, doc, license,
// readme, missingok, ghost or artifact may change. A layer that
// reinstalls or updates the owning package (its rpmdb records a later
// install or another version) may change its files, unless the new
// package is of another architecture. Removing setuid or setgid bits is
// allowed. Files of packages from other vendors are not checked.
type HasModifiedFiles struct {
	// Files lists the files each RPM installed; without it the check
	// reports [Error] wrapping [ErrNoFileLister]. Policies made by [New]
	// use [ScannerFiles] unless [WithFileLister] says otherwise.
	Files FileLister
}

var _ Check = HasModifiedFiles{}

// Name implements [Check].
func (HasModifiedFiles) Name() string { return NameHasModifiedFiles }

// Description implements [Check].
func (HasModifiedFiles) Description() string {
	return "No file a Red Hat RPM installed is changed by a later layer outside rpm."
}

type owner struct {
	nevra       string
	vendor      string
	arch        string
	installTime int64
}

var excludedDirs = []string{"etc", "var", "run", "usr/lib/.build-id", "usr/tmp", "usr/share/openstack-dashboard"}

func excludedPath(p string) bool {
	for _, d := range excludedDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return strings.HasPrefix(p, "usr/") && strings.HasSuffix(p, ".cache")
}

// Validate implements [Check].
func (c HasModifiedFiles) Validate(ctx context.Context, t *Target) Result {
	if c.Files == nil {
		return errorResult(c.Name(), ErrNoFileLister)
	}
	f, err := t.FS(ctx)
	if err != nil {
		return errorResult(c.Name(), err)
	}
	layers := f.Layers()
	imgLayers, err := t.Image.Layers()
	if err != nil {
		return errorResult(c.Name(), fmt.Errorf("certify: layers: %w", err))
	}
	// The rpmdb as of each layer that wrote one.
	states := make([]map[string]owner, len(layers))
	found := false
	for i, l := range layers {
		if !l.RPMDB {
			if i > 0 {
				states[i] = states[i-1]
			}
			continue
		}
		found = true
		prefix, err := mutate.AppendLayers(empty.Image, imgLayers[:i+1]...)
		if err != nil {
			return errorResult(c.Name(), fmt.Errorf("certify: layers 0-%d: %w", i, err))
		}
		inv, err := c.Files.Files(ctx, prefix)
		if err != nil {
			return errorResult(c.Name(), fmt.Errorf("certify: rpm files as of layer %d: %w", i, err))
		}
		if len(inv.Packages) > 0 && len(inv.Files) == 0 {
			return errorResult(c.Name(), fmt.Errorf("certify: the FileLister lists no files for the %d packages as of layer %d (a scanner made without rpmscan.WithFiles?)", len(inv.Packages), i))
		}
		states[i] = owners(inv)
	}
	if !found {
		return passed(c.Name(), "the image has no rpm database")
	}
	lastMode := map[string]fs.FileMode{}
	var bad []string
	checked := 0
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return errorResult(c.Name(), err)
		}
		linkTargets := map[string]bool{}
		for _, ch := range l.Changes {
			if ch.Type == TypeHardlink {
				if e, ok := f.Lookup(ch.Path); ok {
					linkTargets[e.Linkname] = true
				}
			}
		}
		for _, ch := range l.Changes {
			prevMode, hadMode := lastMode[ch.Path]
			if !ch.Whiteout {
				lastMode[ch.Path] = ch.Mode
			}
			if i == 0 || states[i-1] == nil || ch.Capability || linkTargets[ch.Path] || excludedPath(ch.Path) {
				continue
			}
			prev, ok := states[i-1][ch.Path]
			if !ok {
				continue
			}
			checked++
			if l.RPMDB {
				cur, ok := states[i][ch.Path]
				if !ok {
					continue // the package was removed, or no longer owns it
				}
				if cur.nevra != prev.nevra {
					if cur.arch != prev.arch && prev.vendor == RedHatVendor {
						bad = append(bad, fmt.Sprintf("%s (%s replaced by %s in layer %d)", ch.Path, prev.nevra, cur.nevra, i))
					}
					continue
				}
				if cur.installTime > prev.installTime {
					continue // reinstalled in this layer
				}
			}
			if prev.vendor != RedHatVendor {
				continue
			}
			if hadMode && !ch.Whiteout && (prevMode&fs.ModeSetuid != 0 && ch.Mode&fs.ModeSetuid == 0 ||
				prevMode&fs.ModeSetgid != 0 && ch.Mode&fs.ModeSetgid == 0) {
				continue // hardening: setuid/setgid removed
			}
			what := "changed"
			if ch.Whiteout {
				what = "deleted"
			}
			bad = append(bad, fmt.Sprintf("%s (%s, %s in layer %d)", ch.Path, prev.nevra, what, i))
		}
	}
	if len(bad) > 0 {
		return failed(c.Name(), "files installed by Red Hat RPMs are modified outside rpm: "+list(bad))
	}
	return passed(c.Name(), fmt.Sprintf("no RPM-installed file is modified (%d later writes to RPM files checked)", checked))
}

// owners maps each checked file (relative path) to the package that
// installed it.
func owners(inv *rpmscan.Inventory) map[string]owner {
	pkgs := make(map[string]rpmscan.Package, len(inv.Packages))
	for _, p := range inv.Packages {
		pkgs[p.NEVRA()] = p
	}
	m := map[string]owner{}
	for _, pf := range inv.Files {
		p := pkgs[pf.NEVRA]
		o := owner{nevra: pf.NEVRA, vendor: p.Vendor, arch: p.Arch, installTime: pf.InstallTime}
		for _, file := range pf.Files {
			if file.IsDir() || file.Flags&modifiable != 0 {
				continue
			}
			rel := clean(file.Path)
			if rel == "" || excludedPath(rel) {
				continue
			}
			if old, ok := m[rel]; ok && old.nevra != o.nevra && strings.TrimSuffix(old.nevra, "."+old.arch) == strings.TrimSuffix(o.nevra, "."+o.arch) {
				continue // multilib: the same file from both arches
			}
			m[rel] = o
		}
	}
	return m
}
