package advisory

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/openabs/abs/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseChanges reads a whole index file with the default limits.
func parseChanges(data []byte) ([]change, error) {
	return readChanges(bytes.NewReader(data), time.Time{}, DefaultMaxIndexRows)
}

func TestDirReadsOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	doc := fixture(t, "csaf/rhsa-2099_0001.json")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), doc, 0o600))
	require.NoError(t, os.Symlink("a.json", filepath.Join(dir, "link.json")))
	fifo := filepath.Join(dir, "x.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	require.NoError(t, os.Symlink("x.json", filepath.Join(dir, "y.json")))

	// A FIFO would block a plain open until a writer comes, for ever.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := NewDir(dir).Fetch(ctx, Cursor{})
	require.NoError(t, err)
	assert.Equal(t, []string{"RHSA-2099:0001", "RHSA-2099:0001"}, ids(b.Advisories), "the file and the link to it")
	require.Len(t, b.Skipped, 2)
	for _, e := range b.Skipped {
		require.ErrorIs(t, e, ErrNotRegular)
	}

	// A FIFO given as the source itself.
	b, err = NewDir(fifo).Fetch(ctx, Cursor{})
	require.NoError(t, err)
	require.Len(t, b.Skipped, 1)
	require.ErrorIs(t, b.Skipped[0], ErrNotRegular)
}

func TestDirDocumentLimit(t *testing.T) {
	dir := t.TempDir()
	doc := fixture(t, "csaf/rhsa-2099_0001.json")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), doc, 0o600))
	// A sparse 2 GiB document takes no disk and would take gigabytes to
	// read and parse.
	f, err := os.Create(filepath.Join(dir, "big.json"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(2<<30))
	require.NoError(t, f.Close())

	var b *Batch
	peak := testutil.PeakHeap(func() {
		b, err = NewDir(dir).Fetch(t.Context(), Cursor{})
	})
	require.NoError(t, err)
	t.Logf("peak heap %d MiB", peak>>20)
	assert.Less(t, peak, uint64(64<<20))
	assert.Equal(t, []string{"RHSA-2099:0001"}, ids(b.Advisories))
	require.Len(t, b.Skipped, 1)
	require.ErrorIs(t, b.Skipped[0], ErrTooLarge)

	// The limit is the feed's: WithMaxDocumentSize.
	b, err = NewDir(dir, WithMaxDocumentSize(int64(len(doc)-1))).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Empty(t, b.Advisories)
	require.Len(t, b.Skipped, 2)
	b, err = NewDir(filepath.Join(dir, "a.json"), WithMaxDocumentSize(int64(len(doc)))).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Len(t, b.Advisories, 1, "a document of exactly the limit is read")
}

