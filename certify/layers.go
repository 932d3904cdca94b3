package certify

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Limits bound the work and memory of reading an image's layers. The zero
// value of a field selects its default.
type Limits struct {
	// MaxEntries is the largest number of tar entries read over all
	// layers (default [DefaultMaxEntries]).
	MaxEntries int
	// MaxPath is the longest entry name accepted (default 4096 bytes).
	MaxPath int
	// MaxCapture is the largest file whose content is kept for the checks
	// (/root/buildinfo files; default 1 MiB). Larger ones are recorded
	// without content.
	MaxCapture int64
}

// DefaultMaxEntries is the default [Limits.MaxEntries]: far above the
// tens of thousands of files of a large real image.
const DefaultMaxEntries = 2 << 20

const (
	defaultMaxPath    = 4096
	defaultMaxCapture = 1 << 20
	maxCaptureTotal   = 16 << 20
	maxLinkHops       = 40
)

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxPath <= 0 {
		l.MaxPath = defaultMaxPath
	}
	if l.MaxCapture <= 0 {
		l.MaxCapture = defaultMaxCapture
	}
	return l
}

// EntryType is the kind of a file in an image.
type EntryType uint8

// The kinds of file a layer can hold.
const (
	TypeRegular EntryType = iota + 1
	TypeDir
	TypeSymlink
	TypeHardlink
	TypeOther // devices, fifos
)

// String returns a short lower-case name of the type.
func (t EntryType) String() string {
	switch t {
	case TypeRegular:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	case TypeHardlink:
		return "hardlink"
	case TypeOther:
		return "other"
	}
	return "unknown"
}

// Entry is one file of the image's merged filesystem, as a container
// runtime would see it.
type Entry struct {
	// Path is slash-separated and relative to the root ("usr/bin/bash").
	Path string
	Type EntryType
	// Mode holds the permission bits and, for directories, symlinks and
	// setuid/setgid files, the matching fs.FileMode bits.
	Mode fs.FileMode
	// Size is the file's size; for a hard link, the size of its target.
	Size int64
	// Linkname is the target of a symlink or hard link.
	Linkname string
	// Layer is the index (0 = base) of the layer that wrote the entry last.
	Layer int
}

// Change is one thing a layer does to a path: writes it or deletes it.
type Change struct {
	Path string
	Type EntryType // zero for a whiteout
	Mode fs.FileMode
	// Whiteout is true when the layer deletes Path (a .wh. entry); an
	// opaque directory is recorded as a whiteout of the directory.
	Whiteout bool
	// Capability is true when the entry carries file capabilities
	// (security.capability), which builders rewrite on copy-up.
	Capability bool
}

// Layer is what one layer of the image changes.
type Layer struct {
	Index  int
	Digest v1.Hash
	// Changes lists the layer's entries (directories excluded) in archive order.
	Changes []Change
	// RPMDB is true when the layer writes an rpmdb file.
	RPMDB bool
}

// FS is the merged filesystem of an image: every file with its type, mode,
// size and the layer that wrote it, and per-layer change lists. File
// content is not kept, except small files under /root/buildinfo.
type FS struct {
	nodes   int // implied directories, counted against MaxEntries
	root    *node
	layers  []Layer
	content map[string][]byte
}

type node struct {
	entry    Entry
	children map[string]*node
}

// Layers returns the image's layers, base first.
func (f *FS) Layers() []Layer { return f.layers }

// Lookup returns the entry at p without following symlinks.
func (f *FS) Lookup(p string) (Entry, bool) {
	n := f.find(p)
	if n == nil {
		return Entry{}, false
	}
	return n.entry, true
}

// Stat returns the entry at p, following symlinks in every element of the
// path (at most 40 of them); links never leave the image's root.
func (f *FS) Stat(p string) (Entry, error) {
	resolved, err := f.resolve(p, 0)
	if err != nil {
		return Entry{}, err
	}
	n := f.find(resolved)
	if n == nil {
		return Entry{}, fs.ErrNotExist
	}
	if n.entry.Type == TypeHardlink {
		if t := f.find(n.entry.Linkname); t != nil {
			e := n.entry
			e.Size = t.entry.Size
			return e, nil
		}
	}
	return n.entry, nil
}

// Content returns the captured content of the file at p (only small files
// under root/buildinfo/ are kept).
func (f *FS) Content(p string) ([]byte, bool) {
	b, ok := f.content[clean(p)]
	return b, ok
}

