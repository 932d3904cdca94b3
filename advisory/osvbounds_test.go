package advisory

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http/httptest"
	"runtime/debug"
	"testing"

	"github.com/openabs/abs/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gcPercent sets the garbage collector's target for the rest of the test,
// so that a sampled peak heap holds little garbage.
func gcPercent(t *testing.T, p int) {
	old := debug.SetGCPercent(p)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// serveZip serves body as BASE/all.zip and returns an OSV source for BASE.
func serveZip(t *testing.T, body []byte, opts ...Option) *OSV {
	feed := newFakeFeed()
	feed.set("AlmaLinux:9/all.zip", body)
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	return NewOSV(srv.URL+"/feed/AlmaLinux:9", opts...)
}

// deflatedZeros returns n zero bytes compressed with deflate, and their
// CRC-32.
func deflatedZeros(t *testing.T, n int) ([]byte, uint32) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	require.NoError(t, err)
	chunk := make([]byte, 1<<20)
	crc := crc32.NewIEEE()
	for n > 0 {
		c := chunk[:min(n, len(chunk))]
		_, err := fw.Write(c)
		require.NoError(t, err)
		crc.Write(c)
		n -= len(c)
	}
	require.NoError(t, fw.Close())
	return buf.Bytes(), crc.Sum32()
}

// rawMembers writes count members of the same deflated data, each
// declaring size bytes.
func rawMembers(t *testing.T, zw *zip.Writer, count int, data []byte, crc uint32, size uint64) {
	for i := range count {
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: fmt.Sprintf("ALSA-2099:%05d.json", i), Method: zip.Deflate,
			CRC32: crc, CompressedSize64: uint64(len(data)), UncompressedSize64: size,
		})
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
}

func TestOSVZipDocumentSize(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	doc := fixture(t, "osv/alsa-2099_0003.json")
	w, err := zw.Create("ALSA-2099:0003.json")
	require.NoError(t, err)
	_, err = w.Write(doc)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	b, err := serveZip(t, buf.Bytes()).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Len(t, b.Advisories, 1)
	// The member limit is the feed's WithMaxDocumentSize.
	b, err = serveZip(t, buf.Bytes(), WithMaxDocumentSize(int64(len(doc)-1))).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Empty(t, b.Advisories)
	require.Len(t, b.Skipped, 1)
	require.ErrorIs(t, b.Skipped[0], ErrTooLarge)
	b, err = serveZip(t, buf.Bytes(), WithMaxDocumentSize(int64(len(doc)))).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Len(t, b.Advisories, 1, "a member of exactly the limit is read")
}

