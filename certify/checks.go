package certify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// The names of the container policy's checks, as [Result.Check] and
// [Block.Check] carry them.
const (
	NameHasLicense                 = "HasLicense"
	NameHasUniqueTag               = "HasUniqueTag"
	NameLayerCountAcceptable       = "LayerCountAcceptable"
	NameHasNoProhibitedPackages    = "HasNoProhibitedPackages"
	NameHasRequiredLabel           = "HasRequiredLabel"
	NameHasNoProhibitedLabels      = "HasNoProhibitedLabels"
	NameRunAsNonRoot               = "RunAsNonRoot"
	NameHasModifiedFiles           = "HasModifiedFiles"
	NameBasedOnUbi                 = "BasedOnUbi"
	NameHasProhibitedContainerName = "HasProhibitedContainerName"
)

// MaxLayers is the most layers LayerCountAcceptable accepts.
const MaxLayers = 40

// RequiredLabels are the labels HasRequiredLabel requires.
var RequiredLabels = []string{"name", "vendor", "version", "release", "summary", "description", "maintainer"}

// TrademarkLabels are the labels HasNoProhibitedLabels reads.
var TrademarkLabels = []string{"name", "vendor", "maintainer"}

// ProhibitedPackages are the RPMs HasNoProhibitedPackages rejects: kernel
// and boot packages that are not distributable outside Red Hat's
// products. Any package whose name starts with "kpatch" is rejected too.
var ProhibitedPackages = []string{
	"grub", "grub2",
	"kernel", "kernel-core", "kernel-debug", "kernel-debug-core", "kernel-debug-devel",
	"kernel-debug-modules", "kernel-debug-modules-extra", "kernel-devel", "kernel-doc",
	"kernel-modules", "kernel-modules-extra", "kernel-tools", "kernel-tools-libs",
	"kmod-kvdo", "linux-firmware",
}

const prohibitedPrefix = "kpatch"

// list joins names for a reason, keeping it short.
func list(names []string) string {
	const most = 8
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// HasLicense requires a /licenses directory holding at least one
// non-empty file (symlinks are followed inside the image).
type HasLicense struct{}

// Name implements [Check].
func (HasLicense) Name() string { return NameHasLicense }

// Description implements [Check].
func (HasLicense) Description() string {
	return "The license terms of the software are in at least one non-empty file under /licenses."
}

// Validate implements [Check].
func (c HasLicense) Validate(ctx context.Context, t *Target) Result {
	f, err := t.FS(ctx)
	if err != nil {
		return errorResult(c.Name(), err)
	}
	dir, err := f.Stat("licenses")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return failed(c.Name(), "the image has no /licenses directory")
	case err != nil:
		return failed(c.Name(), "/licenses cannot be resolved: "+err.Error())
	case dir.Type != TypeDir:
		return failed(c.Name(), "/licenses is not a directory")
	}
	files, nonEmpty := 0, 0
	err = f.Walk(dir.Path, func(e Entry) error {
		if e.Type == TypeDir {
			return nil
		}
		r, err := f.Stat(e.Path)
		if err != nil || (r.Type != TypeRegular && r.Type != TypeHardlink) {
			return nil // broken, looping or special: not a license file
		}
		files++
		if r.Size > 0 {
			nonEmpty++
		}
		return nil
	})
	if err != nil {
		return errorResult(c.Name(), err)
	}
	if nonEmpty == 0 {
		return failed(c.Name(), fmt.Sprintf("/licenses holds %d files, none of them non-empty", files))
	}
	return passed(c.Name(), fmt.Sprintf("/licenses holds %d non-empty files", nonEmpty))
}

// HasUniqueTag requires a tag other than "latest" among [Subject.Tags].
type HasUniqueTag struct{}

// Name implements [Check].
func (HasUniqueTag) Name() string { return NameHasUniqueTag }

// Description implements [Check].
func (HasUniqueTag) Description() string {
	return "The image has a tag other than latest, so that it can be identified uniquely."
}

