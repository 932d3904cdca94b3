package rpmscan

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Paths the scan looks for, relative to the image root.
const (
	pathOSRelease       = "etc/os-release"
	pathUsrOSRelease    = "usr/lib/os-release"
	pathRedHatRelease   = "etc/redhat-release"
	pathContentSets     = "usr/share/buildinfo/content-sets.json"
	dirContentManifests = "root/buildinfo/content_manifests"
)

// rpmdbDirs are the standard database directories, in order of preference
// when one layer holds databases in both.
var rpmdbDirs = [...]string{"usr/lib/sysimage/rpm", "var/lib/rpm"}

// rpmdbPrimaries are the database files, in order of preference when one
// directory holds more than one (rpm migrates bdb -> ndb/sqlite, never back).
var rpmdbPrimaries = [...]string{"rpmdb.sqlite", "Packages.db", "Packages"}

// rpmdbAux are files that belong with a sqlite database.
var rpmdbAux = [...]string{"rpmdb.sqlite-wal", "rpmdb.sqlite-shm"}

type class uint8

const (
	classNone class = iota
	classRPMDB
	classRPMDBAux
	classMeta
	classManifest
)

// wanted maps every fixed wanted path to its class; rpmdbIndex maps rpmdb
// paths to the index of their directory in rpmdbDirs.
//
// ancestors holds every proper ancestor directory of a wanted path. A
// non-directory entry at one of them hides everything below it in lower
// layers.
var wanted, rpmdbIndex, ancestors = buildTables()

func buildTables() (wanted map[string]class, rpmdbIndex map[string]int, ancestors map[string]bool) {
	wanted, rpmdbIndex, ancestors = map[string]class{}, map[string]int{}, map[string]bool{}
	for i, d := range rpmdbDirs {
		for _, n := range rpmdbPrimaries {
			wanted[d+"/"+n] = classRPMDB
			rpmdbIndex[d+"/"+n] = i
		}
		for _, n := range rpmdbAux {
			wanted[d+"/"+n] = classRPMDBAux
			rpmdbIndex[d+"/"+n] = i
		}
	}
	for _, p := range []string{pathOSRelease, pathUsrOSRelease, pathRedHatRelease, pathContentSets} {
		wanted[p] = classMeta
	}
	all := []string{dirContentManifests + "/x"}
	for p := range wanted {
		all = append(all, p)
	}
	for _, p := range all {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			ancestors[d] = true
		}
	}
	return wanted, rpmdbIndex, ancestors
}

func classify(p string) class {
	if c, ok := wanted[p]; ok {
		return c
	}
	if strings.HasSuffix(p, ".json") && path.Dir(p) == dirContentManifests {
		return classManifest
	}
	return classNone
}

type nodeKind uint8

const (
	kindRegular nodeKind = iota
	kindSymlink
	kindHardlink
	kindOther
)

// node is the visible state of one wanted path in the merged view.
type node struct {
	layer  int
	kind   nodeKind
	target string // symlink or hard-link target, root-relative
	data   []byte // metadata content
	file   string // temp copy of an rpmdb file
}

// walker reads layers from the top down and keeps the merged view of the
// wanted paths, the way an overlay filesystem would present them.
type walker struct {
	maxFile int64
	tmp     string

	view map[string]*node
	// deleted holds paths removed (with their subtree) by an upper layer,
	// through a whiteout or a non-directory entry replacing a directory.
	deleted map[string]bool
	// opaque holds directories whose lower-layer contents are hidden.
	opaque map[string]bool

	pendingDeleted, pendingOpaque []string

	rpmdbLayer int  // layer of the topmost rpmdb, -1 before one is found
	rpmdbDone  bool // the rpmdb layer has been read to its end
}

func newWalker(tmp string, maxFile int64) *walker {
	return &walker{
		maxFile:    maxFile,
		tmp:        tmp,
		view:       map[string]*node{},
		deleted:    map[string]bool{},
		opaque:     map[string]bool{},
		rpmdbLayer: -1,
	}
}

// cleanName turns a tar entry name into a clean root-relative path. "" means
// the root itself.
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") {
		return "", ErrUnsafePath
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", ErrUnsafePath
	}
	return c, nil
}

