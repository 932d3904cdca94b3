package advisory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openabs/abs/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeCSAF writes a CSAF document shaped like Red Hat's with n RPM
// components: each is a product_version branch with a purl and a
// relationship to the product AppStream-9.3.0.Z.MAIN (2n+4 product-tree nodes), and
// the one vulnerability lists each component in product_status,
// remediations and threats (3n product ids). With vex set, the document is
// a VEX document whose components are known_affected.
func writeCSAF(w io.Writer, n int, vex bool) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	id, category, status := "RHSA-2099:0001", "csaf_security_advisory", "fixed"
	if vex {
		id, category, status = "CVE-2099-0001", "csaf_vex", "known_affected"
	}
	const prod = "AppStream-9.3.0.Z.MAIN"
	comp := func(i int) string { return fmt.Sprintf("pkg%d-0:1.0-1.el9.x86_64", i) }
	ids := func() {
		for i := range n {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, `"%s:%s"`, prod, comp(i))
		}
	}
	fmt.Fprintf(bw, `{"document":{"category":%q,"csaf_version":"2.0","title":"generated","aggregate_severity":{"text":"Important"},`+
		`"tracking":{"id":%q,"initial_release_date":"2099-01-01T00:00:00Z","current_release_date":"2099-01-01T00:00:00Z"}},`, category, id)
	fmt.Fprintf(bw, `"product_tree":{"branches":[{"category":"vendor","name":"Red Hat","branches":[`+
		`{"category":"product_family","name":"Red Hat Enterprise Linux","branches":[{"category":"product_name","name":"RHEL AppStream",`+
		`"product":{"name":"RHEL AppStream","product_id":%q,"product_identification_helper":{"cpe":"cpe:/a:redhat:enterprise_linux:9::appstream"}}}]},`+
		`{"category":"architecture","name":"x86_64","branches":[`, prod)
	for i := range n {
		if i > 0 {
			bw.WriteByte(',')
		}
		c := comp(i)
		fmt.Fprintf(bw, `{"category":"product_version","name":%q,"product":{"name":%q,"product_id":%q,`+
			`"product_identification_helper":{"purl":"pkg:rpm/redhat/pkg%d@1.0-1.el9?arch=x86_64"}}}`, c, c, c, i)
	}
	bw.WriteString(`]}]}],"relationships":[`)
	for i := range n {
		if i > 0 {
			bw.WriteByte(',')
		}
		c := comp(i)
		fmt.Fprintf(bw, `{"category":"default_component_of","full_product_name":{"name":"%s as a component of RHEL AppStream","product_id":"%s:%s"},`+
			`"product_reference":%q,"relates_to_product_reference":%q}`, c, prod, c, c, prod)
	}
	fmt.Fprintf(bw, `]},"vulnerabilities":[{"cve":"CVE-2099-0001","product_status":{%q:[`, status)
	ids()
	bw.WriteString(`]},"remediations":[{"category":"vendor_fix","url":"https://access.redhat.com/errata/RHSA-2099:0001","product_ids":[`)
	ids()
	bw.WriteString(`]}],"threats":[{"category":"impact","details":"Important","product_ids":[`)
	ids()
	bw.WriteString(`]}]}]}`)
	return bw.Flush()
}

func genCSAF(t testing.TB, n int, vex bool) []byte {
	var buf bytes.Buffer
	require.NoError(t, writeCSAF(&buf, n, vex))
	return bytes.Clone(buf.Bytes()) // the buffer's spare capacity is not the document's
}

func TestCSAFGenerated(t *testing.T) {
	doc, err := ParseCSAF(genCSAF(t, 3, false))
	require.NoError(t, err)
	require.NotNil(t, doc.Advisory)
	require.Len(t, doc.Advisory.Fixes, 3)
	assert.Equal(t, Fix{Product: "AppStream-9.3.0.Z.MAIN", CPE: "cpe:/a:redhat:enterprise_linux:9::appstream", Name: "pkg2",
		Version: "1.0", Release: "1.el9", Arch: "x86_64", Severity: SeverityImportant}, doc.Advisory.Fixes[2])
	doc, err = ParseCSAF(genCSAF(t, 3, true))
	require.NoError(t, err)
	require.NotNil(t, doc.VEX)
	assert.Len(t, doc.VEX.Affected, 3)
}

// TestCSAFMillionProducts parses documents of a million products (500,000
// components and their relationships, 1.5 million product ids), an
// advisory and a VEX document, and indexes them, within 2 GiB; the same
// documents fail early, with a typed error, when the product limit is
// below their size.
func TestCSAFMillionProducts(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("parses a third of a gigabyte; slow under -race")
	}
	for _, vex := range []bool{false, true} {
		t.Run(map[bool]string{false: "advisory", true: "vex"}[vex], func(t *testing.T) {
			data := genCSAF(t, 500_000, vex)
			var doc Document
			var err error
			var ix *Index
			start := time.Now()
			peak := testutil.PeakHeap(func() {
				doc, err = ParseCSAF(data)
				if err != nil {
					return
				}
				if vex {
					ix = NewIndex(nil, WithVEX([]VEX{*doc.VEX}))
				} else {
					ix = NewIndex([]Advisory{*doc.Advisory})
				}
			})
			require.NoError(t, err)
			t.Logf("document of %d MiB parsed and indexed in %v; peak heap %d MiB", len(data)>>20, time.Since(start), peak>>20)
			assert.Less(t, peak, uint64(2<<30))
			if vex {
				require.Len(t, doc.VEX.Affected, 500_000)
				assert.Equal(t, "pkg499999", doc.VEX.Affected[499_999].Name)
				assert.Equal(t, 1, len(ix.vex))
			} else {
				require.Len(t, doc.Advisory.Fixes, 500_000)
				assert.Equal(t, "pkg499999", doc.Advisory.Fixes[499_999].Name)
				assert.Equal(t, 1, ix.Len())
			}
			doc, ix = Document{}, nil

			start = time.Now()
			peak = testutil.PeakHeap(func() { _, err = ParseCSAF(data, WithMaxProducts(100_000)) })
			require.ErrorIs(t, err, ErrTooManyProducts)
			require.ErrorIs(t, err, ErrTooLarge)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			t.Logf("%v in %v; peak heap %d MiB", err, time.Since(start), peak>>20)
			assert.Less(t, peak, uint64(len(data))+256<<20)
		})
	}
}