// Validate implements [Check].
func (c HasUniqueTag) Validate(_ context.Context, t *Target) Result {
	for _, tag := range t.Tags {
		if tag != "" && !strings.EqualFold(tag, "latest") {
			return passed(c.Name(), "tagged "+tag)
		}
	}
	if len(t.Tags) == 0 {
		return failed(c.Name(), "the image has no tag")
	}
	return failed(c.Name(), "the image is only tagged latest")
}

// LayerCountAcceptable requires at most [MaxLayers] layers.
type LayerCountAcceptable struct{}

// Name implements [Check].
func (LayerCountAcceptable) Name() string { return NameLayerCountAcceptable }

// Description implements [Check].
func (LayerCountAcceptable) Description() string {
	return fmt.Sprintf("The image has at most %d layers.", MaxLayers)
}

// Validate implements [Check].
func (c LayerCountAcceptable) Validate(_ context.Context, t *Target) Result {
	m, err := t.Image.Manifest()
	if err != nil {
		return errorResult(c.Name(), fmt.Errorf("certify: manifest: %w", err))
	}
	n := len(m.Layers)
	if n > MaxLayers {
		return failed(c.Name(), fmt.Sprintf("%d layers, more than %d", n, MaxLayers))
	}
	return passed(c.Name(), fmt.Sprintf("%d layers", n))
}

// HasNoProhibitedPackages rejects the [ProhibitedPackages] and kpatch*
// packages. An image without an rpmdb is an [Error]: it belongs to a
// scratch policy.
type HasNoProhibitedPackages struct{}

// Name implements [Check].
func (HasNoProhibitedPackages) Name() string { return NameHasNoProhibitedPackages }

// Description implements [Check].
func (HasNoProhibitedPackages) Description() string {
	return "No kernel, grub or kpatch package, which cannot be redistributed, is installed."
}

// Validate implements [Check].
func (c HasNoProhibitedPackages) Validate(ctx context.Context, t *Target) Result {
	inv, err := t.Inventory(ctx)
	if err != nil {
		return errorResult(c.Name(), err)
	}
	if inv.RPMDB == nil {
		return errorResult(c.Name(), errors.New("certify: the image has no rpm database; certify it with a scratch policy"))
	}
	var bad []string
	for _, p := range inv.Packages {
		if slices.Contains(ProhibitedPackages, p.Name) || strings.HasPrefix(p.Name, prohibitedPrefix) {
			bad = append(bad, p.Name)
		}
	}
	if len(bad) > 0 {
		return failed(c.Name(), "prohibited packages installed: "+list(bad))
	}
	return passed(c.Name(), fmt.Sprintf("none of %d packages is prohibited", len(inv.Packages)))
}

// HasRequiredLabel requires every one of [RequiredLabels], non-empty.
type HasRequiredLabel struct{}

// Name implements [Check].
func (HasRequiredLabel) Name() string { return NameHasRequiredLabel }

// Description implements [Check].
func (HasRequiredLabel) Description() string {
	return "The labels " + strings.Join(RequiredLabels, ", ") + " are set."
}