func TestDirCancelled(t *testing.T) {
	dir := t.TempDir()
	// 200 MiB of zeros under the limit: the read itself must stop.
	f, err := os.Create(filepath.Join(dir, "zeros.json"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(200<<20))
	require.NoError(t, f.Close())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = NewDir(dir).Fetch(ctx, Cursor{})
	require.ErrorIs(t, err, context.Canceled)

	_, err = readDocFile(ctx, filepath.Join(dir, "zeros.json"), maxDocument)
	require.ErrorIs(t, err, context.Canceled)
}

// rowsServer serves an index file of rows generated as they are sent.
// Row i is dated 2099-01-(1 + i/1000%28).
func rowsServer(t *testing.T, rows int, path func(i int) string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := bufio.NewWriterSize(w, 64<<10)
		for i := range rows {
			if _, err := fmt.Fprintf(bw, "%q,\"2099-01-%02dT00:00:00+00:00\"\n", path(i), 1+i/1000%28); err != nil {
				return // the client hung up
			}
		}
		_ = bw.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestChangesStreamed offers a changes.csv of 10 million rows. Read as it
// streams, it fails at the row limit in bounded memory; a long file of few
// documents is read whole, one entry per document.
func TestChangesStreamed(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("parses millions of rows on one goroutine; slow under -race")
	}
	unique := rowsServer(t, 10_000_000, func(i int) string { return fmt.Sprintf("2099/rhsa-2099_%07d.json", i) })
	c := NewCSAF(unique, WithMaxDocumentSize(1<<40))
	var err error
	peak := testutil.PeakHeap(func() {
		_, _, err = c.index(t.Context(), unique+"/changes.csv", Validator{}, time.Time{})
	})
	require.ErrorIs(t, err, ErrTooLarge)
	t.Logf("%v; peak heap %d MiB", err, peak>>20)
	assert.Less(t, peak, uint64(768<<20))

	few := rowsServer(t, 1_000_000, func(i int) string { return fmt.Sprintf("2099/rhsa-2099_%04d.json", i%1000) })
	c = NewCSAF(few, WithMaxDocumentSize(1<<40), WithMaxIndexRows(1_500_000))
	var l []change
	peak = testutil.PeakHeap(func() {
		l, _, err = c.index(t.Context(), few+"/changes.csv", Validator{}, time.Time{})
	})
	require.NoError(t, err)
	t.Logf("peak heap %d MiB", peak>>20)
	assert.Less(t, peak, uint64(64<<20))
	require.Len(t, l, 1000)
	assert.Equal(t, "2099/rhsa-2099_0000.json", l[0].path, "paths in the order they first appear")
	assert.Equal(t, time.Date(2099, 1, 28, 0, 0, 0, 0, time.UTC), l[0].at, "the newest time of each path")

	// Rows before the cursor are dropped as they are read.
	l, _, err = c.index(t.Context(), few+"/changes.csv", Validator{}, time.Date(2099, 1, 28, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Len(t, l, 1000)
	few = rowsServer(t, 27_000, func(i int) string { return fmt.Sprintf("2099/rhsa-2099_%04d.json", i) })
	l, _, err = c.index(t.Context(), few+"/changes.csv", Validator{}, time.Date(2099, 1, 27, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Len(t, l, 1000, "only the rows of the 27th")

	// The byte limit holds for index files too.
	_, _, err = NewCSAF(few, WithMaxDocumentSize(1<<20)).index(t.Context(), few+"/changes.csv", Validator{}, time.Time{})
	require.ErrorIs(t, err, ErrTooLarge)
}

// TestArchiveInFlight syncs from an archive of 24 members of 48 MiB of
// zeros (1.1 GiB, a few kilobytes compressed): each member is under the
// document limit, and the bytes held at once stay under WithMaxInFlight.
func TestArchiveInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses a gigabyte")
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	require.NoError(t, err)
	tw := tar.NewWriter(zw)
	zeros := make([]byte, 48<<20)
	for i := range 24 {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("2099/rhsa-2099_%04d.json", i), Mode: 0o644, Size: int64(len(zeros)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	zeros = nil
	t.Logf("archive of %d bytes", buf.Len())

	feed := newFakeFeed()
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	feed.set("archive_latest.txt", []byte("csaf_advisories_2099-01-20.tar.zst\n"))
	feed.set("csaf_advisories_2099-01-20.tar.zst", buf.Bytes())
	feed.set("changes.csv", nil)
	var b *Batch
	peak := testutil.PeakHeap(func() {
		b, err = NewCSAF(srv.URL+"/feed", WithConcurrency(4), WithMaxDocumentSize(64<<20), WithMaxInFlight(64<<20)).Fetch(t.Context(), Cursor{})
	})
	require.NoError(t, err)
	t.Logf("peak heap %d MiB", peak>>20)
	assert.Less(t, peak, uint64(64<<20)+uint64(buf.Len())+160<<20)
	assert.Len(t, b.Skipped, 24, "zeros are no CSAF document")
	for _, e := range b.Skipped {
		require.ErrorIs(t, e, ErrMalformed)
	}
}
