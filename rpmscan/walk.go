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
	limits limits
	tmp    string
	// metaBytes counts what metadata files take in the view.
	metaBytes int64

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

func newWalker(tmp string, lim limits) *walker {
	return &walker{
		limits:     lim,
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

// layer reads one layer and merges what it shows into the view. The layer
// is read to its end and must hash to its diff_id.
func (w *walker) layer(ctx context.Context, idx int, l v1.Layer) (err error) {
	diffID, err := l.DiffID()
	if err != nil {
		return layerErr(idx, l, "", fmt.Errorf("diff_id: %w", err))
	}
	rc, err := uncompressed(ctx, l)
	if err != nil {
		return layerErr(idx, l, "", fmt.Errorf("open: %w", err))
	}
	defer rc.Close()
	dr := newDigestReader(ctxReader{ctx, rc})
	defer dr.close()
	tr := tar.NewReader(dr)
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
			if isTempErr(err) {
				return err // the machine's fault, not the layer's
			}
			return layerErr(idx, l, hdr.Name, err)
		}
	}
	// The tar stream may end before the layer does (padding, or bytes
	// past the end-of-archive marker): they are part of what the digests
	// cover, so read them too. Draining also lets a registry client check
	// the compressed digest.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return layerErr(idx, l, "", fmt.Errorf("%w: %w", ErrCorruptLayer, err))
	}
	if err := dr.check(diffID); err != nil {
		return layerErr(idx, l, "", err)
	}
	w.endLayer(idx, w.pendingDeleted, w.pendingOpaque)
	w.pendingDeleted, w.pendingOpaque = w.pendingDeleted[:0], w.pendingOpaque[:0]
	return nil
}

// endLayer applies the whiteouts and replacements of layer idx, read to
// its end: they only affect the layers below.
func (w *walker) endLayer(idx int, deleted, opaque []string) {
	for _, p := range deleted {
		w.deleted[p] = true
	}
	for _, d := range opaque {
		w.opaque[d] = true
	}
	if w.rpmdbLayer == idx {
		w.rpmdbDone = true
	}
}

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

func (w *walker) entry(idx int, hdr *tar.Header, r io.Reader) error {
	name, c, err := screen(hdr, w.mark)
	if err != nil || c == classNone || !w.visible(idx, name, c) {
		return err
	}
	switch c {
	case classRPMDB, classRPMDBAux:
		return w.rpmdbEntry(idx, name, hdr, r)
	default:
		return w.metaEntry(idx, name, hdr, r)
	}
}

// mark notes a whiteout (or a replacement) of p, or an opaque directory p,
// to apply once the layer is read.
func (w *walker) mark(opaque bool, p string) {
	if opaque {
		w.pendingOpaque = append(w.pendingOpaque, p)
	} else {
		w.pendingDeleted = append(w.pendingDeleted, p)
	}
}

// screen makes the checks of a tar entry that depend on the entry alone,
// tells mark about its whiteouts and replacements that matter to the scan,
// and returns its clean name and class (classNone for nothing to read).
func screen(hdr *tar.Header, mark func(opaque bool, p string)) (string, class, error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return "", classNone, err
	}
	if hdr.Typeflag == tar.TypeLink {
		if t, err := cleanName(hdr.Linkname); err != nil || t == "" {
			return "", classNone, fmt.Errorf("%w: hard link to %q", ErrUnsafePath, hdr.Linkname)
		}
	}
	if name == "" {
		return "", classNone, nil
	}
	base := path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		dir := path.Dir(name)
		switch {
		case base == whiteoutOpaque:
			if dir == "." || ancestors[dir] {
				mark(true, dir)
			}
		case strings.HasPrefix(base, whiteoutMeta):
			// Other aufs metadata (.wh..wh.plnk, ...) carries nothing we need.
		default:
			victim := base[len(whiteoutPrefix):]
			if victim == "" || victim == "." || victim == ".." {
				return "", classNone, fmt.Errorf("%w: malformed whiteout", ErrUnsafePath)
			}
			// Only deletions of what the scan looks at, or of a
			// directory above it, can change the result.
			if p := path.Join(dir, victim); ancestors[p] || classify(p) != classNone {
				mark(false, p)
			}
		}
		return "", classNone, nil
	}
	if hdr.Typeflag != tar.TypeDir && ancestors[name] {
		mark(false, name)
	}
	return name, classify(name), nil
}

// visible reports whether an entry of layer idx at name, of class c, shows
// in the merged view given what the upper layers hold.
func (w *walker) visible(idx int, name string, c class) bool {
	if (c == classRPMDB || c == classRPMDBAux) && w.rpmdbDone {
		return false
	}
	if n := w.view[name]; n != nil && n.layer != idx {
		return false // an upper layer already decided this path
	}
	return !w.hidden(name)
}