// Walk calls fn for every entry below dir (not dir itself), depth first in
// lexical order, without following symlinks. An error from fn stops the
// walk and is returned.
func (f *FS) Walk(dir string, fn func(Entry) error) error {
	n := f.find(dir)
	if n == nil {
		return fs.ErrNotExist
	}
	return walkNode(n, fn)
}

func walkNode(n *node, fn func(Entry) error) error {
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		c := n.children[k]
		if err := fn(c.entry); err != nil {
			return err
		}
		if err := walkNode(c, fn); err != nil {
			return err
		}
	}
	return nil
}

func clean(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

func (f *FS) find(p string) *node {
	p = clean(p)
	n := f.root
	if p == "" {
		return n
	}
	for part := range strings.SplitSeq(p, "/") {
		if n = n.children[part]; n == nil {
			return nil
		}
	}
	return n
}

// resolve follows symlinks in every element of p.
func (f *FS) resolve(p string, hops int) (string, error) {
	parts := strings.Split(clean(p), "/")
	cur := ""
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		n := f.find(next)
		if n == nil {
			return "", fs.ErrNotExist
		}
		if n.entry.Type == TypeSymlink {
			if hops++; hops > maxLinkHops {
				return "", fmt.Errorf("certify: %s: %w", p, ErrLinkLoop)
			}
			target := n.entry.Linkname
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			rest := path.Join(append([]string{target}, parts[i+1:]...)...)
			return f.resolve(rest, hops)
		}
		cur = next
	}
	return cur, nil
}

func (f *FS) ensureDir(p string, layer, limit int) (*node, error) {
	n := f.root
	if p == "" {
		return n, nil
	}
	cur := ""
	for part := range strings.SplitSeq(p, "/") {
		cur = path.Join(cur, part)
		c := n.children[part]
		if c == nil || c.entry.Type != TypeDir {
			// A missing parent is implied; a non-directory parent is
			// replaced, as overlayfs does when a later layer puts a
			// directory where a file was.
			if f.nodes++; f.nodes > limit {
				return nil, fmt.Errorf("%w (more than %d files and directories)", ErrTooManyEntries, limit)
			}
			c = &node{entry: Entry{Path: cur, Type: TypeDir, Mode: fs.ModeDir | 0o755, Layer: layer}, children: map[string]*node{}}
			n.children[part] = c
		}
		n = c
	}
	return n, nil
}

// remove deletes p and everything below it.
func (f *FS) remove(p string) {
	dir, base := path.Split(p)
	if n := f.find(strings.TrimSuffix(dir, "/")); n != nil {
		delete(n.children, base)
	}
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// rpmdbFiles are the files whose presence in a layer means an rpm
// transaction wrote it.
var rpmdbFiles = []string{
	"var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "var/lib/rpm/rpmdb.sqlite",
	"usr/lib/sysimage/rpm/Packages", "usr/lib/sysimage/rpm/Packages.db", "usr/lib/sysimage/rpm/rpmdb.sqlite",
}

func captured(p string) bool { return strings.HasPrefix(p, "root/buildinfo/") }

type pending struct {
	entry   Entry
	content []byte
}

// ReadFS reads every layer of img, base first, and returns its merged
// filesystem. Whiteouts and opaque directories are honoured. Bad input
// gives a [*LayerError] wrapping [ErrCorruptLayer], [ErrUnsafePath] or
// [ErrTooManyEntries]; the walk stops when ctx is cancelled.
func ReadFS(ctx context.Context, img v1.Image, lim Limits) (*FS, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("certify: layers: %w", err)
	}
	lim = lim.withDefaults()
	f := newFS()
	total, capturedBytes := 0, 0
	for i, l := range layers {
		d, _ := l.Digest()
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, &LayerError{Index: i, Digest: d.String(), Err: fmt.Errorf("%w: %w", ErrCorruptLayer, err)}
		}
		layer, err := f.readLayer(ctx, i, rc, lim, &total, &capturedBytes)
		rc.Close()
		if err != nil {
			return nil, &LayerError{Index: i, Digest: d.String(), Err: err}
		}
		layer.Digest = d
		f.layers = append(f.layers, layer)
	}
	return f, nil
}

func newFS() *FS {
	return &FS{root: &node{entry: Entry{Type: TypeDir, Mode: fs.ModeDir | 0o755}, children: map[string]*node{}}, content: map[string][]byte{}}
}