// TestOSVZipManyMembers: a zip of 150,000 members fails before its
// directory is read into memory.
func TestOSVZipManyMembers(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 150_000 {
		_, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%d.json", i), Method: zip.Store})
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	t.Logf("zip of %d KiB", buf.Len()>>10)

	var err error
	gcPercent(t, 25) // little garbage left in the peak
	peak := testutil.PeakHeap(func() {
		_, err = serveZip(t, buf.Bytes(), WithMaxMembers(100_000)).Fetch(t.Context(), Cursor{})
	})
	require.ErrorIs(t, err, ErrTooLarge)
	t.Logf("%v; peak heap %d MiB", err, peak>>20)
	assert.Contains(t, err.Error(), "more than 100000 members", "counted before the directory is read")
	assert.Less(t, peak, uint64(buf.Len())*4+64<<20, "the body, its copy in the feed server, no directory")

	// Under the default, the members are read (and skipped: they are empty).
	b, err := serveZip(t, buf.Bytes()).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Len(t, b.Skipped, 150_000)
}

// TestOSVZipBomb: members that expand far beyond what the archive holds.
func TestOSVZipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses half a gigabyte")
	}
	const size = 64 << 20
	zeros, crc := deflatedZeros(t, size)
	t.Logf("64 MiB of zeros deflate to %d KiB", len(zeros)>>10)

	t.Run("one huge member", func(t *testing.T) {
		// Over the document limit, declared truthfully: skipped unread.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		rawMembers(t, zw, 1, zeros, crc, size)
		require.NoError(t, zw.Close())
		var b *Batch
		var err error
		peak := testutil.PeakHeap(func() {
			b, err = serveZip(t, buf.Bytes(), WithMaxDocumentSize(16<<20)).Fetch(t.Context(), Cursor{})
		})
		require.NoError(t, err)
		require.Len(t, b.Skipped, 1)
		require.ErrorIs(t, b.Skipped[0], ErrTooLarge)
		assert.Less(t, peak, uint64(32<<20))

		// Declaring 1 KiB and holding 64 MiB: the read stops past the
		// declared size.
		buf.Reset()
		zw = zip.NewWriter(&buf)
		rawMembers(t, zw, 1, zeros, crc, 1<<10)
		require.NoError(t, zw.Close())
		peak = testutil.PeakHeap(func() {
			b, err = serveZip(t, buf.Bytes()).Fetch(t.Context(), Cursor{})
		})
		require.NoError(t, err)
		require.Len(t, b.Skipped, 1)
		require.ErrorIs(t, b.Skipped[0], zip.ErrFormat)
		t.Logf("%v; peak heap %d MiB", b.Skipped[0], peak>>20)
		assert.Less(t, peak, uint64(32<<20))
	})

	t.Run("many members sharing data", func(t *testing.T) {
		// 100 members of 64 MiB each, 6.25 GiB from a zip of a few
		// megabytes: over WithMaxArchiveSize before anything is read.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		rawMembers(t, zw, 100, zeros, crc, size)
		require.NoError(t, zw.Close())
		_, err := serveZip(t, buf.Bytes()).Fetch(t.Context(), Cursor{})
		require.ErrorIs(t, err, ErrTooLarge)
		t.Log(err)
	})

	t.Run("bytes in flight", func(t *testing.T) {
		// 8 members of 64 MiB (512 MiB), each under the document limit:
		// the bytes held at once stay under WithMaxInFlight.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		rawMembers(t, zw, 8, zeros, crc, size)
		require.NoError(t, zw.Close())
		var b *Batch
		var err error
		gcPercent(t, 25)
		peak := testutil.PeakHeap(func() {
			b, err = serveZip(t, buf.Bytes(), WithConcurrency(4), WithMaxInFlight(96<<20)).Fetch(t.Context(), Cursor{})
		})
		require.NoError(t, err)
		t.Logf("peak heap %d MiB", peak>>20)
		assert.Less(t, peak, uint64(96<<20)+size+64<<20, "in flight, one member being read, the zip")
		require.Len(t, b.Skipped, 8)
		for _, e := range b.Skipped {
			require.ErrorIs(t, e, ErrMalformed, "zeros are no OSV record")
		}
	})
}

// FuzzOSVZip checks that no all.zip makes the OSV source panic, and that
// its errors are typed.
func FuzzOSVZip(f *testing.F) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("ALSA-2099:0003.json")
	_, _ = w.Write([]byte(`{"id":"ALSA-2099:0003","affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1.0-1"}]}]}]}`))
	w, _ = zw.CreateHeader(&zip.FileHeader{Name: "b.json", Method: zip.Store})
	_, _ = w.Write([]byte(`{}`))
	_ = zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	o := NewOSV("https://example.com/osv/", WithMaxMembers(64), WithMaxDocumentSize(1<<20), WithMaxArchiveSize(4<<20))
	f.Fuzz(func(t *testing.T, data []byte) {
		advs, skipped, err := o.readZip(t.Context(), "all.zip", data)
		if err != nil {
			var pe *ParseError
			if !errors.Is(err, ErrTooLarge) && !errors.As(err, &pe) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		for _, e := range skipped {
			var de *DocError
			require.ErrorAs(t, e, &de)
		}
		for _, a := range advs {
			require.NotEmpty(t, a.ID)
		}
	})
}