// resolveSymlink returns the root-relative path a symlink at dir points to,
// resolved the way a container runtime does: ".." never leaves the root.
func resolveSymlink(dir, target string) string {
	var p string
	if path.IsAbs(target) {
		p = path.Clean(target)
	} else {
		p = path.Join("/", dir, target)
	}
	return strings.TrimPrefix(p, "/")
}

// hidden reports whether p, in a lower layer, is hidden by an upper one.
func (w *walker) hidden(p string) bool {
	for q := p; ; {
		if w.deleted[q] {
			return true
		}
		parent := path.Dir(q)
		if w.opaque[parent] {
			return true
		}
		if parent == "." {
			return false
		}
		q = parent
	}
}

// ctxReader stops a read as soon as ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func layerErr(idx int, l v1.Layer, entry string, err error) error {
	le := &LayerError{Index: idx, Path: entry, Err: err}
	if d, derr := l.Digest(); derr == nil {
		le.Digest = d.String()
	}
	return le
}

// layer reads one layer and merges what it shows into the view.
func (w *walker) layer(ctx context.Context, idx int, l v1.Layer) (err error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return layerErr(idx, l, "", fmt.Errorf("open: %w", err))
	}
	defer rc.Close()
	tr := tar.NewReader(ctxReader{ctx, rc})
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return layerErr(idx, l, "", fmt.Errorf("%w: %w", ErrCorruptLayer, err))
		}
		if err := w.entry(idx, hdr, tr); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return layerErr(idx, l, hdr.Name, err)
		}
	}
	// Whiteouts and replacements only affect the layers below.
	for _, p := range w.pendingDeleted {
		w.deleted[p] = true
	}
	for _, d := range w.pendingOpaque {
		w.opaque[d] = true
	}
	w.pendingDeleted, w.pendingOpaque = w.pendingDeleted[:0], w.pendingOpaque[:0]
	if w.rpmdbLayer == idx {
		w.rpmdbDone = true
	}
	return nil
}

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

func (w *walker) entry(idx int, hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		if t, err := cleanName(hdr.Linkname); err != nil || t == "" {
			return fmt.Errorf("%w: hard link to %q", ErrUnsafePath, hdr.Linkname)
		}
	}
	if name == "" {
		return nil
	}
	base := path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		dir := path.Dir(name)
		switch {
		case base == whiteoutOpaque:
			w.pendingOpaque = append(w.pendingOpaque, dir)
		case strings.HasPrefix(base, whiteoutMeta):
			// Other aufs metadata (.wh..wh.plnk, ...) carries nothing we need.
		default:
			victim := base[len(whiteoutPrefix):]
			if victim == "" || victim == "." || victim == ".." {
				return fmt.Errorf("%w: malformed whiteout", ErrUnsafePath)
			}
			w.pendingDeleted = append(w.pendingDeleted, path.Join(dir, victim))
		}
		return nil
	}
	if hdr.Typeflag != tar.TypeDir && ancestors[name] {
		w.pendingDeleted = append(w.pendingDeleted, name)
	}
	c := classify(name)
	if c == classNone {
		return nil
	}
	if (c == classRPMDB || c == classRPMDBAux) && w.rpmdbDone {
		return nil
	}
	if n := w.view[name]; n != nil && n.layer != idx {
		return nil // an upper layer already decided this path
	}
	if w.hidden(name) {
		return nil
	}
	switch c {
	case classRPMDB, classRPMDBAux:
		return w.rpmdbEntry(idx, name, hdr, r)
	default:
		return w.metaEntry(idx, name, hdr, r)
	}
}

func (w *walker) rpmdbEntry(idx int, name string, hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: it is a %s", ErrRPMDBNotRegular, typeName(hdr))
	}
	if hdr.Size > w.maxFile {
		return fmt.Errorf("%w: %d bytes > %d", ErrEntryTooLarge, hdr.Size, w.maxFile)
	}
	// The temp name is built from our own tables, never from the tar name.
	dir := filepath.Join(w.tmp, strconv.Itoa(rpmdbIndex[name]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("rpmscan: temp dir: %w", err)
	}
	dst := filepath.Join(dir, path.Base(name))
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rpmscan: temp file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, hdr.Size))
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("rpmscan: temp file: %w", cerr)
	}
	if err != nil || n != hdr.Size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: %w", ErrCorruptLayer, err)
	}
	w.view[name] = &node{layer: idx, kind: kindRegular, file: dst}
	if classify(name) == classRPMDB && w.rpmdbLayer < 0 {
		w.rpmdbLayer = idx
	}
	return nil
}

