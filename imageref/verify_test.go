package imageref_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/imageref"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// dockerSave writes an archive laid out as `docker save` (Docker 25+)
// writes one: plain tar layers under blobs/sha256/, reached through
// <id>/layer.tar symbolic links, and the given diff_ids in the config.
func dockerSave(t *testing.T, p string, layers [][]byte, diffIDs []v1.Hash) {
	t.Helper()
	cfg := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}}
	rawCfg, err := json.Marshal(cfg)
	require.NoError(t, err)
	cfgHash, _, err := v1.SHA256(bytesReader(rawCfg))
	require.NoError(t, err)
	var entries []testutil.Entry
	desc := tarball.Descriptor{Config: "blobs/sha256/" + cfgHash.Hex, RepoTags: []string{"acme/app:1"}}
	entries = append(entries, testutil.File(desc.Config, rawCfg))
	for i, l := range layers {
		h, _, err := v1.SHA256(bytesReader(l))
		require.NoError(t, err)
		blob := "blobs/sha256/" + h.Hex
		link := filepath.Join("id"+string(rune('a'+i)), "layer.tar")
		entries = append(entries, testutil.File(blob, l), testutil.Entry{Name: link, Type: tar.TypeSymlink, Linkname: "../" + blob})
		desc.Layers = append(desc.Layers, link)
	}
	toc, err := json.Marshal(tarball.Manifest{desc})
	require.NoError(t, err)
	entries = append(entries, testutil.File("manifest.json", toc))
	raw, err := testutil.Tar(entries...)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, raw, 0o600))
}

func scan(t *testing.T, ref string) (*rpmscan.Inventory, error) {
	t.Helper()
	img, err := imageref.Open(t.Context(), ref)
	require.NoError(t, err)
	tmp := t.TempDir()
	inv, err := rpmscan.New(rpmscan.WithTempDir(tmp)).Scan(t.Context(), img)
	ents, rerr := os.ReadDir(tmp)
	require.NoError(t, rerr)
	assert.Empty(t, ents)
	return inv, err
}

func TestDockerSaveDiffIDs(t *testing.T) {
	osRelease := testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.4\n"))
	l1, err := testutil.Tar(osRelease)
	require.NoError(t, err)
	l2, err := testutil.Tar(testutil.File("etc/motd", []byte("hi")))
	require.NoError(t, err)
	h1, _, _ := v1.SHA256(bytesReader(l1))
	h2, _, _ := v1.SHA256(bytesReader(l2))
	dir := t.TempDir()

	good := filepath.Join(dir, "good.tar")
	dockerSave(t, good, [][]byte{l1, l2}, []v1.Hash{h1, h2})
	inv, err := scan(t, "docker-archive:"+good)
	require.NoError(t, err)
	assert.Equal(t, "9.4", inv.OS.VersionID)
	// The digests are those go-containerregistry gives the same archive.
	ref, err := tarball.ImageFromPath(good, nil)
	require.NoError(t, err)
	assert.Equal(t, digest(t, ref), inv.Image.Digest)

	swapped := filepath.Join(dir, "swapped.tar")
	dockerSave(t, swapped, [][]byte{l1, l2}, []v1.Hash{h2, h1})
	_, err = scan(t, "docker-archive:"+swapped)
	require.ErrorIs(t, err, rpmscan.ErrDigestMismatch)
	var le *rpmscan.LayerError
	require.ErrorAs(t, err, &le)

	short := filepath.Join(dir, "short.tar")
	dockerSave(t, short, [][]byte{l1, l2}, []v1.Hash{h1})
	_, err = imageref.Open(t.Context(), "docker-archive:"+short)
	require.ErrorContains(t, err, "1 diff_ids for 2 layers")
}

func TestLayoutTampered(t *testing.T) {
	a, err := testutil.Layer(testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.4\n")))
	require.NoError(t, err)
	b, err := testutil.Layer(testutil.File("etc/os-release", []byte("ID=fedora\nVERSION_ID=40\n")))
	require.NoError(t, err)
	img, err := mutate.AppendLayers(empty.Image, a)
	require.NoError(t, err)
	write := func(t *testing.T) string {
		dir := t.TempDir()
		p, err := layout.Write(dir, empty.Index)
		require.NoError(t, err)
		require.NoError(t, p.AppendImage(img))
		return dir
	}
	blob := func(dir string, h v1.Hash) string { return filepath.Join(dir, "blobs", h.Algorithm, h.Hex) }

	t.Run("intact", func(t *testing.T) {
		inv, err := scan(t, "oci:"+write(t))
		require.NoError(t, err)
		assert.Equal(t, "rhel", inv.OS.ID)
	})
	t.Run("layer blob replaced", func(t *testing.T) {
		dir := write(t)
		da, _ := a.Digest()
		rc, err := b.Compressed()
		require.NoError(t, err)
		other, err := readAll(rc)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(blob(dir, da), other, 0o600))
		_, err = scan(t, "oci:"+dir)
		require.ErrorIs(t, err, rpmscan.ErrDigestMismatch)
	})
	t.Run("config blob replaced", func(t *testing.T) {
		dir := write(t)
		cn, err := img.ConfigName()
		require.NoError(t, err)
		raw, err := img.RawConfigFile()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(blob(dir, cn), append(raw, ' '), 0o600))
		_, err = scan(t, "oci:"+dir)
		require.ErrorIs(t, err, rpmscan.ErrDigestMismatch)
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func readAll(rc io.ReadCloser) ([]byte, error) {
	defer rc.Close()
	return io.ReadAll(rc)
}
