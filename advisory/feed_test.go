package advisory

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeFeed serves a CSAF feed directory from memory, with ETags, and can
// fail chosen paths a number of times with a status.
type fakeFeed struct {
	mu       sync.Mutex
	files    map[string][]byte
	failures map[string][]int // path -> statuses to answer before serving
	requests map[string]int
	notMod   int
}

func newFakeFeed() *fakeFeed {
	return &fakeFeed{files: map[string][]byte{}, failures: map[string][]int{}, requests: map[string]int{}}
}

func (f *fakeFeed) set(p string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[p] = data
}

func (f *fakeFeed) fail(p string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[p] = append(f.failures[p], statuses...)
}

func (f *fakeFeed) count(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[p]
}

func (f *fakeFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/feed/")
	f.requests[p]++
	if l := f.failures[p]; len(l) > 0 {
		f.failures[p] = l[1:]
		http.Error(w, "injected failure", l[0])
		return
	}
	data, ok := f.files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		f.notMod++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(data)
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

// tarZst builds a .tar.zst archive of the given files.
func tarZst(t testing.TB, files map[string][]byte, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	require.NoError(t, err)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Date(2099, 1, 20, 0, 0, 0, 0, time.UTC), Typeflag: tar.TypeReg}))
		_, err := tw.Write(files[n])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestCSAFFeedSync(t *testing.T) {
	feed := newFakeFeed()
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)

	rhsa := fixture(t, "csaf/rhsa-2099_0001.json")
	rhba := fixture(t, "csaf/rhba-2099_0002.json")
	vex := fixture(t, "csaf/cve-2099-1111.json")
	bad := fixture(t, "bad/rhsa-2099_0010.json")
	archived := map[string][]byte{"2099/rhsa-2099_0001.json": rhsa, "2099/cve-2099-1111.json": vex, "2099/rhsa-2099_0010.json": bad, "README": []byte("not a document")}
	feed.set("archive_latest.txt", []byte("csaf_advisories_2099-01-20.tar.zst\n"))
	feed.set("csaf_advisories_2099-01-20.tar.zst", tarZst(t, archived, "2099/rhsa-2099_0001.json", "2099/cve-2099-1111.json", "2099/rhsa-2099_0010.json", "README"))
	feed.set("2099/rhsa-2099_0001.json", rhsa)
	feed.set("2099/rhba-2099_0002.json", rhba)
	feed.set("2099/rhsa-2099_0011.json", []byte(`{"document":`))
	feed.set("changes.csv", []byte(`"2099/rhsa-2099_0011.json","2099-02-02T00:00:00+00:00"
"2099/rhba-2099_0002.json","2099-02-01T00:00:00+00:00"
"2099/rhsa-2099_0001.json","2099-01-10T12:00:00+00:00"
`))
	feed.set("deletions.csv", []byte(`"2098/rhsa-2098_0001.json","2098-06-01T00:00:00+00:00"
`))
	feed.fail("2099/rhba-2099_0002.json", http.StatusInternalServerError, http.StatusBadGateway)

	var progress []Progress
	src := NewCSAF(srv.URL+"/feed", WithRetry(4, time.Millisecond, time.Millisecond), WithConcurrency(2),
		WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))),
		WithProgress(func(p Progress) { progress = append(progress, p) }))
	store := NewStore()

	// First sync: archive, then what changed after it.
	b, err := src.Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	store.Apply(b)
	assert.Equal(t, []Progress{
		{Source: src.Name(), Done: 3, Total: 0}, // the archive's three documents, count not known ahead
		{Source: src.Name(), Done: 2, Total: 2}, // the two changed since the archive
	}, progress)
	assert.Equal(t, []string{src.Name()}, b.Replace)
	assert.Equal(t, []string{"RHSA-2099:0001", "RHBA-2099:0002"}, ids(b.Advisories))
	require.Len(t, b.VEX, 1)
	assert.Equal(t, "CVE-2099-1111", b.VEX[0].CVE)
	assert.Equal(t, src.Name(), b.Advisories[0].Source)
	require.Len(t, b.Skipped, 2, "the malformed document in the archive and the one in changes.csv")
	for _, e := range b.Skipped {
		require.ErrorIs(t, e, ErrMalformed)
	}
	assert.Empty(t, b.Deleted, "deletions older than the archive are already applied")
	assert.Equal(t, time.Date(2099, 2, 2, 0, 0, 0, 0, time.UTC), b.Cursor.Since)
	assert.Equal(t, 3, feed.count("2099/rhba-2099_0002.json"), "two 5xx answers, then success")
	assert.Equal(t, 0, feed.count("2099/rhsa-2099_0001.json"), "archived and unchanged since")

	// The cursor survives a round trip through storage.
	cur, err := ParseCursor(b.Cursor.Encode())
	require.NoError(t, err)
	assert.Equal(t, b.Cursor, cur)

	// Nothing changed: conditional requests, no documents.
	b, err = src.Fetch(t.Context(), cur)
	require.NoError(t, err)
	assert.Empty(t, b.Advisories)
	assert.Empty(t, b.Replace)
	assert.Equal(t, 2, feed.notMod)
	assert.Equal(t, cur.Since, b.Cursor.Since)
	cur = b.Cursor

	// An update and a deletion.
	updated := bytes.Replace(rhsa, []byte(`"current_release_date": "2099-01-10T12:00:00+00:00"`), []byte(`"current_release_date": "2099-03-01T00:00:00+00:00"`), 1)
	require.NotEqual(t, rhsa, updated)
	feed.set("2099/rhsa-2099_0001.json", updated)
	feed.set("changes.csv", []byte(`"2099/rhsa-2099_0001.json","2099-03-01T00:00:00+00:00"
"2099/rhsa-2099_0011.json","2099-02-02T00:00:00+00:00"
"2099/rhba-2099_0002.json","2099-02-01T00:00:00+00:00"
`))
	feed.set("deletions.csv", []byte(`"2099/rhba-2099_0002.json","2099-03-01T00:00:00+00:00"
"2098/rhsa-2098_0001.json","2098-06-01T00:00:00+00:00"
`))
	b, err = src.Fetch(t.Context(), cur)
	require.NoError(t, err)
	assert.Equal(t, []string{"RHSA-2099:0001"}, ids(b.Advisories))
	assert.Equal(t, []string{"RHBA-2099:0002"}, b.Deleted)
	assert.Equal(t, time.Date(2099, 3, 1, 0, 0, 0, 0, time.UTC), b.Cursor.Since)
	assert.Equal(t, 3, feed.count("2099/rhba-2099_0002.json"), "not fetched again")
	store.Apply(b)
	assert.Equal(t, []string{"RHSA-2099:0001"}, ids(store.Advisories()))
	assert.Equal(t, time.Date(2099, 3, 1, 0, 0, 0, 0, time.UTC), store.Advisories()[0].Updated)
	assert.Len(t, store.VEX(), 1)
	assert.Equal(t, 1, feed.count("csaf_advisories_2099-01-20.tar.zst"), "the archive is read once")
}