func (w *walker) rpmdbEntry(idx int, name string, hdr *tar.Header, r io.Reader) error {
	if err := w.rpmdbCheck(hdr.Typeflag, hdr.Linkname, hdr.Size); err != nil {
		return err
	}
	dst, err := w.rpmdbDst(name)
	if err != nil {
		return err
	}
	if err := copyFile(dst, r, hdr.Size); err != nil {
		return err
	}
	w.setRPMDB(idx, name, dst)
	return nil
}

// rpmdbCheck says whether an rpmdb entry may be copied.
func (w *walker) rpmdbCheck(typeflag byte, linkname string, size int64) error {
	if typeflag != tar.TypeReg {
		return fmt.Errorf("%w: it is a %s", ErrRPMDBNotRegular, typeName(&tar.Header{Typeflag: typeflag, Linkname: linkname}))
	}
	if size > w.limits.file {
		return fmt.Errorf("%w: %d bytes > %d", ErrEntryTooLarge, size, w.limits.file)
	}
	return nil
}

// rpmdbDst returns where the view keeps the copy of the rpmdb file name.
// The temp name is built from our own tables, never from the tar name.
func (w *walker) rpmdbDst(name string) (string, error) {
	dir := filepath.Join(w.tmp, strconv.Itoa(rpmdbIndex[name]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", tempErr("temp dir", err)
	}
	return filepath.Join(dir, path.Base(name)), nil
}

// copyFile copies size bytes of r to a new file dst.
func copyFile(dst string, r io.Reader, size int64) error {
	f, err := createTemp(dst)
	if err != nil {
		return tempErr("temp file", err)
	}
	err = copyOut(f, r, size)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = tempErr("temp file", cerr)
	}
	return err
}

func (w *walker) setRPMDB(idx int, name, file string) {
	w.view[name] = &node{layer: idx, kind: kindRegular, file: file}
	if classify(name) == classRPMDB && w.rpmdbLayer < 0 {
		w.rpmdbLayer = idx
	}
}

// metaLimit is the largest metadata file read.
func (w *walker) metaLimit() int64 { return min(w.limits.file, maxMetadataSize) }

func (w *walker) metaEntry(idx int, name string, hdr *tar.Header, r io.Reader) error {
	return w.setMeta(idx, name, hdr.Typeflag, hdr.Linkname, hdr.Size, func() ([]byte, error) {
		return readMeta(r, hdr.Size)
	})
}

// readMeta reads a metadata file's content.
func readMeta(r io.Reader, size int64) ([]byte, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptLayer, err)
	}
	return data, nil
}

// setMeta puts a metadata entry in the view; read returns the content of
// a regular file.
func (w *walker) setMeta(idx int, name string, typeflag byte, linkname string, size int64, read func() ([]byte, error)) error {
	n := &node{layer: idx}
	switch typeflag {
	case tar.TypeReg:
		if limit := w.metaLimit(); size > limit {
			return fmt.Errorf("%w: %d bytes > %d", ErrEntryTooLarge, size, limit)
		}
		if err := w.chargeMeta(name, size); err != nil {
			return err
		}
		data, err := read()
		if err != nil {
			return err
		}
		n.kind, n.data = kindRegular, data
	case tar.TypeSymlink:
		n.kind, n.target = kindSymlink, resolveSymlink(path.Dir(name), linkname)
	case tar.TypeLink:
		t, _ := cleanName(linkname) // checked in screen
		n.kind, n.target = kindHardlink, t
	default:
		n.kind = kindOther
	}
	if n.kind != kindRegular {
		if err := w.chargeMeta(name, int64(len(n.target))); err != nil {
			return err
		}
	}
	w.view[name] = n
	return nil
}

// chargeMeta counts a metadata entry of size bytes against the limit on
// all metadata together.
func (w *walker) chargeMeta(name string, size int64) error {
	w.metaBytes += max(size, metaCharge) + int64(len(name))
	if w.metaBytes > w.limits.meta {
		return fmt.Errorf("%w: over %d bytes in all", ErrMetadataTooLarge, w.limits.meta)
	}
	return nil
}

// createTemp creates a temporary copy; tests replace it to fail writes.
var createTemp = func(name string) (io.WriteCloser, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

// copyOut copies size bytes of a tar entry to dst. A short or failing read
// is the layer's fault; a failing write is the temporary directory's.
func copyOut(dst io.Writer, src io.Reader, size int64) error {
	buf := make([]byte, 32<<10)
	for size > 0 {
		n, rerr := src.Read(buf[:min(int64(len(buf)), size)])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return tempErr("temp file", werr)
			}
			size -= int64(n)
		}
		if size == 0 {
			return nil
		}
		if rerr == io.EOF {
			rerr = io.ErrUnexpectedEOF
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", ErrCorruptLayer, rerr)
		}
	}
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
