package rpmscan_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// storedLayer is a layer whose Compressed returns stored as is; its
// Uncompressed fails unless plain is set, so a test sees which one the scan
// read.
type storedLayer struct {
	stored []byte
	diffID v1.Hash
	mt     types.MediaType
	plain  []byte // what Uncompressed returns; nil: it fails
}

var errNotThisWay = errors.New("test: this method must not be used")

func (l *storedLayer) Digest() (v1.Hash, error)            { return hashOf(l.stored), nil }
func (l *storedLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *storedLayer) Size() (int64, error)                { return int64(len(l.stored)), nil }
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.stored)), nil
}
func (l *storedLayer) Uncompressed() (io.ReadCloser, error) {
	if l.plain == nil {
		return nil, errNotThisWay
	}
	return io.NopCloser(bytes.NewReader(l.plain)), nil
}

// plainStored is a layer that says its stored form is uncompressed; its
// Compressed fails.
type plainStored struct{ storedLayer }

func (l *plainStored) Compressed() (io.ReadCloser, error) { return nil, errNotThisWay }
func (*plainStored) StoredUncompressed() bool             { return true }

func hashOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	require.NoError(t, err)
	_, err = zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestScanDecompression checks that the scan decompresses gzip and zstd
// layers itself, reads stored-uncompressed layers through Uncompressed, and
// reports damaged compressed streams as ErrCorruptLayer.
func TestScanDecompression(t *testing.T) {
	db := readFixture(t, "rpmdb/sqlite/rpmdb.sqlite")
	raw, err := testutil.Tar(
		testutil.File("etc/os-release", []byte("ID=rhel\nVERSION_ID=9.4\n")),
		testutil.File("opt/filler", bytes.Repeat([]byte("filler "), 50000)),
		testutil.File("var/lib/rpm/rpmdb.sqlite", db),
	)
	require.NoError(t, err)
	gz := testutil.Gzip(raw)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-6] ^= 0xff // the CRC-32 in the gzip trailer
	badHeader := bytes.Clone(gz)
	badHeader[2] = 0 // compression method
	zst := zstdBytes(t, raw)
	badZstd := bytes.Clone(zst)
	badZstd[len(badZstd)/2] ^= 0xff

	ok := func(stored []byte, mt types.MediaType) v1.Layer {
		return &storedLayer{stored: stored, diffID: hashOf(raw), mt: mt}
	}
	for _, tc := range []struct {
		name  string
		layer v1.Layer
		want  error
	}{
		{"gzip", ok(gz, types.DockerLayer), nil},
		{"zstd", ok(zst, types.OCILayerZStd), nil},
		{"uncompressed bytes under a gzip media type", ok(raw, types.OCILayer), nil},
		{"uncompressed media type", &storedLayer{stored: gz, diffID: hashOf(raw), mt: types.OCIUncompressedLayer, plain: raw}, nil},
		{"stored uncompressed", &plainStored{storedLayer{diffID: hashOf(raw), mt: types.DockerLayer, plain: raw}}, nil},
		{"gzip with a bad checksum", ok(badCRC, types.DockerLayer), rpmscan.ErrCorruptLayer},
		{"gzip with a bad header", ok(badHeader, types.DockerLayer), rpmscan.ErrCorruptLayer},
		{"damaged zstd", ok(badZstd, types.OCILayerZStd), rpmscan.ErrCorruptLayer},
		{"truncated zstd", ok(zst[:len(zst)/2], types.OCILayerZStd), rpmscan.ErrCorruptLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := testutil.Image(testutil.Config{}, tc.layer)
			require.NoError(t, err)
			inv, err := scanner(t, rpmscan.WithTempDir(t.TempDir())).Scan(t.Context(), img)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				var le *rpmscan.LayerError
				require.ErrorAs(t, err, &le)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, inv.RPMDB)
			assert.Len(t, inv.Packages, 7)
			assert.Equal(t, "rhel", inv.OS.ID)
		})
	}
}
