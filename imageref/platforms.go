package imageref

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Platforms returns the platforms ref offers: one per image of a
// multi-platform index (in index order, nested indexes flattened,
// attestations and images without a platform left out), or the platform
// of a single image (DefaultPlatform when its config names none). Open
// with WithPlatform(p) then opens each. Options other than WithPlatform
// apply as for Open.
func Platforms(ctx context.Context, ref string, opts ...Option) ([]v1.Platform, error) {
	o := options{platform: DefaultPlatform, keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(&o)
	}
	var (
		idx   v1.ImageIndex
		descs []v1.Descriptor
	)
	switch {
	case strings.HasPrefix(ref, prefixOCI):
		i, _, found, _, _, err := layoutCandidates(strings.TrimPrefix(ref, prefixOCI))
		if err != nil {
			return nil, fmt.Errorf("imageref: %s: %w", ref, err)
		}
		idx, descs = i, found
	case strings.HasPrefix(ref, prefixDockerArchive):
	default:
		desc, err := getRemote(ctx, strings.TrimPrefix(ref, prefixDocker), &o)
		if err != nil {
			return nil, fmt.Errorf("imageref: %s: %w", ref, err)
		}
		if desc.MediaType.IsIndex() {
			if idx, err = desc.ImageIndex(); err == nil {
				var im *v1.IndexManifest
				if im, err = idx.IndexManifest(); err == nil {
					descs = im.Manifests
				}
			}
			if err != nil {
				return nil, fmt.Errorf("imageref: %s: %w", ref, err)
			}
		}
	}
	if idx != nil && (len(descs) > 1 || len(descs) == 1 && descs[0].MediaType.IsIndex()) {
		ps, err := platformsOf(idx, descs)
		if err != nil {
			return nil, fmt.Errorf("imageref: %s: %w", ref, err)
		}
		if len(ps) > 0 {
			return ps, nil
		}
	}
	img, err := Open(ctx, ref, opts...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("imageref: %s: %w", ref, err)
	}
	if p := cf.Platform(); p != nil && p.OS != "" {
		return []v1.Platform{*p}, nil
	}
	return []v1.Platform{DefaultPlatform}, nil
}

// platformsOf lists the platforms of the images descs name in idx.
func platformsOf(idx v1.ImageIndex, descs []v1.Descriptor) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, d := range descs {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			im, err := child.IndexManifest()
			if err != nil {
				return nil, err
			}
			ps, err := platformsOf(child, im.Manifests)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		case d.MediaType.IsImage() && d.Platform != nil && d.Platform.OS != "" && d.Platform.OS != "unknown":
			out = append(out, *d.Platform)
		}
	}
	return out, nil
}
