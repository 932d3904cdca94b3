package publish

import (
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifact is the content of a Request, resolved once.
type artifact struct {
	taggable  remote.Taggable
	digest    v1.Hash
	mediaType types.MediaType
	index     bool
	manifests []string // this manifest first, then children depth-first
	blobs     []string
}

func (req Request) artifact() (*artifact, error) {
	switch {
	case req.Image != nil && req.Index != nil:
		return nil, fmt.Errorf("%w: both Image and Index are set", ErrInvalidRequest)
	case req.Image != nil:
		a := &artifact{taggable: req.Image}
		if err := a.addImage(req.Image); err != nil {
			return nil, err
		}
		return a, nil
	case req.Index != nil:
		a := &artifact{taggable: req.Index, index: true}
		if err := a.addIndex(req.Index); err != nil {
			return nil, err
		}
		return a, nil
	default:
		return nil, fmt.Errorf("%w: neither Image nor Index is set", ErrInvalidRequest)
	}
}

func (a *artifact) setRoot(d v1.Hash, mt types.MediaType) {
	if len(a.manifests) == 0 {
		a.digest, a.mediaType = d, mt
	}
	a.manifests = append(a.manifests, d.String())
}

func (a *artifact) addBlob(d v1.Hash) {
	if !slices.Contains(a.blobs, d.String()) {
		a.blobs = append(a.blobs, d.String())
	}
}

func (a *artifact) addImage(img v1.Image) error {
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("publish: image digest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("publish: image %s media type: %w", d, err)
	}
	a.setRoot(d, mt)
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("publish: image %s manifest: %w", d, err)
	}
	a.addBlob(m.Config.Digest)
	for _, l := range m.Layers {
		a.addBlob(l.Digest)
	}
	return nil
}

func (a *artifact) addIndex(idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("publish: index digest: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return fmt.Errorf("publish: index %s media type: %w", d, err)
	}
	a.setRoot(d, mt)
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("publish: index %s manifest: %w", d, err)
	}
	if len(im.Manifests) == 0 {
		return fmt.Errorf("%w: index %s has no manifests", ErrInvalidRequest, d)
	}
	for _, desc := range im.Manifests {
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return fmt.Errorf("publish: index %s child %s: %w", d, desc.Digest, err)
			}
			if err := a.addIndex(child); err != nil {
				return err
			}
		case desc.MediaType.IsImage():
			child, err := idx.Image(desc.Digest)
			if err != nil {
				return fmt.Errorf("publish: index %s child %s: %w", d, desc.Digest, err)
			}
			if err := a.addImage(child); err != nil {
				return err
			}
		default:
			// Attestations and other artifacts: publish the manifest,
			// not its blobs.
			a.manifests = append(a.manifests, desc.Digest.String())
		}
	}
	return nil
}