// Validate implements [Check].
func (c HasRequiredLabel) Validate(_ context.Context, t *Target) Result {
	labels, err := t.Labels()
	if err != nil {
		return errorResult(c.Name(), err)
	}
	var missing []string
	for _, l := range RequiredLabels {
		if strings.TrimSpace(labels[l]) == "" {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		return failed(c.Name(), "missing labels: "+list(missing))
	}
	return passed(c.Name(), "every required label is set")
}

// HasNoProhibitedLabels rejects [TrademarkLabels] that use Red Hat's
// trademark (see [ViolatesTrademark]).
type HasNoProhibitedLabels struct{}

// Name implements [Check].
func (HasNoProhibitedLabels) Name() string { return NameHasNoProhibitedLabels }

// Description implements [Check].
func (HasNoProhibitedLabels) Description() string {
	return "The name, vendor and maintainer labels do not use the Red Hat trademark."
}

// Validate implements [Check].
func (c HasNoProhibitedLabels) Validate(_ context.Context, t *Target) Result {
	labels, err := t.Labels()
	if err != nil {
		return errorResult(c.Name(), err)
	}
	var bad []string
	for _, l := range TrademarkLabels {
		if ViolatesTrademark(labels[l]) {
			bad = append(bad, fmt.Sprintf("%s=%q", l, labels[l]))
		}
	}
	if len(bad) > 0 {
		return failed(c.Name(), "labels use the Red Hat trademark: "+list(bad))
	}
	return passed(c.Name(), "no label uses the Red Hat trademark")
}

// RunAsNonRoot requires the configuration's User to be set and not to be
// root ("root", "0", or either with a group).
type RunAsNonRoot struct{}

// Name implements [Check].
func (RunAsNonRoot) Name() string { return NameRunAsNonRoot }

// Description implements [Check].
func (RunAsNonRoot) Description() string {
	return "The image names a user to run as, and it is not root."
}

// Validate implements [Check].
func (c RunAsNonRoot) Validate(_ context.Context, t *Target) Result {
	cfg, err := t.Config()
	if err != nil {
		return errorResult(c.Name(), err)
	}
	u := strings.TrimSpace(cfg.Config.User)
	user, _, _ := strings.Cut(u, ":")
	switch {
	case u == "":
		return failed(c.Name(), "no USER is set, so the image runs as root")
	case user == "root" || strings.TrimLeft(user, "0") == "":
		return failed(c.Name(), fmt.Sprintf("USER %q is root", u))
	}
	return passed(c.Name(), fmt.Sprintf("runs as %q", u))
}

// HasProhibitedContainerName rejects a repository whose last element uses
// Red Hat's trademark (see [ViolatesTrademark]).
type HasProhibitedContainerName struct{}

// Name implements [Check].
func (HasProhibitedContainerName) Name() string { return NameHasProhibitedContainerName }

// Description implements [Check].
func (HasProhibitedContainerName) Description() string {
	return "The container name (the last element of the repository) does not use the Red Hat trademark."
}

// Validate implements [Check].
func (c HasProhibitedContainerName) Validate(_ context.Context, t *Target) Result {
	repo := strings.TrimSpace(t.Repository)
	if repo == "" {
		return errorResult(c.Name(), errors.New("certify: no repository given"))
	}
	name := repo[strings.LastIndex(repo, "/")+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	if ViolatesTrademark(name) {
		return failed(c.Name(), fmt.Sprintf("container name %q uses the Red Hat trademark", name))
	}
	return passed(c.Name(), fmt.Sprintf("container name %q", name))
}

var (
	redHat       = regexp.MustCompile(`red[^a-z0-9]*hat`)
	leadRedHat   = regexp.MustCompile(`^[^a-z0-9]*red[^a-z0-9]*hat`)
	forSeparator = regexp.MustCompile(`for[^a-z0-9]*$`)
)

// ViolatesTrademark reports whether s uses "Red Hat" (in any case, with
// any separators) other than to say something is "for Red Hat": a value
// that starts with Red Hat always violates it.
func ViolatesTrademark(s string) bool {
	s = strings.ToLower(s)
	if leadRedHat.MatchString(s) {
		return true
	}
	for _, m := range redHat.FindAllStringIndex(s, -1) {
		if !forSeparator.MatchString(s[:m[0]]) {
			return true
		}
	}
	return false
}

var (
	_ Check = HasLicense{}
	_ Check = HasUniqueTag{}
	_ Check = LayerCountAcceptable{}
	_ Check = HasNoProhibitedPackages{}
	_ Check = HasRequiredLabel{}
	_ Check = HasNoProhibitedLabels{}
	_ Check = RunAsNonRoot{}
	_ Check = HasProhibitedContainerName{}
)