func (f *FS) readLayer(ctx context.Context, idx int, r io.Reader, lim Limits, total, capturedBytes *int) (Layer, error) {
	layer := Layer{Index: idx}
	tr := tar.NewReader(r)
	var adds []pending
	var whiteouts, opaques []string
	for {
		if err := ctx.Err(); err != nil {
			return layer, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return layer, fmt.Errorf("%w: %w", ErrCorruptLayer, err)
		}
		if *total++; *total > lim.MaxEntries {
			return layer, fmt.Errorf("%w (more than %d)", ErrTooManyEntries, lim.MaxEntries)
		}
		if len(h.Name) > lim.MaxPath || len(h.Linkname) > lim.MaxPath {
			return layer, fmt.Errorf("%w: name longer than %d bytes", ErrUnsafePath, lim.MaxPath)
		}
		name, err := safeName(h.Name)
		if err != nil {
			return layer, err
		}
		if name == "" {
			continue // the root itself
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == opaqueMarker {
			opaques = append(opaques, dir)
			layer.Changes = append(layer.Changes, Change{Path: dir, Whiteout: true})
			continue
		}
		if target, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
			if target == "" || target == "." || target == ".." {
				return layer, fmt.Errorf("%w: whiteout %q", ErrUnsafePath, h.Name)
			}
			p := path.Join(dir, target)
			whiteouts = append(whiteouts, p)
			layer.Changes = append(layer.Changes, Change{Path: p, Whiteout: true})
			continue
		}
		e := Entry{Path: name, Mode: h.FileInfo().Mode(), Size: h.Size, Layer: idx}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			e.Type = TypeRegular
		case tar.TypeDir:
			e.Type = TypeDir
			e.Size = 0
		case tar.TypeSymlink:
			e.Type = TypeSymlink
			e.Linkname = h.Linkname
			e.Size = 0
		case tar.TypeLink:
			e.Type = TypeHardlink
			ln, err := safeName(h.Linkname)
			if err != nil {
				return layer, err
			}
			e.Linkname = ln
			e.Size = 0
		default:
			e.Type = TypeOther
			e.Size = 0
		}
		p := pending{entry: e}
		if e.Type == TypeRegular && captured(name) && e.Size <= lim.MaxCapture && *capturedBytes+int(e.Size) <= maxCaptureTotal {
			b, err := io.ReadAll(io.LimitReader(tr, e.Size))
			if err != nil {
				return layer, fmt.Errorf("%w: %s: %w", ErrCorruptLayer, name, err)
			}
			*capturedBytes += len(b)
			p.content = b
		}
		if e.Type != TypeDir {
			_, caps := h.PAXRecords["SCHILY.xattr.security.capability"]
			layer.Changes = append(layer.Changes, Change{Path: name, Type: e.Type, Mode: e.Mode, Capability: caps})
			if slices.Contains(rpmdbFiles, name) {
				layer.RPMDB = true
			}
		}
		adds = append(adds, p)
	}
	// Whiteouts hide what lower layers hold; entries of this layer stay.
	for _, d := range opaques {
		if n := f.find(d); n != nil && n.entry.Type == TypeDir {
			for k := range n.children {
				f.dropContent(path.Join(d, k))
			}
			n.children = map[string]*node{}
		}
	}
	for _, p := range whiteouts {
		f.dropContent(p)
		f.remove(p)
	}
	for _, p := range adds {
		if err := f.add(p, lim.MaxEntries); err != nil {
			return layer, err
		}
	}
	return layer, nil
}

func (f *FS) dropContent(p string) {
	for k := range f.content {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(f.content, k)
		}
	}
}

func (f *FS) add(p pending, limit int) error {
	e := p.entry
	dir, base := path.Split(e.Path)
	parent, err := f.ensureDir(strings.TrimSuffix(dir, "/"), e.Layer, limit)
	if err != nil {
		return err
	}
	old := parent.children[base]
	if e.Type == TypeDir && old != nil && old.entry.Type == TypeDir {
		old.entry = e // keep the children: directories merge
		return nil
	}
	if e.Type == TypeHardlink {
		if t := f.find(e.Linkname); t != nil {
			e.Size = t.entry.Size
		}
	}
	n := &node{entry: e}
	if e.Type == TypeDir {
		n.children = map[string]*node{}
	}
	f.dropContent(e.Path)
	parent.children[base] = n
	if p.content != nil {
		f.content[e.Path] = p.content
	}
	return nil
}

// safeName cleans a tar entry name ("./a//b/../c" is "a/c"); names that
// climb above the root are rejected.
func safeName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	if c := path.Clean(n); c == ".." || strings.HasPrefix(c, "../") || strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
	}
	return clean(n), nil
}