func ids(l []Advisory) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.ID
	}
	return out
}

func TestMeterReportsEveryThousand(t *testing.T) {
	var got []Progress
	m := newMeter(func(p Progress) { got = append(got, p) }, "src", 2500)
	var wg sync.WaitGroup
	for range 2500 {
		wg.Go(m.step)
	}
	wg.Wait()
	m.finish()
	assert.Equal(t, []Progress{{"src", 1000, 2500}, {"src", 2000, 2500}, {"src", 2500, 2500}}, got)

	got = nil
	m = newMeter(func(p Progress) { got = append(got, p) }, "src", 1000)
	for range 1000 {
		m.step()
	}
	m.finish()
	assert.Equal(t, []Progress{{"src", 1000, 1000}}, got, "no second report of the same count")
	var none *meter
	none.step() // a source without a progress hook
	none.finish()
}

func TestCSAFFeedErrors(t *testing.T) {
	feed := newFakeFeed()
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	feed.set("changes.csv", []byte(`"2099/rhsa-2099_0001.json","2099-01-10T12:00:00+00:00"`+"\n"))
	feed.set("2099/rhsa-2099_0001.json", fixture(t, "csaf/rhsa-2099_0001.json"))
	opts := []Option{WithRetry(3, time.Millisecond, time.Millisecond)}

	t.Run("4xx on an index file is a clear error", func(t *testing.T) {
		feed.fail("changes.csv", http.StatusForbidden)
		_, err := NewCSAF(srv.URL+"/feed/", opts...).Fetch(t.Context(), Cursor{Since: time.Unix(1, 0)})
		var he *HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, http.StatusForbidden, he.StatusCode)
		assert.Contains(t, err.Error(), "403 Forbidden")
	})
	t.Run("5xx until the retries run out", func(t *testing.T) {
		feed.fail("changes.csv", 503, 503, 503)
		_, err := NewCSAF(srv.URL+"/feed/", opts...).Fetch(t.Context(), Cursor{Since: time.Unix(1, 0)})
		var he *HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, http.StatusServiceUnavailable, he.StatusCode)
	})
	t.Run("a configured list instead of the archive", func(t *testing.T) {
		src := NewCSAF(srv.URL+"/feed/", append(opts, WithDocuments("2099/rhsa-2099_0001.json", "2099/gone.json"))...)
		b, err := src.Fetch(t.Context(), Cursor{})
		require.NoError(t, err)
		assert.Equal(t, []string{"RHSA-2099:0001"}, ids(b.Advisories))
		require.Len(t, b.Skipped, 1)
		var de *DocError
		require.ErrorAs(t, b.Skipped[0], &de)
		assert.Equal(t, "2099/gone.json", de.Doc)
		assert.Equal(t, 0, feed.count("archive_latest.txt"))
		assert.Equal(t, time.Date(2099, 1, 10, 12, 0, 0, 0, time.UTC), b.Cursor.Since)
	})
	t.Run("a failing source in a combination", func(t *testing.T) {
		feed.fail("changes.csv", http.StatusNotFound)
		dir := NewDir("testdata/csaf")
		b, err := Combine(NewCSAF(srv.URL+"/feed/", opts...), dir).Fetch(t.Context(), Cursor{})
		require.Error(t, err)
		assert.Len(t, b.Advisories, 2, "the directory still delivered")
		assert.Contains(t, b.Cursor.Sources, dir.Name())
	})
}

