package rebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Builder produces the new image of one target. It is the extension point
// for build back-ends: Buildah and Command build from source, Rebase swaps
// the base layers of the existing image. Implementations must stop when ctx
// is cancelled and must not keep state between calls that a concurrent
// call could disturb.
type Builder interface {
	// Name identifies the builder in labels and logs ("buildah").
	Name() string
	// Build makes the image described by req.
	Build(ctx context.Context, req *Request) (*Result, error)
}

// Request is what a Builder is asked to build.
type Request struct {
	// Ref is the reference of the image being rebuilt (its current tag).
	Ref string
	// Image is the current image, when the caller already has it. Rebase
	// pulls Ref when it is nil.
	Image v1.Image
	// Source is the fetched source tree; builders that build from source
	// require it.
	Source *Checkout
	// Pins maps base repositories to the pinned references to build on
	// instead of whatever their tags point to ("reg/ns/base" ->
	// "reg/ns/base@sha256:…"): the new digests of rebuilt parents.
	Pins map[string]string
	// Base is the base image the current image was built on, as
	// "name@digest" or "name:tag"; used by Rebase when the image carries no
	// base annotations.
	Base string
	// BuildArgs are passed to the build (ARG values).
	BuildArgs map[string]string
	// Secrets are build secrets by id, for RUN steps that mount them
	// (RUN --mount=type=secret,id=ID). Builders hand them over without
	// putting them in a layer, a build argument, a log or the state:
	// Buildah through --secret and a private file removed after the
	// build, BuildKit as session secrets.
	Secrets map[string]Secret
	// Labels are set on the new image.
	Labels map[string]string
	// Annotations are set on the new image's manifest.
	Annotations map[string]string
	// NoCache disables layer caches.
	NoCache bool
	// Platform is the platform to build, when the image is one platform
	// of a multi-platform image (nil: the builder's default). Image is
	// then that platform's image, and the builder must return an image
	// of this platform: Buildah passes --platform, Command offers it to
	// its templates, Rebase takes the bases' images for it.
	Platform *v1.Platform
	// WorkDir is a scratch directory owned by the caller. The returned
	// image may read from files in it, so it must outlive the use of the
	// image; the caller removes it.
	WorkDir string
}

// Result is a built image.
type Result struct {
	// Image is the new image.
	Image v1.Image
	// BaseName and BaseDigest identify the base image it was built on,
	// when the builder knows.
	BaseName, BaseDigest string
	// Log is the build tool's output, when there is one.
	Log []byte
}

// BuildError reports a failed external build; it carries the tool's
// output. Credentials the builder was given (and their base64 forms) are
// scrubbed from Log and Tail.
type BuildError struct {
	Builder  string
	Args     []string // the command line (never holds a credential)
	ExitCode int      // -1 when the tool did not run or was killed
	Log      []byte   // combined output (the last MaxLog bytes)
	// Tail is the last TailLines lines of Log, for reports and mails.
	Tail string
	Err  error
}

// MaxLog is how much of a build's output a BuildError or Result keeps.
const MaxLog = 1 << 20

// TailLines is how many of the last lines of a failed build's output
// BuildError.Tail keeps.
const TailLines = 50

// Error names the builder and exit code, followed by the last 15 lines of
// the log (Tail has more).
func (e *BuildError) Error() string {
	tail := e.Tail
	if tail == "" {
		tail = lastLines(string(e.Log), TailLines)
	}
	tail = lastLines(tail, 15)
	msg := fmt.Sprintf("rebuild: %s failed (exit %d): %v", e.Builder, e.ExitCode, e.Err)
	if tail != "" {
		msg += "\n" + tail
	}
	return msg
}

// Unwrap returns the cause.
func (e *BuildError) Unwrap() error { return e.Err }

// newBuildError makes a BuildError from a tool's scrubbed output.
func newBuildError(builder string, args []string, log []byte, err error) *BuildError {
	return &BuildError{Builder: builder, Args: args, ExitCode: exitCode(err), Log: log, Tail: lastLines(string(log), TailLines), Err: err}
}

// lastLines returns the last n non-blank-trimmed lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ErrNoSource is returned by builders that need a source checkout when the
// request has none.
var ErrNoSource = errors.New("rebuild: builder needs a source checkout")

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// Archive formats understood by LoadArchive.
const (
	FormatOCI    = "oci-archive"
	FormatDocker = "docker-archive"
)

// LoadArchive reads the image in an OCI archive (a tar of an OCI image
// layout, as written by `buildah ... oci-archive:PATH`) or a docker archive
// (`docker save`). An OCI archive is unpacked into dir, which must outlive
// the returned image.
func LoadArchive(path, format, dir string) (v1.Image, error) {
	switch format {
	case FormatDocker:
		return tarball.ImageFromPath(path, nil)
	case FormatOCI, "":
	default:
		return nil, fmt.Errorf("rebuild: unknown archive format %q", format)
	}
	if err := untar(path, dir); err != nil {
		return nil, fmt.Errorf("rebuild: unpack %s: %w", path, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("rebuild: read OCI layout: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("rebuild: read OCI index: %w", err)
	}
	for _, d := range m.Manifests {
		if d.MediaType.IsImage() {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("rebuild: %s holds no image manifest", path)
}

func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target, err := within(dir, filepath.Clean(h.Name))
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
