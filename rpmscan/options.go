package rpmscan

import "log/slog"

// DefaultMaxFileSize is the largest file a scan copies out of an image
// unless [WithMaxFileSize] says otherwise. The biggest real rpmdbs (a few
// thousand packages, Berkeley DB) stay well under it.
const DefaultMaxFileSize = 512 << 20

// maxMetadataSize caps os-release, redhat-release and content manifests,
// which are read into memory; real ones are a few kilobytes.
const maxMetadataSize = 4 << 20

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
		s.maxFile = n
	}
}

// WithTempDir sets the directory under which each scan creates its private
// temporary directory for the rpmdb copy. The default is os.TempDir().
func WithTempDir(dir string) Option {
	return func(s *LayerScanner) { s.tempDir = dir }
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// WithFiles makes a scan record each package's installed files (path,
// mode, rpm flags) and install time in [Package.Files] and
// [Package.InstallTime]. It is off by default: a large rpmdb lists
// hundreds of thousands of files.
func WithFiles() Option {
	return func(s *LayerScanner) { s.files = true }
}