func TestDirAndOpen(t *testing.T) {
	st, skipped, err := Load(t.Context(), []string{"testdata/csaf", "osv:testdata/osv", "testdata/bad"})
	require.NoError(t, err)
	assert.Len(t, skipped, 2)
	assert.Equal(t, []string{"ALSA-2099:0003", "RHBA-2099:0002", "RHSA-2099:0001"}, ids(st.Advisories()))
	assert.Len(t, st.VEX(), 1)
	assert.Equal(t, "osv:testdata/osv", st.Advisories()[0].Source)

	_, err = Open("testdata/does-not-exist")
	require.Error(t, err)
	s, err := Open("https://example.com/csaf")
	require.NoError(t, err)
	assert.Equal(t, "csaf:https://example.com/csaf/", s.Name())
}

func TestOSVOverHTTP(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("ALSA-2099:0003.json")
	require.NoError(t, err)
	_, err = w.Write(fixture(t, "osv/alsa-2099_0003.json"))
	require.NoError(t, err)
	w, err = zw.Create("ALSA-2099:0004.json")
	require.NoError(t, err)
	_, err = w.Write([]byte(`{"id": "ALSA-2099:0004"}`))
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	feed := newFakeFeed()
	feed.set("AlmaLinux:9/all.zip", buf.Bytes())
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)

	src, err := Open("osv+" + srv.URL + "/feed/AlmaLinux:9")
	require.NoError(t, err)
	b, err := src.Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Equal(t, []string{"ALSA-2099:0003"}, ids(b.Advisories))
	assert.Len(t, b.Skipped, 1)
	assert.Equal(t, []string{src.Name()}, b.Replace)

	b, err = src.Fetch(t.Context(), b.Cursor)
	require.NoError(t, err)
	assert.Empty(t, b.Advisories)
	assert.Empty(t, b.Replace, "unchanged: nothing replaced")
	assert.Equal(t, 1, feed.notMod)
}