// TestVEXOversized: a VEX document over the product limit, or over the
// document size, is skipped by a directory source with a typed error, and
// the other documents are read.
func TestVEXOversized(t *testing.T) {
	dir := t.TempDir()
	small := genCSAF(t, 10, true)
	big := genCSAF(t, 50_000, true) // 100,001 products
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), small, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big.json"), big, 0o600))

	b, err := NewDir(dir).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Len(t, b.VEX, 2, "under the defaults")

	b, err = NewDir(dir, WithMaxProducts(100_000)).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	require.Len(t, b.VEX, 1)
	assert.Len(t, b.VEX[0].Affected, 10)
	require.Len(t, b.Skipped, 1)
	require.ErrorIs(t, b.Skipped[0], ErrTooManyProducts)

	b, err = NewDir(dir, WithMaxDocumentSize(int64(len(big)-1))).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	require.Len(t, b.VEX, 1)
	require.Len(t, b.Skipped, 1)
	require.ErrorIs(t, b.Skipped[0], ErrTooLarge)

	// Through a feed, the same limits hold per document.
	feed := newFakeFeed()
	srv := httptest.NewServer(feed)
	t.Cleanup(srv.Close)
	feed.set("changes.csv", []byte("\"2099/cve-2099-0001.json\",\"2099-01-02T00:00:00+00:00\"\n"))
	feed.set("2099/cve-2099-0001.json", big)
	b, err = NewCSAF(srv.URL+"/feed", WithDocuments("2099/cve-2099-0001.json"), WithMaxProducts(100_000)).Fetch(t.Context(), Cursor{})
	require.NoError(t, err)
	assert.Empty(t, b.VEX)
	require.Len(t, b.Skipped, 1)
	require.ErrorIs(t, b.Skipped[0], ErrTooManyProducts)
}

// TestCSAFProductIDLimit: product ids listed in the vulnerabilities are
// bounded too (four per allowed product).
func TestCSAFProductIDLimit(t *testing.T) {
	data := genCSAF(t, 1000, false) // 2004 product-tree nodes, 3000 ids
	_, err := ParseCSAF(data, WithMaxProducts(2004))
	require.NoError(t, err)
	// Pad the vulnerability with more ids than 4 × 2004.
	var extra strings.Builder
	for i := range 6000 {
		fmt.Fprintf(&extra, `"x:%d",`, i)
	}
	padded := bytes.Replace(data, []byte(`"product_status":{"fixed":[`), []byte(`"product_status":{"fixed":[`+extra.String()), 1)
	_, err = ParseCSAF(padded, WithMaxProducts(2004))
	require.ErrorIs(t, err, ErrTooManyProducts)
	_, err = ParseCSAF(padded)
	require.NoError(t, err)
}

// deepBranches returns a product tree whose branches nest depth deep, with
// a product at the bottom.
func deepBranches(depth int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"document":{"category":"csaf_security_advisory","tracking":{"id":"RHSA-2099:0002"}},"product_tree":{"branches":`)
	for range depth - 1 {
		b.WriteString(`[{"category":"vendor","name":"x","branches":`)
	}
	b.WriteString(`[{"product":{"product_id":"deep"}}]`)
	for range depth - 1 {
		b.WriteString(`}]`)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

func TestCSAFBranchDepth(t *testing.T) {
	for _, tc := range []struct {
		depth int
		ok    bool
	}{
		{5, true},
		{maxBranchDepth, true},
		{maxBranchDepth + 1, false},
		{4000, false},      // under the JSON decoder's own nesting limit (10,000 levels, two a branch)
		{1_000_000, false}, // over it
	} {
		t.Run(fmt.Sprint(tc.depth), func(t *testing.T) {
			_, err := ParseCSAF(deepBranches(tc.depth))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrMalformed)
			if tc.depth < 5000 {
				require.ErrorIs(t, err, ErrTooManyProducts)
			}
		})
	}
}

// FuzzEachElement checks the array splitter that counts products as they
// are decoded against encoding/json: for every valid array it yields the
// same elements.
func FuzzEachElement(f *testing.F) {
	for _, s := range []string{`[]`, `null`, `[1, "a,]", {"b":[1,2]}, [[]], true, null, -1.5e3]`, ` [ "\"", "\\" ] `, `[{"a":"}"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want []json.RawMessage
		if json.Unmarshal(data, &want) != nil {
			return
		}
		var got []string
		err := eachElement(data, func(elem []byte) error {
			got = append(got, string(elem))
			return nil
		})
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, string(want[i]), got[i])
		}
	})
}

// BenchmarkParseCSAFLarge parses a document of 50,000 components (100,001
// products, 150,000 product ids, 34 MiB).
func BenchmarkParseCSAFLarge(b *testing.B) {
	data := genCSAF(b, 50_000, false)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCSAF(data); err != nil {
			b.Fatal(err)
		}
	}
}
