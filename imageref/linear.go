package imageref

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// go-containerregistry's layout and tarball images re-parse the manifest or
// re-scan the whole archive for every layer, which makes an image of n
// layers cost O(n²) to walk (an archive of 4,000 layers took minutes). The
// images below read the manifest, the config and the archive's table of
// contents once, so walking the layers is linear.

const (
	// maxJSON bounds manifest.json and the config read from an archive.
	maxJSON = 32 << 20
	// maxArchiveEntries bounds the entries of a docker archive.
	maxArchiveEntries = 1 << 20
	// maxLinkHops bounds symbolic links followed inside an archive.
	maxLinkHops = 16
)

// image is a v1.Image whose layers are built once, in manifest order.
type image struct {
	mediaType types.MediaType
	rawConfig []byte
	layers    []v1.Layer

	once        sync.Once
	rawManifest []byte
	manifestErr error
	// makeManifest computes the manifest when the source has none (a
	// docker archive); nil when rawManifest is given.
	makeManifest func() ([]byte, error)
}

var _ v1.Image = (*image)(nil)

func (i *image) Layers() ([]v1.Layer, error)         { return append([]v1.Layer(nil), i.layers...), nil }
func (i *image) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *image) RawConfigFile() ([]byte, error)      { return i.rawConfig, nil }
func (i *image) ConfigName() (v1.Hash, error)        { return partial.ConfigName(i) }
func (i *image) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.rawConfig))
}
func (i *image) Digest() (v1.Hash, error)                  { return partial.Digest(i) }
func (i *image) Manifest() (*v1.Manifest, error)           { return partial.Manifest(i) }
func (i *image) Size() (int64, error)                      { return partial.Size(i) }
func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) { return i.find(h, v1.Layer.DiffID) }

func (i *image) RawManifest() ([]byte, error) {
	i.once.Do(func() {
		if i.makeManifest != nil {
			i.rawManifest, i.manifestErr = i.makeManifest()
		}
	})
	return i.rawManifest, i.manifestErr
}

func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if cn, err := i.ConfigName(); err == nil && cn == h {
		return partial.ConfigLayer(i)
	}
	return i.find(h, v1.Layer.Digest)
}

func (i *image) find(h v1.Hash, key func(v1.Layer) (v1.Hash, error)) (v1.Layer, error) {
	for _, l := range i.layers {
		k, err := key(l)
		if err != nil {
			return nil, err
		}
		if k == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("layer %s not found", h)
}

// diffIDs returns the config's diff_ids, which must pair with n layers.
func diffIDs(rawConfig []byte, n int) ([]v1.Hash, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(cf.RootFS.DiffIDs) != n {
		return nil, fmt.Errorf("config lists %d diff_ids for %d layers", len(cf.RootFS.DiffIDs), n)
	}
	return cf.RootFS.DiffIDs, nil
}

// blobLayer is a layer stored as a blob addressed by its descriptor; its
// diff_id comes from the config.
type blobLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	open   func() (io.ReadCloser, error)
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *blobLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return l.open() }