func TestMaxDocumentSize(t *testing.T) {
	feed := newFakeFeed()
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	doc := fixture(t, "csaf/rhsa-2099_0001.json")
	limit := WithMaxDocumentSize(int64(len(doc) - 1))

	feed.set("repository-to-cpe.json", []byte(repoCPEDoc))
	_, err := LoadRepoCPE(t.Context(), srv.URL+"/feed/repository-to-cpe.json", WithMaxDocumentSize(16), WithRetry(3, time.Millisecond, time.Millisecond))
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, 1, feed.count("repository-to-cpe.json"), "not retried")

	files := map[string][]byte{"2099/rhsa-2099_0001.json": doc}
	feed.set("archive_latest.txt", []byte("csaf_advisories_2099-01-20.tar.zst\n"))
	feed.set("csaf_advisories_2099-01-20.tar.zst", tarZst(t, files, "2099/rhsa-2099_0001.json"))
	feed.set("2099/rhsa-2099_0001.json", doc)
	feed.set("changes.csv", []byte(`"2099/rhsa-2099_0001.json","2099-02-01T00:00:00+00:00"`+"\n"))
	b, err := NewCSAF(srv.URL+"/feed", limit, WithRetry(3, time.Millisecond, time.Millisecond)).Fetch(t.Context(), Cursor{})
	require.NoError(t, err, "a document over the limit is skipped, not fatal")
	assert.Empty(t, b.Advisories)
	require.Len(t, b.Skipped, 2, "the archive member and the changed document")
	for _, e := range b.Skipped {
		require.ErrorIs(t, e, ErrTooLarge)
	}
	assert.Equal(t, 1, feed.count("2099/rhsa-2099_0001.json"), "not retried")

	b, err = NewCSAF(srv.URL+"/feed", WithMaxDocumentSize(int64(len(doc)))).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Equal(t, []string{"RHSA-2099:0001", "RHSA-2099:0001"}, ids(b.Advisories), "a document of exactly the limit is read")
}

func TestCSAFFeedCursorEdges(t *testing.T) {
	feed := newFakeFeed()
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	rhsa := fixture(t, "csaf/rhsa-2099_0001.json")
	rhba := fixture(t, "csaf/rhba-2099_0002.json")
	feed.set("2099/rhsa-2099_0001.json", rhsa)
	feed.set("2099/rhba-2099_0002.json", rhba)
	at := time.Date(2099, 2, 1, 0, 0, 0, 0, time.UTC)
	src := NewCSAF(srv.URL+"/feed", WithRetry(2, time.Millisecond, time.Millisecond))

	t.Run("a change at the cursor's own time is read", func(t *testing.T) {
		// The previous sync read rhsa at `at`; rhba, changed in the same
		// second, was listed only afterwards.
		feed.set("changes.csv", []byte(`"2099/rhba-2099_0002.json","2099-02-01T00:00:00+00:00"
"2099/rhsa-2099_0001.json","2099-02-01T00:00:00+00:00"
"2099/old.json","2099-01-31T23:59:59+00:00"
`))
		feed.set("deletions.csv", nil)
		b, err := src.Fetch(t.Context(), Cursor{Since: at})
		require.NoError(t, err)
		assert.Equal(t, []string{"RHBA-2099:0002", "RHSA-2099:0001"}, ids(b.Advisories))
		assert.Empty(t, b.Skipped, "older entries are not fetched")
		assert.Equal(t, at, b.Cursor.Since)
	})
	t.Run("a document published again after its deletion stays", func(t *testing.T) {
		feed.set("changes.csv", []byte(`"2099/rhsa-2099_0001.json","2099-02-03T00:00:00+00:00"
"2099/rhba-2099_0002.json","2099-02-02T00:00:00+00:00"
`))
		feed.set("deletions.csv", []byte(`"2099/rhba-2099_0002.json","2099-02-04T00:00:00+00:00"
"2099/rhsa-2099_0001.json","2099-02-02T00:00:00+00:00"
`))
		b, err := src.Fetch(t.Context(), Cursor{Since: at})
		require.NoError(t, err)
		assert.Equal(t, []string{"RHSA-2099:0001"}, ids(b.Advisories), "rhba was deleted after its change")
		assert.Equal(t, []string{"RHBA-2099:0002"}, b.Deleted, "rhsa was published again after its deletion")
		assert.Equal(t, at.Add(72*time.Hour), b.Cursor.Since)

		st := NewStore()
		st.Apply(&Batch{Advisories: []Advisory{{ID: "RHSA-2099:0001"}, {ID: "RHBA-2099:0002"}}})
		st.Apply(b)
		assert.Equal(t, []string{"RHSA-2099:0001"}, ids(st.Advisories()))
	})
}
