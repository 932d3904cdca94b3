//go:build isal && cgo

package rpmscan

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"
)

func TestISALGunzipMatchesKlauspost(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		var parts [][]byte
		for range 1 + r.IntN(3) {
			parts = append(parts, randomContent(r, r.IntN(600<<10)))
		}
		level := []int{gzip.NoCompression, gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression, gzip.HuffmanOnly}[i%5]
		data := gzipMembers(t, level, parts...)
		want := bytes.Join(parts, nil)

		zr, err := newGzipReader(&chunky{b: data, r: r})
		require.NoError(t, err)
		got, err := readAllChunks(t, zr, r)
		require.NoError(t, err, "case %d", i)
		require.NoError(t, zr.Close())
		require.True(t, bytes.Equal(want, got), "case %d: %d bytes out, want %d", i, len(got), len(want))
	}
}

func TestISALGunzipErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	content := randomContent(r, 300<<10)
	good := gzipMembers(t, gzip.DefaultCompression, content)

	read := func(b []byte) error {
		zr, err := newGzipReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(io.Discard, zr)
		return err
	}
	require.NoError(t, read(good))

	// The stored CRC-32 of the content changed.
	bad := bytes.Clone(good)
	bad[len(bad)-8] ^= 1
	require.ErrorIs(t, read(bad), gzip.ErrChecksum)

	// The stored size changed.
	bad = bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	require.ErrorIs(t, read(bad), gzip.ErrChecksum)

	// Cut short anywhere after the header.
	for _, n := range []int{11, 100, len(good) / 2, len(good) - 4, len(good) - 1} {
		require.ErrorIs(t, read(good[:n]), io.ErrUnexpectedEOF, "cut at %d of %d", n, len(good))
	}

	// Bytes after the last member that are not a gzip member.
	require.ErrorIs(t, read(append(bytes.Clone(good), "trailing junk"...)), gzip.ErrHeader)

	// Not gzip at all, and an unknown method.
	require.ErrorIs(t, read([]byte("plain text, not gzip")), gzip.ErrHeader)
	bad = bytes.Clone(good)
	bad[2] = 7
	require.ErrorIs(t, read(bad), gzip.ErrHeader)

	// Flipped bits in the deflate data: an error, never a silent success
	// with other bytes.
	for i := range 200 {
		bad = bytes.Clone(good)
		pos := 10 + r.IntN(len(bad)-18)
		bad[pos] ^= byte(1 << (i % 8))
		zr, err := newGzipReader(bytes.NewReader(bad))
		require.NoError(t, err)
		got, err := io.ReadAll(zr)
		zr.Close()
		if err == nil {
			require.Equal(t, content, got, "flip at %d decoded to other bytes without an error", pos)
		}
	}
}

// FuzzISALGunzip compares ISA-L with klauspost/compress on any input: where
// klauspost decodes the whole stream, ISA-L must give the same bytes; where
// ISA-L decodes it, klauspost must agree.
func FuzzISALGunzip(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	f.Add(gzipMembers(f, gzip.DefaultCompression, randomContent(r, 10000)))
	f.Add(gzipMembers(f, gzip.BestSpeed, []byte("a"), []byte("bc")))
	f.Add(gzipMembers(f, gzip.NoCompression, randomContent(r, 70000)))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 || data[0] != 0x1f || data[1] != 0x8b {
			return
		}
		var want []byte
		var wantErr error
		kr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			wantErr = err
		} else {
			want, wantErr = io.ReadAll(io.LimitReader(kr, 64<<20))
		}
		var got []byte
		zr, gotErr := newGzipReader(&chunky{b: data, r: rand.New(rand.NewPCG(uint64(len(data)), 7))})
		if gotErr == nil {
			got, gotErr = io.ReadAll(io.LimitReader(zr, 64<<20))
			zr.Close()
		}
		if wantErr == nil && gotErr == nil && !bytes.Equal(want, got) {
			t.Fatalf("both decoded, to different bytes: %d vs %d", len(want), len(got))
		}
		if wantErr == nil && gotErr != nil && !errors.Is(gotErr, gzip.ErrHeader) {
			// compress/gzip ignores some header fields ISA-L checks; the
			// deflate data itself must decode alike.
			t.Fatalf("klauspost decoded %d bytes, isa-l failed: %v", len(want), gotErr)
		}
		if gotErr == nil && wantErr != nil {
			t.Fatalf("isa-l decoded %d bytes, klauspost failed: %v", len(got), wantErr)
		}
	})
}
