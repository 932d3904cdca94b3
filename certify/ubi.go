package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/openabs/abs/partnerapi"
)

// Catalog looks images up in Red Hat's container catalog by manifest
// digest. *partnerapi.Client satisfies it.
type Catalog interface {
	ImagesByDigest(ctx context.Context, digest string) ([]partnerapi.Image, error)
}

var _ Catalog = (*partnerapi.Client)(nil)

// RedHatRegistries are the registries whose images are Red Hat's own.
var RedHatRegistries = []string{"registry.access.redhat.com", "registry.redhat.io"}

// RedHatVendor is the vendor label of Red Hat's images.
const RedHatVendor = "Red Hat, Inc."

// BasedOnUbi requires the image to be built on a Red Hat base (UBI or
// another Red Hat image).
//
// With a Catalog, the base's digest ([Target.BaseDigest]) is looked up:
// the check passes when the catalog lists it as a Red Hat image (on a Red
// Hat registry or with vendor "Red Hat, Inc.") whose layers are the first
// layers of the image. When there is no catalog, the base digest is
// unknown or the catalog does not know it, the image's own record decides:
// a Dockerfile under /root/buildinfo that Red Hat's build system left
// (vendor "Red Hat, Inc." and a com.redhat.component label) or one of its
// content manifests (root/buildinfo/content_manifests/*.json), and a
// recorded base name ([Target.BaseName]), if any, on a Red Hat registry.
type BasedOnUbi struct {
	// Catalog, if set, is asked about the base image.
	Catalog Catalog
}

var _ Check = BasedOnUbi{}

// Name implements [Check].
func (BasedOnUbi) Name() string { return NameBasedOnUbi }

// Description implements [Check].
func (BasedOnUbi) Description() string {
	return "The image is built on the Red Hat Universal Base Image or another Red Hat image."
}

// Validate implements [Check].
func (c BasedOnUbi) Validate(ctx context.Context, t *Target) Result {
	var note string
	if c.Catalog != nil {
		if base := t.BaseDigest(); base != "" {
			r, ok := c.fromCatalog(ctx, t, base)
			if ok {
				return r
			}
			note = r.Reason + "; "
		} else {
			note = "the base digest is not recorded; "
		}
	}
	r := c.fromRecord(ctx, t)
	r.Reason = note + r.Reason
	return r
}

// fromCatalog returns the result and true when the catalog decides.
func (c BasedOnUbi) fromCatalog(ctx context.Context, t *Target, base string) (Result, bool) {
	imgs, err := c.Catalog.ImagesByDigest(ctx, base)
	if err != nil {
		if errors.Is(err, partnerapi.ErrNotFound) {
			return failed(c.Name(), fmt.Sprintf("base %s is not in the catalog", base)), false
		}
		return errorResult(c.Name(), fmt.Errorf("certify: catalog lookup of base %s: %w", base, err)), true
	}
	if len(imgs) == 0 {
		return failed(c.Name(), fmt.Sprintf("base %s is not in the catalog", base)), false
	}
	layers, err := layerDigests(t.Image)
	if err != nil {
		return errorResult(c.Name(), fmt.Errorf("certify: manifest: %w", err)), true
	}
	var diffIDs []string
	if cfg, err := t.Config(); err == nil {
		for _, d := range cfg.RootFS.DiffIDs {
			diffIDs = append(diffIDs, d.String())
		}
	}
	for _, img := range imgs {
		if !isRedHatImage(img) {
			continue
		}
		if n, ok := baseLayersMatch(img, layers, diffIDs); ok {
			return passed(c.Name(), fmt.Sprintf("base %s is the Red Hat image %s; its %d layers begin the image", base, catalogName(img), n)), true
		}
	}
	for _, img := range imgs {
		if isRedHatImage(img) {
			return failed(c.Name(), fmt.Sprintf("base %s is the Red Hat image %s, but its layers are not the image's first layers", base, catalogName(img))), true
		}
	}
	return failed(c.Name(), fmt.Sprintf("base %s (%s) is not a Red Hat image", base, catalogName(imgs[0]))), true
}

func isRedHatImage(img partnerapi.Image) bool {
	for _, r := range img.Repositories {
		for _, reg := range RedHatRegistries {
			if r.Registry == reg {
				return true
			}
		}
	}
	v, _ := img.ParsedData.Label("vendor")
	return v == RedHatVendor
}

func catalogName(img partnerapi.Image) string {
	if len(img.Repositories) > 0 {
		return img.Repositories[0].Registry + "/" + img.Repositories[0].Repository
	}
	if img.Brew != nil && img.Brew.Build != "" {
		return img.Brew.Build
	}
	return img.ID
}