func (w *walker) metaEntry(idx int, name string, hdr *tar.Header, r io.Reader) error {
	n := &node{layer: idx}
	switch hdr.Typeflag {
	case tar.TypeReg:
		limit := min(w.maxFile, maxMetadataSize)
		if hdr.Size > limit {
			return fmt.Errorf("%w: %d bytes > %d", ErrEntryTooLarge, hdr.Size, limit)
		}
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptLayer, err)
		}
		n.kind, n.data = kindRegular, data
	case tar.TypeSymlink:
		n.kind, n.target = kindSymlink, resolveSymlink(path.Dir(name), hdr.Linkname)
	case tar.TypeLink:
		t, _ := cleanName(hdr.Linkname) // checked in entry
		n.kind, n.target = kindHardlink, t
	default:
		n.kind = kindOther
	}
	w.view[name] = n
	return nil
}

type state uint8

const (
	stateUnknown state = iota // a lower layer may still provide it
	stateAbsent
	statePresent
)

const maxLinkHops = 8

// state follows links from p through the view.
func (w *walker) state(p string) (state, *node) {
	for range maxLinkHops {
		n := w.view[p]
		if n == nil {
			if w.hidden(p) {
				return stateAbsent, nil
			}
			return stateUnknown, nil
		}
		switch n.kind {
		case kindRegular:
			return statePresent, n
		case kindSymlink, kindHardlink:
			if c := classify(n.target); c != classMeta && c != classManifest {
				return stateAbsent, nil // outside what the scan reads
			}
			p = n.target
		default:
			return stateAbsent, nil
		}
	}
	return stateAbsent, nil
}

// settled reports whether no lower layer can change anything the scan
// reports, so the walk may stop.
func (w *walker) settled() bool {
	if !w.rpmdbDone {
		for _, d := range rpmdbDirs {
			for _, n := range rpmdbPrimaries {
				if !w.hidden(d + "/" + n) {
					return false
				}
			}
		}
	}
	switch s, _ := w.state(pathOSRelease); s {
	case stateUnknown:
		return false
	case stateAbsent:
		if s, _ := w.state(pathUsrOSRelease); s == stateUnknown {
			return false
		}
	}
	for _, p := range []string{pathRedHatRelease, pathContentSets} {
		if s, _ := w.state(p); s == stateUnknown {
			return false
		}
	}
	return w.opaque[dirContentManifests] || w.hidden(dirContentManifests)
}

// osRelease returns the visible os-release content, /etc first.
func (w *walker) osRelease() []byte {
	for _, p := range []string{pathOSRelease, pathUsrOSRelease} {
		if s, n := w.state(p); s == statePresent {
			return n.data
		}
	}
	return nil
}

func (w *walker) file(p string) []byte {
	if s, n := w.state(p); s == statePresent {
		return n.data
	}
	return nil
}

// manifests returns the visible content manifests, by path.
func (w *walker) manifests() map[string][]byte {
	out := map[string][]byte{}
	for p := range w.view {
		if classify(p) != classManifest {
			continue
		}
		if s, n := w.state(p); s == statePresent {
			out[p] = n.data
		}
	}
	return out
}

// rpmdb returns the chosen database: its image path, temp file and layer.
func (w *walker) rpmdb() (imagePath, file string, layer int, ok bool) {
	for _, name := range rpmdbPrimaries {
		for _, d := range rpmdbDirs {
			p := d + "/" + name
			if n := w.view[p]; n != nil && n.kind == kindRegular && n.layer == w.rpmdbLayer {
				return p, n.file, n.layer, true
			}
		}
	}
	return "", "", -1, false
}

func typeName(hdr *tar.Header) string {
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		return "symbolic link to " + strconv.Quote(hdr.Linkname)
	case tar.TypeLink:
		return "hard link to " + strconv.Quote(hdr.Linkname)
	case tar.TypeDir:
		return "directory"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("tar entry of type %q", hdr.Typeflag)
}
