package rpmscan

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"
)

// gzipMembers compresses each part as its own gzip member, with the
// header fields compress/gzip writes when they are set.
func gzipMembers(t testing.TB, level int, parts ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	for i, p := range parts {
		zw, err := gzip.NewWriterLevel(&b, level)
		require.NoError(t, err)
		if i%2 == 1 {
			zw.Name = "member.tar"
			zw.Comment = "a comment"
			zw.Extra = []byte{'A', 'B', 2, 0, 'x', 'y'}
		}
		_, err = zw.Write(p)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
	}
	return b.Bytes()
}

// randomContent is part text, part random bytes, part long repeats: every
// kind of deflate block.
func randomContent(r *rand.Rand, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		k := 1 + r.IntN(64<<10)
		switch r.IntN(3) {
		case 0:
			for i := 0; i < k; i++ {
				out = append(out, "abcdefgh /usr/lib\n"[r.IntN(18)])
			}
		case 1:
			for i := 0; i < k; i++ {
				out = append(out, byte(r.Uint32()))
			}
		default:
			if len(out) > 0 {
				start := r.IntN(len(out))
				for i := 0; i < k; i++ {
					out = append(out, out[start+i%(len(out)-start)])
				}
			}
		}
	}
	return out[:n]
}

// chunky hands out its bytes in reads of random sizes, some of one byte.
type chunky struct {
	b []byte
	r *rand.Rand
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.r.IntN(min(len(p), 1+[]int{1, 16, 4096, 1 << 20}[c.r.IntN(4)]))
	n = min(n, len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func readAllChunks(t testing.TB, rc io.Reader, r *rand.Rand) ([]byte, error) {
	var out bytes.Buffer
	p := make([]byte, 1<<20)
	for {
		n, err := rc.Read(p[:1+r.IntN(len(p))])
		out.Write(p[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// TestGunzipMembers reads multi-member gzip streams in random reads with
// the build's inflater (see Inflater).
func TestGunzipMembers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 10 {
		parts := [][]byte{randomContent(r, r.IntN(200<<10)), randomContent(r, r.IntN(200<<10)), {}}
		data := gzipMembers(t, gzip.DefaultCompression, parts...)
		zr, err := newGzipReader(&chunky{b: data, r: r})
		require.NoError(t, err)
		got, err := readAllChunks(t, zr, r)
		require.NoError(t, err, "case %d", i)
		require.True(t, bytes.Equal(bytes.Join(parts, nil), got), "case %d", i)
		require.NoError(t, zr.Close())
	}
}

// BenchmarkGunzip inflates 64 MiB of mixed content (text, random bytes,
// repeats; about 2:1) with the build's inflater: go test -bench Gunzip,
// and again with -tags isal.
func BenchmarkGunzip(b *testing.B) {
	content := randomContent(rand.New(rand.NewPCG(9, 10)), 64<<20)
	data := gzipMembers(b, gzip.DefaultCompression, content)
	b.Run(strings.ReplaceAll(Inflater(), "/", "-"), func(b *testing.B) {
		b.SetBytes(int64(len(content)))
		for b.Loop() {
			zr, err := newGzipReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, zr); err != nil {
				b.Fatal(err)
			}
			zr.Close()
		}
		b.ReportMetric(float64(len(content))/float64(len(data)), "ratio")
	})
}

// BenchmarkSHA256 is the other cost every byte of a layer has: its
// diff_id (and, compressed, its digest).
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 128<<10)
	b.SetBytes(int64(len(buf)))
	h := sha256.New()
	for b.Loop() {
		h.Write(buf)
	}
}