// linearLayout rebuilds img, read from the layout at dir, as an image whose
// layers are built in one pass.
func linearLayout(dir string, img v1.Image) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	rawConfig, err := p.Bytes(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	ids, err := diffIDs(rawConfig, len(m.Layers))
	if err != nil {
		return nil, err
	}
	out := &image{mediaType: mt, rawConfig: rawConfig, rawManifest: raw, layers: make([]v1.Layer, len(m.Layers))}
	for i, d := range m.Layers {
		out.layers[i], err = partial.CompressedToLayer(&blobLayer{
			desc: d, diffID: ids[i],
			open: func() (io.ReadCloser, error) { return p.Blob(d.Digest) },
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tarEntry locates a file inside an archive.
type tarEntry struct {
	off, size int64
	link      string // target of a link, archive-relative; "" for a file
}

// archive is the table of contents of a tar file, read once.
type archive struct {
	path    string
	entries map[string]tarEntry
}

func indexArchive(p string) (*archive, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &archive{path: p, entries: map[string]tarEntry{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return a, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if len(a.entries) >= maxArchiveEntries {
			return nil, fmt.Errorf("archive has more than %d entries", maxArchiveEntries)
		}
		name := path.Clean(hdr.Name)
		if _, dup := a.entries[name]; dup {
			continue // the first entry of a name wins, as in go-containerregistry
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			// tar.Reader reads headers straight from f, so f's offset is
			// where this entry's content starts.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			a.entries[name] = tarEntry{off: off, size: hdr.Size}
		case tar.TypeSymlink:
			a.entries[name] = tarEntry{link: path.Join(path.Dir(name), hdr.Linkname)}
		case tar.TypeLink:
			a.entries[name] = tarEntry{link: path.Clean(hdr.Linkname)}
		}
	}
}

// lookup resolves name, following links, to a file entry.
func (a *archive) lookup(name string) (tarEntry, error) {
	name = path.Clean(name)
	for range maxLinkHops {
		e, ok := a.entries[name]
		if !ok {
			return tarEntry{}, fmt.Errorf("file %s not found in archive", name)
		}
		if e.link == "" {
			return e, nil
		}
		name = e.link
	}
	return tarEntry{}, fmt.Errorf("too many links resolving %s in archive", name)
}

// sectionFile reads one entry of an open archive; it has no other method,
// so io.Copy cannot reach the whole file through *os.File's WriteTo.
type sectionFile struct {
	r *io.SectionReader
	f *os.File
}

func (s sectionFile) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s sectionFile) Close() error               { return s.f.Close() }

// open returns the content of the named file.
func (a *archive) open(name string) (io.ReadCloser, error) {
	e, err := a.lookup(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	return sectionFile{io.NewSectionReader(f, e.off, e.size), f}, nil
}

func (a *archive) readAll(name string, limit int64) ([]byte, error) {
	rc, err := a.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

var errSeveralImages = errors.New("the archive holds several images; name one as FILE:REPO:TAG")

// linearArchive opens the image tagged t (the only one when t is nil) in
// the docker archive at p. Its digests are those go-containerregistry's
// tarball package computes.
func linearArchive(p string, t *name.Tag) (v1.Image, error) {
	a, err := indexArchive(p)
	if err != nil {
		return nil, err
	}
	rawTOC, err := a.readAll("manifest.json", maxJSON)
	if err != nil {
		return nil, err
	}
	var toc tarball.Manifest
	if err := json.Unmarshal(rawTOC, &toc); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	desc, err := findDescriptor(toc, t)
	if err != nil {
		return nil, err
	}
	rawConfig, err := a.readAll(desc.Config, maxJSON)
	if err != nil {
		return nil, err
	}
	ids, err := diffIDs(rawConfig, len(desc.Layers))
	if err != nil {
		return nil, err
	}
	img := &image{mediaType: types.DockerManifestSchema2, rawConfig: rawConfig, layers: make([]v1.Layer, len(desc.Layers))}
	compressed := false
	if len(desc.Layers) > 0 {
		if compressed, err = a.compressed(desc.Layers[0]); err != nil {
			return nil, err
		}
	}
	descs := make([]func() (v1.Descriptor, error), len(desc.Layers))
	for i, lp := range desc.Layers {
		open := func() (io.ReadCloser, error) { return a.open(lp) }
		foreign, isForeign := desc.LayerSources[ids[i]]
		switch {
		case compressed:
			l := &archiveLayer{diffID: ids[i], mediaType: types.DockerLayer, open: open}
			if isForeign {
				l.mediaType = foreign.MediaType
				l.once.Do(func() { l.desc = foreign })
			}
			img.layers[i], err = partial.CompressedToLayer(l)
			descs[i] = l.descriptor
		default:
			ul := &plainArchiveLayer{diffID: ids[i], mediaType: types.DockerLayer, open: open}
			var core partial.UncompressedLayer = ul
			if isForeign && foreign.MediaType != types.DockerUncompressedLayer && foreign.MediaType != types.OCIUncompressedLayer {
				ul.mediaType, ul.desc = foreign.MediaType, &foreign
				core = foreignPlainLayer{ul}
			}
			var l v1.Layer
			l, err = partial.UncompressedToLayer(core)
			img.layers[i] = plainLayer{l}
			descs[i] = func() (v1.Descriptor, error) {
				d, err := partial.Descriptor(l)
				if err != nil {
					return v1.Descriptor{}, err
				}
				return *d, nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
	img.makeManifest = func() ([]byte, error) {
		cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(rawConfig))
		if err != nil {
			return nil, err
		}
		m := &v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.DockerManifestSchema2,
			Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: cfgSize, Digest: cfgHash},
			Layers:        make([]v1.Descriptor, len(descs)),
		}
		for i, d := range descs {
			if m.Layers[i], err = d(); err != nil {
				return nil, err
			}
		}
		return json.Marshal(m)
	}
	return img, nil
}

// findDescriptor picks the image of toc tagged t, or the only one.
func findDescriptor(toc tarball.Manifest, t *name.Tag) (*tarball.Descriptor, error) {
	if t == nil {
		if len(toc) != 1 {
			return nil, fmt.Errorf("%w: %w", ErrAmbiguous, errSeveralImages)
		}
		return &toc[0], nil
	}
	for i, d := range toc {
		for _, s := range d.RepoTags {
			rt, err := name.NewTag(s)
			if err != nil {
				return nil, err
			}
			if rt.Name() == t.Name() {
				return &toc[i], nil
			}
		}
	}
	return nil, fmt.Errorf("%w: tag %s", ErrNotFound, t)
}

// compressed reports whether the layer file starts with a gzip or zstd
// magic number.
func (a *archive) compressed(name string) (bool, error) {
	rc, err := a.open(name)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(rc, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, err
	}
	head = head[:n]
	return bytes.HasPrefix(head, []byte{0x1f, 0x8b}) || bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}), nil
}

// archiveLayer is a compressed layer file of an archive; its digest is
// computed on first use. Its media type is known without it, so a reader
// asking for the media type before reading does not wait for a hash of
// the whole file.
type archiveLayer struct {
	diffID    v1.Hash
	mediaType types.MediaType
	open      func() (io.ReadCloser, error)

	once sync.Once
	desc v1.Descriptor
	err  error
}

func (l *archiveLayer) descriptor() (v1.Descriptor, error) {
	l.once.Do(func() {
		rc, err := l.open()
		if err != nil {
			l.err = err
			return
		}
		defer rc.Close()
		h, n, err := v1.SHA256(rc)
		l.desc, l.err = v1.Descriptor{MediaType: types.DockerLayer, Size: n, Digest: h}, err
	})
	return l.desc, l.err
}

func (l *archiveLayer) Digest() (v1.Hash, error)            { d, err := l.descriptor(); return d.Digest, err }
func (l *archiveLayer) Size() (int64, error)                { d, err := l.descriptor(); return d.Size, err }
func (l *archiveLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *archiveLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *archiveLayer) Compressed() (io.ReadCloser, error)  { return l.open() }

// plainArchiveLayer is an uncompressed layer file of an archive (what
// `docker save` writes).
type plainArchiveLayer struct {
	diffID    v1.Hash
	mediaType types.MediaType
	desc      *v1.Descriptor // a foreign layer's descriptor
	open      func() (io.ReadCloser, error)
}

func (l *plainArchiveLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *plainArchiveLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *plainArchiveLayer) Uncompressed() (io.ReadCloser, error) { return l.open() }

// foreignPlainLayer adds the descriptor of a foreign layer.
type foreignPlainLayer struct{ *plainArchiveLayer }

func (l foreignPlainLayer) Descriptor() (*v1.Descriptor, error) { return l.desc, nil }

// plainLayer is a layer stored uncompressed. It says so, so that a reader
// such as rpmscan reads Uncompressed instead of Compressed, which would
// compress it on the fly.
type plainLayer struct{ v1.Layer }

// StoredUncompressed reports that the layer's stored form is its
// uncompressed tar.
func (plainLayer) StoredUncompressed() bool { return true }
