package testutil

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Config describes the image configuration of a built image. The zero value
// gives a linux/amd64 image without labels.
type Config struct {
	OS, Architecture, Variant string
	Labels                    map[string]string
}

// Image stacks layers (bottom first) into an image with the given config.
func Image(cfg Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, fmt.Errorf("testutil: append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("testutil: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = cfg.OS, cfg.Architecture, cfg.Variant
	if cf.OS == "" {
		cf.OS = "linux"
	}
	if cf.Architecture == "" {
		cf.Architecture = "amd64"
	}
	cf.Config.Labels = cfg.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("testutil: set config: %w", err)
	}
	return img, nil
}

// MustImage is Image for tests: each entry list becomes one layer, bottom
// first.
func MustImage(t testing.TB, cfg Config, layers ...[]Entry) v1.Image {
	t.Helper()
	ls := make([]v1.Layer, 0, len(layers))
	for _, entries := range layers {
		l, err := Layer(entries...)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := Image(cfg, ls...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Registry starts go-containerregistry's in-memory registry on loopback and
// returns its host:port. The server stops when the test ends.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// RPMDBTestdata returns go-rpmdb's pkg/testdata directory from the module
// cache, which holds real rpmdbs from many distributions. The test is
// skipped when the go tool cannot locate it.
func RPMDBTestdata(t testing.TB) string {
	t.Helper()
	dir, err := RPMDBTestdataDir()
	if err != nil {
		t.Skipf("go-rpmdb testdata not available: %v", err)
	}
	return dir
}

// RPMDBTestdataDir is RPMDBTestdata for programs.
func RPMDBTestdataDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		return "", fmt.Errorf("testutil: locate go-rpmdb: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("testutil: go-rpmdb module directory is empty (module not downloaded?)")
	}
	return filepath.Join(dir, "pkg", "testdata"), nil
}