// baseLayersMatch reports whether the catalog image's layers (compressed
// digests, base first) begin the image's layers; without a layer list,
// its top (first) layer must be the image's first layer.
func baseLayersMatch(img partnerapi.Image, layers, diffIDs []string) (int, bool) {
	if img.ParsedData != nil && len(img.ParsedData.Layers) > 0 {
		want := img.ParsedData.Layers
		if len(want) > len(layers) {
			return 0, false
		}
		for i, d := range want {
			if d != layers[i] {
				return 0, false
			}
		}
		return len(want), true
	}
	if img.TopLayerID != "" && len(layers) > 0 && (img.TopLayerID == layers[0] || len(diffIDs) > 0 && img.TopLayerID == diffIDs[0]) {
		return 1, true
	}
	return 0, false
}

// fromRecord decides from what the image records about its base.
func (c BasedOnUbi) fromRecord(ctx context.Context, t *Target) Result {
	if name := t.BaseName(); name != "" && !onRedHatRegistry(name) {
		return failed(c.Name(), fmt.Sprintf("the base is recorded as %s, not an image on a Red Hat registry", name))
	}
	f, err := t.FS(ctx)
	if err != nil {
		return errorResult(c.Name(), err)
	}
	var components []string
	_ = f.Walk("root/buildinfo", func(e Entry) error {
		if e.Type != TypeRegular {
			return nil
		}
		b, ok := f.Content(e.Path)
		if !ok {
			return nil
		}
		base := path.Base(e.Path)
		switch {
		case strings.HasPrefix(base, "Dockerfile-"):
			labels := DockerfileLabels(string(b))
			if labels["vendor"] == RedHatVendor && labels["com.redhat.component"] != "" {
				components = append(components, labels["com.redhat.component"])
			}
		case path.Dir(e.Path) == "root/buildinfo/content_manifests" && strings.HasSuffix(base, ".json"):
			if isContentManifest(b) {
				components = append(components, strings.TrimSuffix(base, ".json"))
			}
		}
		return nil
	})
	if len(components) == 0 {
		return failed(c.Name(), "no Red Hat build record under /root/buildinfo")
	}
	return passed(c.Name(), "built on the Red Hat image "+list(components)+" (from /root/buildinfo)")
}

// isContentManifest reports whether b is an image content manifest as
// Red Hat's build system (atomic-reactor) writes them.
func isContentManifest(b []byte) bool {
	var m struct {
		Metadata struct {
			ICMVersion int `json:"icm_version"`
		} `json:"metadata"`
		ContentSets []string `json:"content_sets"`
	}
	return json.Unmarshal(b, &m) == nil && m.Metadata.ICMVersion > 0 && len(m.ContentSets) > 0
}

func onRedHatRegistry(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	for _, reg := range RedHatRegistries {
		if host == reg {
			return true
		}
	}
	return false
}

var (
	labelInstr = regexp.MustCompile(`(?i)^\s*LABEL\s+(.*)$`)
	labelPair  = regexp.MustCompile(`(?:"((?:[^"\\]|\\.)*)"|([^\s="]+))=(?:"((?:[^"\\]|\\.)*)"|(\S*))`)
	unescape   = strings.NewReplacer(`\"`, `"`, `\\`, `\`)
)

// maxDockerfile caps how much of a Dockerfile DockerfileLabels reads.
const maxDockerfile = 1 << 20

// DockerfileLabels returns the labels set by the LABEL instructions of a
// Dockerfile (key=value pairs, quoted or not, with line continuations);
// a later value wins.
func DockerfileLabels(dockerfile string) map[string]string {
	if len(dockerfile) > maxDockerfile {
		dockerfile = dockerfile[:maxDockerfile]
	}
	labels := map[string]string{}
	var instr strings.Builder
	flush := func() {
		m := labelInstr.FindStringSubmatch(instr.String())
		instr.Reset()
		if m == nil {
			return
		}
		for _, p := range labelPair.FindAllStringSubmatch(m[1], -1) {
			k := p[2]
			if p[1] != "" {
				k = unescape.Replace(p[1])
			}
			v := p[4]
			if p[4] == "" {
				v = unescape.Replace(p[3])
			}
			labels[k] = v
		}
	}
	for line := range strings.Lines(dockerfile) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			instr.WriteString(cont)
			instr.WriteByte(' ')
			continue
		}
		instr.WriteString(line)
		flush()
	}
	flush()
	return labels
}

// layerDigests returns the digests of img's layers, base first.
func layerDigests(img v1.Image) ([]string, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = l.Digest.String()
	}
	return out, nil
}
