package rpmscan

import (
	"log/slog"
	"runtime"
)

// DefaultMaxFileSize is the largest file a scan copies out of an image
// unless [WithMaxFileSize] says otherwise. The biggest real rpmdbs (a few
// thousand packages, Berkeley DB) stay well under it.
const DefaultMaxFileSize = 512 << 20

// maxMetadataSize caps each of os-release, redhat-release and content
// manifests, which are read into memory; real ones are a few kilobytes.
const maxMetadataSize = 4 << 20

// Defaults of the other limits; each has an option.
const (
	// DefaultMaxLayers is the most layers an image may have
	// ([WithMaxLayers]). Docker stacks at most 127 layers on overlayfs and
	// registries accept a few hundred.
	DefaultMaxLayers = 256
	// DefaultMaxMetadataSize is the most bytes all metadata files of an
	// image (os-release, redhat-release, content manifests) may take
	// together ([WithMaxMetadataSize]). Each file counts at least 512
	// bytes, so it also bounds how many there may be.
	DefaultMaxMetadataSize = 16 << 20
	// DefaultMaxPackages is the most package headers an rpmdb may hold
	// ([WithMaxPackages]); a full RHEL server has a few thousand.
	DefaultMaxPackages = 50_000
	// DefaultMaxHeaderBytes is the most bytes the package headers of an
	// rpmdb may add up to ([WithMaxHeaderBytes]). The parsed inventory
	// takes a small multiple of it in memory.
	DefaultMaxHeaderBytes = 256 << 20
)

// maxHeaderSize is the largest single package header accepted; rpm's own
// limit on a header's data is 256 MiB, real headers stay under a few MiB.
const maxHeaderSize = 64 << 20

// metaCharge is the least a metadata file counts against the metadata
// limit, so that many empty files are bounded too.
const metaCharge = 512

// limits are the bounds a scan holds.
type limits struct {
	file        int64 // one copied or read file
	layers      int
	meta        int64 // all metadata files together
	packages    int
	headerBytes int64
}

func defaultLimits() limits {
	return limits{
		file:        DefaultMaxFileSize,
		layers:      DefaultMaxLayers,
		meta:        DefaultMaxMetadataSize,
		packages:    DefaultMaxPackages,
		headerBytes: DefaultMaxHeaderBytes,
	}
}

// Option configures a [LayerScanner].
type Option func(*LayerScanner)

// WithLogger sets the logger for debug records about the walk (which layer
// held the rpmdb, when the walk stopped early). By default the scanner is
// silent.
func WithLogger(l *slog.Logger) Option {
	return func(s *LayerScanner) {
		if l != nil {
			s.log = l
		}
	}
}

// WithMaxFileSize sets the largest file (rpmdb, os-release, content
// manifest) the scanner accepts; a larger one fails the scan with
// [ErrEntryTooLarge]. Metadata files are further capped at 4 MiB.
// Values <= 0 restore [DefaultMaxFileSize].
func WithMaxFileSize(n int64) Option {
	return func(s *LayerScanner) {
		if n <= 0 {
			n = DefaultMaxFileSize
		}
		s.limits.file = n
	}
}

// WithMaxLayers sets the most layers an image may have; a scan of an image
// with more fails with [ErrTooManyLayers] before reading any. Values <= 0
// restore [DefaultMaxLayers].
func WithMaxLayers(n int) Option {
	return func(s *LayerScanner) {
		if n <= 0 {
			n = DefaultMaxLayers
		}
		s.limits.layers = n
	}
}

// WithMaxMetadataSize sets the most bytes the metadata files the scan reads
// into memory (os-release, redhat-release, content manifests) may take
// together; more fails the scan with [ErrMetadataTooLarge]. Each file
// counts at least 512 bytes. Values <= 0 restore [DefaultMaxMetadataSize].
func WithMaxMetadataSize(n int64) Option {
	return func(s *LayerScanner) {
		if n <= 0 {
			n = DefaultMaxMetadataSize
		}
		s.limits.meta = n
	}
}

// WithMaxPackages sets the most package headers an rpmdb may hold; a larger
// one fails the scan with [ErrTooManyPackages] before any is parsed. Values
// <= 0 restore [DefaultMaxPackages].
func WithMaxPackages(n int) Option {
	return func(s *LayerScanner) {
		if n <= 0 {
			n = DefaultMaxPackages
		}
		s.limits.packages = n
	}
}

// WithMaxHeaderBytes sets the most bytes the package headers of an rpmdb
// may add up to; more fails the scan with [ErrRPMDBTooLarge] before any is
// parsed. A single header is further capped at 64 MiB. Values <= 0 restore
// [DefaultMaxHeaderBytes].
func WithMaxHeaderBytes(n int64) Option {
	return func(s *LayerScanner) {
		if n <= 0 {
			n = DefaultMaxHeaderBytes
		}
		s.limits.headerBytes = n
	}
}

// WithTempDir sets the directory under which each scan creates its private
// temporary directory for the rpmdb copy. The default is os.TempDir().
func WithTempDir(dir string) Option {
	return func(s *LayerScanner) { s.tempDir = dir }
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// WithFiles makes a scan record the files each package installed (path,
// mode, rpm flags) and its install time in [Inventory.Files]. It is off by
// default: a large rpmdb lists hundreds of thousands of files.
func WithFiles() Option {
	return func(s *LayerScanner) { s.files = true }
}

// MaxLayerConcurrency is the most layers [WithLayerConcurrency] lets a scan
// read at once.
const MaxLayerConcurrency = 8

// defaultConcurrency is two layers at a time per processor the Go runtime
// may use (2 × GOMAXPROCS), at most [MaxLayerConcurrency], and one by one
// on a single processor. Decompression is the cost of a scan and a single
// stream inflates on one processor, so reading the next layers while the
// current one is walked is what lets a scan use the other processors.
// Readers are a window over the layers in walk order: with only one per
// processor, a processor whose layer was done early waited for the layer
// above it. On two processors, with ISA-L, a 1.2 GiB five-layer image took
// 2.4–2.6 s with four or more readers and 2.8–2.9 s with two; with
// klauspost/compress the two were alike.
func defaultConcurrency() int {
	n := runtime.GOMAXPROCS(0)
	if n < 2 {
		return 1
	}
	return min(2*n, MaxLayerConcurrency)
}

// WithLayerConcurrency sets how many layers a scan reads at once: while the
// walk merges a layer, up to n-1 layers below it are decompressed, hashed
// and read ahead. Each reader streams its layer and keeps only what the scan
// could use (metadata files, bounded by the metadata limit over n, and a
// temporary copy of each rpmdb file), so memory grows with n, not with the
// layers' sizes; readers still running when the walk settles are stopped.
// The result is that of reading the layers one by one, which n = 1 does.
// Values <= 0 restore the default: 2 × GOMAXPROCS, at most
// [MaxLayerConcurrency], or 1 on a single processor. Values above
// MaxLayerConcurrency are lowered to it. A program running several scans
// at once may prefer 1, so that scans, not layers, share the processors.
func WithLayerConcurrency(n int) Option {
	return func(s *LayerScanner) {
		if n <= 0 {
			n = defaultConcurrency()
		}
		s.concurrency = min(n, MaxLayerConcurrency)
	}
}
