package testutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one entry of a hand-built tar layer. Names are written exactly as
// given, so hostile names ("../x", "/etc/passwd") can be produced on purpose.
type Entry struct {
	Name     string
	Body     []byte
	Type     byte // tar type flag; 0 means tar.TypeReg
	Linkname string
	Mode     int64 // 0 means 0644 for files and 0755 for directories
}

// File returns a regular-file entry.
func File(name string, body []byte) Entry { return Entry{Name: name, Body: body} }

// Dir returns a directory entry.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir} }

// Symlink returns a symbolic-link entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink returns a hard-link entry.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout returns the entry that deletes path from lower layers.
func Whiteout(p string) Entry {
	dir, base := splitPath(p)
	return File(dir+".wh."+base, nil)
}

// Opaque returns the entry that hides the lower layers' contents of dir.
func Opaque(dir string) Entry {
	return File(dir+"/.wh..wh..opq", nil)
}

func splitPath(p string) (dir, base string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i+1], p[i+1:]
		}
	}
	return "", p
}

// epoch is the fixed modification time of every generated entry, so layers
// are byte-for-byte reproducible.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Tar returns the uncompressed tar stream of entries.
func Tar(entries ...Entry) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries...); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTar writes entries as a tar stream to w.
func WriteTar(w io.Writer, entries ...Entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{
			Typeflag: typ,
			Name:     e.Name,
			Linkname: e.Linkname,
			Mode:     mode,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("testutil: tar header %q: %w", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.Body); err != nil {
				return fmt.Errorf("testutil: tar body %q: %w", e.Name, err)
			}
		}
	}
	return tw.Close()
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Layer returns a gzip-compressed layer holding entries.
func Layer(entries ...Entry) (v1.Layer, error) {
	raw, err := Tar(entries...)
	if err != nil {
		return nil, err
	}
	return RawLayer(Gzip(raw), raw), nil
}

// RawLayer returns a layer whose compressed bytes are exactly compressed and
// whose DiffID is computed from uncompressed. Uncompressed() decompresses
// compressed, so a damaged compressed stream (truncated gzip, say) shows up
// only when the layer is read, as it would from a registry.
func RawLayer(compressed, uncompressed []byte) v1.Layer {
	return &rawLayer{
		compressed: compressed,
		digest:     sha(compressed),
		diffID:     sha(uncompressed),
	}
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

type rawLayer struct {
	compressed     []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*rawLayer)(nil)

func (l *rawLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *rawLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *rawLayer) Size() (int64, error)     { return int64(len(l.compressed)), nil }
func (l *rawLayer) MediaType() (types.MediaType, error) {
	return types.DockerLayer, nil
}
func (l *rawLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}
func (l *rawLayer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.compressed))
	if err != nil {
		return nil, err
	}
	return zr, nil
}

// UncompressedLayer returns a layer stored as a plain tar (OCI media type
// application/vnd.oci.image.layer.v1.tar), which skips the cost of gzip in
// tests with large files.
func UncompressedLayer(entries ...Entry) (v1.Layer, error) {
	raw, err := Tar(entries...)
	if err != nil {
		return nil, err
	}
	return &plainLayer{raw: raw, digest: sha(raw)}, nil
}

type plainLayer struct {
	raw    []byte
	digest v1.Hash
}

var _ v1.Layer = (*plainLayer)(nil)

func (l *plainLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *plainLayer) DiffID() (v1.Hash, error) { return l.digest, nil }
func (l *plainLayer) Size() (int64, error)     { return int64(len(l.raw)), nil }
func (l *plainLayer) MediaType() (types.MediaType, error) {
	return types.OCIUncompressedLayer, nil
}
func (l *plainLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
func (l *plainLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
