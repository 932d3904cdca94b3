package rpmscan_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/rpmscan"
)

// fuzzSource is a rand.Source that returns the fuzzer's bytes, eight at a
// time, and then a PCG stream: the fuzzer's mutations steer the layer
// generator's choices.
type fuzzSource struct {
	b   []byte
	pcg *rand.PCG
}

func (s *fuzzSource) Uint64() uint64 {
	if len(s.b) >= 8 {
		v := binary.LittleEndian.Uint64(s.b)
		s.b = s.b[8:]
		return v
	}
	return s.pcg.Uint64()
}

// errClass is what must agree between two walks that fail: the sentinels
// the error wraps, the layer it names and whether the rpmdb was at fault.
func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	var out string
	for _, s := range []error{
		rpmscan.ErrUnsafePath, rpmscan.ErrEntryTooLarge, rpmscan.ErrRPMDBNotRegular, rpmscan.ErrCorruptLayer,
		rpmscan.ErrCorruptRPMDB, rpmscan.ErrCorruptMetadata, rpmscan.ErrTooManyLayers, rpmscan.ErrMetadataTooLarge,
		rpmscan.ErrTooManyPackages, rpmscan.ErrRPMDBTooLarge, rpmscan.ErrDigestMismatch, rpmscan.ErrDiskFull,
		rpmscan.ErrNoSQLiteDriver,
	} {
		if errors.Is(err, s) {
			out += s.Error() + ";"
		}
	}
	var le *rpmscan.LayerError
	if errors.As(err, &le) {
		out += fmt.Sprintf("layer %d %q;", le.Index, le.Path)
	}
	var re *rpmscan.RPMDBError
	if errors.As(err, &re) {
		out += fmt.Sprintf("rpmdb %s %s;", re.Path, re.Backend)
	}
	if out == "" {
		out = "other: " + err.Error()
	}
	return out
}

func tarOf(f *testing.F, entries ...testutil.Entry) []byte {
	b, err := testutil.Tar(entries...)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzConcurrentWalk builds layer stacks from the fuzzer's bytes (the
// generator of TestConcurrentWalkEqualsSequential: rpmdbs, metadata,
// links, whiteouts, opaque and replaced directories, refused entries),
// adds the fuzzer's raw bytes as one more layer, damages one layer now
// and then (a truncated stream, a wrong diff_id), and scans each image one
// layer at a time, two and eight at once. The inventories must be equal,
// or the errors of the same class; no scan may leave a file behind.
//
//	go test -run '^$' -fuzz '^FuzzConcurrentWalk$' -fuzztime 2m -fuzzminimizetime 100x ./rpmscan/
func FuzzConcurrentWalk(f *testing.F) {
	dbs := [][]byte{readFixture(f, "rpmdb/bdb/Packages"), readFixture(f, "rpmdb/sqlite/rpmdb.sqlite")}
	p, err := rpmscan.ManyHeadersSQLite(f.TempDir(), 3)
	if err != nil {
		f.Fatal(err)
	}
	small, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	dbs = append(dbs, small)
	for seed := range uint64(8) {
		choices := binary.LittleEndian.AppendUint64(nil, seed*0x9e3779b97f4a7c15)
		f.Add(choices, []byte(nil), uint8(seed), uint8(0))
	}
	f.Add([]byte{1, 2, 3}, tarOf(f, testutil.Whiteout("var/lib/rpm"), testutil.Opaque("etc")), uint8(0), uint8(1))
	f.Add([]byte{9}, tarOf(f, testutil.File("var/lib/rpm/Packages", dbs[0][:4096])), uint8(1), uint8(2))
	f.Add([]byte{7, 7}, []byte("not a tar"), uint8(2), uint8(6))
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, choices, raw []byte, where, damage uint8) {
		rng := rand.New(&fuzzSource{b: choices, pcg: rand.NewPCG(uint64(len(choices)), 20)})
		stack := randomLayers(t, rng, dbs)
		var layers []v1.Layer
		for i, es := range stack {
			b, err := testutil.Tar(es...)
			if err != nil {
				t.Fatal(err)
			}
			var l v1.Layer
			switch {
			case damage&2 != 0 && i == int(damage>>2)%len(stack):
				l = testutil.RawLayer(b[:len(b)/2], b) // truncated
			case damage&1 != 0 && i == int(damage>>2)%len(stack):
				l = testutil.RawLayer(b, append(b[:len(b):len(b)], 0)) // wrong diff_id
			case i%2 == 1:
				l = testutil.RawLayer(testutil.Gzip(b), b)
			default:
				l = testutil.RawLayer(b, b) // stored as it is, under a gzip media type
			}
			layers = append(layers, l)
		}
		if len(raw) > 0 {
			at := int(where) % (len(layers) + 1)
			layers = append(layers[:at], append([]v1.Layer{testutil.RawLayer(raw, raw)}, layers[at:]...)...)
		}
		img, err := testutil.Image(testutil.Config{}, layers...)
		if err != nil {
			t.Fatal(err)
		}
		scan := func(n int) (*rpmscan.Inventory, error) {
			tmp, err := os.MkdirTemp(base, "run")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(tmp)
			inv, err := rpmscan.New(rpmscan.WithTempDir(tmp), rpmscan.WithLayerConcurrency(n)).Scan(t.Context(), img)
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				t.Fatalf("%d layers at once: the scan left %d entries in its temp dir", n, len(ents))
			}
			return inv, err
		}
		want, wantErr := scan(1)
		for _, n := range []int{2, 8} {
			got, err := scan(n)
			if wc, gc := errClass(wantErr), errClass(err); wc != gc {
				t.Fatalf("%d layers at once: error %q (%v), one by one %q (%v)", n, gc, err, wc, wantErr)
			}
			if wantErr == nil {
				require.Equal(t, want, got, "%d layers at once", n)
			}
		}
	})
}
