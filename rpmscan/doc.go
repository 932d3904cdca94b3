// Package rpmscan produces the RPM inventory of a container image: every
// installed package (name, epoch, version, release, arch, source RPM,
// vendor, modularity label), the operating system from os-release and
// redhat-release, the content sets recorded by Red Hat's build systems, the
// labels that matter for matching and rebuilding, the image digest and the
// digest of the layer that holds the rpmdb.
//
// [Scanner] is the extension point; [LayerScanner], made by [New], is the
// default implementation. It reads a go-containerregistry v1.Image, so an
// image can come from a registry, an OCI layout, a tarball or memory:
//
//	import (
//		"github.com/openabs/abs/rpmscan"
//		_ "github.com/openabs/abs/rpmscan/sqlitedriver" // RHEL 9 / Fedora rpmdbs
//	)
//
//	inv, err := rpmscan.New().Scan(ctx, img)
//	if err != nil {
//		return err
//	}
//	for _, p := range inv.Packages {
//		fmt.Println(p.NEVRA())
//	}
//
// [WithFiles] makes a scan also record, package by package, the files each
// installed (path, mode, rpm's %config/%doc/%ghost… flags) and its install
// time, in [Inventory.Files]; certification checks need them.
//
// # How layers are read
//
// Layers are streamed from the top down and never unpacked. Compressed
// layers (gzip, zstd) are decompressed from their Compressed stream, with
// klauspost/compress by default; a program built with -tags isal (cgo and
// Debian's or Fedora's libisal-dev / isa-l-devel needed) inflates gzip with
// Intel ISA-L instead, about 2.5 times faster (see [Inflater]); a layer stored uncompressed is read through
// Uncompressed when its media type says so or when it has a
// StoredUncompressed method returning true (see package imageref's docker
// archives). Whiteouts
// (.wh.NAME) and opaque directories (.wh..wh..opq) are honoured, so a
// deleted or replaced rpmdb is seen as a container runtime would see it. The
// walk stops as soon as no lower layer can change the result. Only the
// rpmdb files (rpmdb.sqlite with its -wal/-shm, Packages, Packages.db under
// var/lib/rpm/ or usr/lib/sysimage/rpm/) are copied, into a private
// temporary directory removed when the scan ends; os-release,
// redhat-release and content manifests are read into memory.
//
// On more than one processor, up to n layers are read at once (n is
// 2 × GOMAXPROCS by default, see [WithLayerConcurrency]): each reader streams
// its layer and keeps a bounded record of what the scan could use (the
// wanted entries, metadata content, a copy of each rpmdb file, the
// whiteouts that matter), and the records are merged top-down with the
// rules of the one-by-one walk, so the inventory and any error are the
// same. A record outgrowing its bound makes that layer be read again, one
// by one, when its turn comes. Readers still running when the walk
// settles are stopped, their downloads closed. The image digest (for a
// docker archive, a hash of every compressed layer) is computed while the
// layers are read, and the rpmdb is read as soon as no lower layer can
// change it, while the walk goes on below for the metadata files; the
// errors are still those of checking the digest, then walking, then
// reading the rpmdb.
//
// The rpmdb in the topmost layer that holds one is the live database. If
// that layer holds more than one, sqlite wins over ndb over Berkeley DB,
// and usr/lib/sysimage/rpm over var/lib/rpm. Imported signing keys
// (gpg-pubkey) are not reported as packages.
//
// # Hostile input
//
// Absolute or escaping tar names, rpmdbs that are links, files above the
// size limit, truncated layers and corrupt databases give typed errors
// ([*LayerError], [*RPMDBError]) wrapping sentinels such as
// [ErrUnsafePath], [ErrRPMDBNotRegular], [ErrEntryTooLarge],
// [ErrCorruptLayer] and [ErrCorruptRPMDB]. Databases are read by a bounded
// walk of our own, laid out as go-rpmdb v0.1.1 reads them and using its
// Berkeley DB page parsers: every offset, length and page chain is checked
// before it is followed, and each package header is checked, then parsed
// for the reported fields only, one header in memory at a time. Panics are
// recovered. With [WithFiles], go-rpmdb then reads the accepted database in
// full for the file lists; when it rejects a header that passed the checks,
// it returns before draining its reader goroutine, which stays blocked for
// the life of the process (a few kilobytes; only a damaged database does
// it). A sqlite rpmdb must
// hold a plain Packages table (not a view, a virtual table or a generated
// column), so a small file cannot make the query endless or huge.
//
// Every input is bounded, each by an option with a default: the layers of
// an image ([WithMaxLayers], [ErrTooManyLayers]), one file
// ([WithMaxFileSize], [ErrEntryTooLarge]), all metadata files together
// ([WithMaxMetadataSize], [ErrMetadataTooLarge]), the package headers of
// the rpmdb by count ([WithMaxPackages], [ErrTooManyPackages]) and by bytes
// ([WithMaxHeaderBytes], [ErrRPMDBTooLarge]). The walk is linear in the
// number of layers; database checks read page by page, never the whole
// file.
//
// What is reported is what was read: each layer is hashed as it streams
// and must match its diff_id, and the config must match the digest in the
// manifest, else the scan fails with [ErrDigestMismatch]. So every layer
// the walk reads is read to its end, even once the rpmdb in it has been
// copied: stopping inside a layer would report bytes no digest vouches for.
// What the walk saves is the layers below the point where the result is
// settled, which it does not open at all. A temporary
// directory on a full file system gives [ErrDiskFull], not an error
// blaming the image.
//
// # The sqlite driver
//
// The scan opens sqlite rpmdbs with database/sql under the driver name
// "sqlite" (the name go-rpmdb uses too) but registers no driver: a
// program chooses. Importing [github.com/openabs/abs/rpmscan/sqlitedriver]
// registers modernc.org/sqlite (pure Go). Without a driver, scanning an
// image with a sqlite rpmdb returns [ErrNoSQLiteDriver]; Berkeley DB and ndb
// databases need no driver.
package rpmscan
