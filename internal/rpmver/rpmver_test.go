package rpmver

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	goversion "github.com/knqyf263/go-rpm-version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vercmpCases holds rpm's own rpmvercmp test cases (tests/rpmvercmp.at)
// plus cases seen in Red Hat errata.
var vercmpCases = []struct {
	a, b string
	want int
}{
	{"1.0", "1.0", 0},
	{"1.0", "2.0", -1},
	{"2.0", "1.0", 1},
	{"2.0.1", "2.0.1", 0},
	{"2.0", "2.0.1", -1},
	{"2.0.1", "2.0", 1},
	{"2.0.1a", "2.0.1a", 0},
	{"2.0.1a", "2.0.1", 1},
	{"2.0.1", "2.0.1a", -1},
	{"5.5p1", "5.5p1", 0},
	{"5.5p1", "5.5p2", -1},
	{"5.5p2", "5.5p1", 1},
	{"5.5p10", "5.5p10", 0},
	{"5.5p1", "5.5p10", -1},
	{"5.5p10", "5.5p1", 1},
	{"10xyz", "10.1xyz", -1},
	{"10.1xyz", "10xyz", 1},
	{"xyz10", "xyz10", 0},
	{"xyz10", "xyz10.1", -1},
	{"xyz10.1", "xyz10", 1},
	{"xyz.4", "xyz.4", 0},
	{"xyz.4", "8", -1},
	{"8", "xyz.4", 1},
	{"xyz.4", "2", -1},
	{"2", "xyz.4", 1},
	{"5.5p2", "5.6p1", -1},
	{"5.6p1", "5.5p2", 1},
	{"5.6p1", "6.5p1", -1},
	{"6.5p1", "5.6p1", 1},
	{"6.0.rc1", "6.0", 1},
	{"6.0", "6.0.rc1", -1},
	{"10b2", "10a1", 1},
	{"10a2", "10b2", -1},
	{"1.0aa", "1.0aa", 0},
	{"1.0a", "1.0aa", -1},
	{"1.0aa", "1.0a", 1},
	{"10.0001", "10.0001", 0},
	{"10.0001", "10.1", 0},
	{"10.1", "10.0001", 0},
	{"10.0001", "10.0039", -1},
	{"10.0039", "10.0001", 1},
	{"4.999.9", "5.0", -1},
	{"5.0", "4.999.9", 1},
	{"20101121", "20101121", 0},
	{"20101121", "20101122", -1},
	{"20101122", "20101121", 1},
	{"2_0", "2_0", 0},
	{"2.0", "2_0", 0},
	{"2_0", "2.0", 0},
	{"a", "a", 0},
	{"a+", "a+", 0},
	{"a+", "a_", 0},
	{"a_", "a+", 0},
	{"+a", "+a", 0},
	{"+a", "_a", 0},
	{"_a", "+a", 0},
	{"+_", "+_", 0},
	{"_+", "+_", 0},
	{"_+", "_", 0},
	{"+", "_", 0},
	{"_", "+", 0},
	{"1.0~rc1", "1.0~rc1", 0},
	{"1.0~rc1", "1.0", -1},
	{"1.0", "1.0~rc1", 1},
	{"1.0~rc1", "1.0~rc2", -1},
	{"1.0~rc2", "1.0~rc1", 1},
	{"1.0~rc1~git123", "1.0~rc1~git123", 0},
	{"1.0~rc1~git123", "1.0~rc1", -1},
	{"1.0~rc1", "1.0~rc1~git123", 1},
	{"1.0^", "1.0^", 0},
	{"1.0^", "1.0", 1},
	{"1.0", "1.0^", -1},
	{"1.0^git1", "1.0^git1", 0},
	{"1.0^git1", "1.0", 1},
	{"1.0", "1.0^git1", -1},
	{"1.0^git1", "1.0^git2", -1},
	{"1.0^git2", "1.0^git1", 1},
	{"1.0^git1", "1.01", -1},
	{"1.01", "1.0^git1", 1},
	{"1.0^20160101", "1.0^20160101", 0},
	{"1.0^20160101", "1.0.1", -1},
	{"1.0.1", "1.0^20160101", 1},
	{"1.0^20160101^git1", "1.0^20160101^git1", 0},
	{"1.0^20160102", "1.0^20160101^git1", 1},
	{"1.0^20160101^git1", "1.0^20160102", -1},
	{"1.0~rc1^git1", "1.0~rc1^git1", 0},
	{"1.0~rc1^git1", "1.0~rc1", 1},
	{"1.0~rc1", "1.0~rc1^git1", -1},
	{"1.0^git1~pre", "1.0^git1~pre", 0},
	{"1.0^git1", "1.0^git1~pre", 1},
	{"1.0^git1~pre", "1.0^git1", -1},
	// Non-ASCII bytes only separate segments.
	{"1.1.\u03b1", "1.1.\u03b1", 0},
	{"1.1.\u03b1", "1.1.\u03b2", 0},
	{"1.1.\u03b2", "1.1.\u03b1", 0},
	{"1.1.\u03b1\u03b1", "1.1.\u03b1", 0},
	{"1.1.\u03b1", "1.1.\u03b1\u03b1", 0},
	// Empty strings.
	{"", "", 0},
	{"", "1", -1},
	{"1", "", 1},
	{"", "~1", 1},
	{"", "^1", -1},
	// Red Hat releases.
	{"3.el9_3.3", "3.el9_3.2", 1},
	{"3.el9_3", "3.el9_3.1", -1},
	{"139.module+el8.8.0+18745+f1bef313", "138.module+el8.6.0+17540+9b2d9e2a", 1},
	{"1.el9", "1.el9_0", -1},
	{"7.el9_0.4", "9.el9_2", -1},
	{"14.el9_0.9", "14.el9_0.10", -1},
	{"1.9.5p2", "1.9.5p1", 1},
	{"1.9.5p2", "1.9.13", -1},
}

func TestVercmp(t *testing.T) {
	for _, c := range vercmpCases {
		t.Run(c.a+"_vs_"+c.b, func(t *testing.T) {
			assert.Equal(t, c.want, Vercmp(c.a, c.b))
			assert.Equal(t, -c.want, Vercmp(c.b, c.a), "antisymmetry")
		})
	}
}

var evrCases = []struct {
	a, b string
	want int
}{
	{"0:1.0-1", "1.0-1", 0},
	{"1:1.0-1", "2.0-1", 1},
	{"1.0-1", "1:0.1-1", -1},
	{"1.0", "1.0-1", -1},
	{"1.0-1", "1.0", 1},
	{"1.0", "1.0", 0},
	{":1.0-1", "0:1.0-1", 0},
	{"0:1.13.1-3.el9_3.3", "0:1.13.1-3.el9_3.2", 1},
	{"1:3.0.7-18.el9_2", "1:3.0.7-24.el9", -1},
	{"2.7.8-139.module+el8.8.0+18745+f1bef313", "2.7.6-138.module+el8.6.0+17540+9b2d9e2a", 1},
	{"1.0~rc1-1", "1.0-1", -1},
	{"10:1-1", "9:2-2", 1},
}

func TestCompare(t *testing.T) {
	for _, c := range evrCases {
		t.Run(c.a+"_vs_"+c.b, func(t *testing.T) {
			assert.Equal(t, c.want, Compare(c.a, c.b))
			assert.Equal(t, -c.want, Compare(c.b, c.a))
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    EVR
		wantErr bool
	}{
		{in: "1.0", want: EVR{Version: "1.0"}},
		{in: "1.0-1.el9", want: EVR{Version: "1.0", Release: "1.el9"}},
		{in: "2:1.0-1.el9", want: EVR{Epoch: 2, Version: "1.0", Release: "1.el9"}},
		{in: ":1.0-1", want: EVR{Version: "1.0", Release: "1"}},
		{in: "0:2.7.8-139.module+el8.8.0+18745+f1bef313", want: EVR{Version: "2.7.8", Release: "139.module+el8.8.0+18745+f1bef313"}},
		{in: "", wantErr: true},
		{in: "x:1.0-1", wantErr: true},
		{in: "-1:1.0-1", wantErr: true},
		{in: "1:", wantErr: true},
		{in: "1.0-", wantErr: true},
		{in: "1:2:3-4", wantErr: true},
		{in: "99999999999999999999:1-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := Parse(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}

// TestAgainstRPM checks the case tables with the rpm binary, when present,
// through its Lua rpm.vercmp.
func TestAgainstRPM(t *testing.T) {
	bin, err := exec.LookPath("rpm")
	if err != nil {
		t.Skip("rpm binary not installed (apt-get install rpm)")
	}
	var lua strings.Builder
	var want []int
	add := func(a, b string, w int) {
		fmt.Fprintf(&lua, "print(rpm.vercmp(%s, %s) .. \" \")\n", luaQuote(a), luaQuote(b))
		want = append(want, w)
	}
	for _, c := range vercmpCases {
		if c.a == "" || c.b == "" || strings.ContainsAny(c.a+c.b, ":-") {
			continue // rpm.vercmp parses an EVR; keep plain versions only
		}
		add(c.a, c.b, c.want)
	}
	for _, c := range evrCases {
		add(c.a, c.b, c.want)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--eval", "%{lua:\n"+lua.String()+"}").Output()
	require.NoError(t, err)
	got := strings.Fields(string(out))
	require.Len(t, got, len(want))
	for i, g := range got {
		n, err := strconv.Atoi(g)
		require.NoError(t, err)
		assert.Equal(t, want[i], n, "case %d: %s", i, strings.Split(lua.String(), "\n")[i])
	}
}

func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "\\%d", s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

var fuzzSeeds = []string{
	"0:1.13.1-3.el9_3.3", "0:1.13.1-3.el9_3.2", "1:3.0.7-18.el9_2", "1.9.5p2-7.el9_0.4",
	"2.7.8-139.module+el8.8.0+18745+f1bef313", "7.76.1-26.el9_3.2", "1.0~rc1-1", "1.0^git1-1", "1.0-1",
}

// FuzzVercmp checks that Vercmp is antisymmetric and reflexive, and agrees
// with go-rpm-version on plain alphanumeric versions.
func FuzzVercmp(f *testing.F) {
	for i, a := range fuzzSeeds {
		f.Add(a, fuzzSeeds[(i+1)%len(fuzzSeeds)])
	}
	for _, c := range vercmpCases {
		f.Add(c.a, c.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := Vercmp(a, b), Vercmp(b, a)
		if ab != -ba {
			t.Fatalf("not antisymmetric: %q %q: %d %d", a, b, ab, ba)
		}
		if Vercmp(a, a) != 0 {
			t.Fatalf("not reflexive: %q", a)
		}
		if plain(a) && plain(b) {
			want := sign(goversion.NewVersion(a).Compare(goversion.NewVersion(b)))
			if ab != want {
				t.Fatalf("Vercmp(%q, %q) = %d, go-rpm-version says %d", a, b, ab, want)
			}
		}
	})
}

// plain reports whether s uses only what both implementations read the
// same way: letters, digits and dots, starting with a digit.
func plain(s string) bool {
	if s == "" || !isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// FuzzCompareOrder checks that EVR ordering is transitive and
// antisymmetric over three parsed EVRs.
func FuzzCompareOrder(f *testing.F) {
	for i := range fuzzSeeds {
		f.Add(fuzzSeeds[i], fuzzSeeds[(i+1)%len(fuzzSeeds)], fuzzSeeds[(i+2)%len(fuzzSeeds)])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		x, err1 := Parse(a)
		y, err2 := Parse(b)
		z, err3 := Parse(c)
		if err1 != nil || err2 != nil || err3 != nil {
			return
		}
		if x.Compare(y) != -y.Compare(x) {
			t.Fatalf("not antisymmetric: %v %v", x, y)
		}
		if x.Compare(y) <= 0 && y.Compare(z) <= 0 && x.Compare(z) > 0 {
			t.Fatalf("not transitive: %v <= %v <= %v but %v > %v", x, y, z, x, z)
		}
	})
}

func BenchmarkCompare(b *testing.B) {
	x := MustParse("0:1.13.1-3.el9_3.3")
	y := MustParse("0:1.13.1-3.el9_3.12")
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Compare(y)
	}
}

func BenchmarkGoRPMVersion(b *testing.B) {
	x := goversion.NewVersion("0:1.13.1-3.el9_3.3")
	y := goversion.NewVersion("0:1.13.1-3.el9_3.12")
	b.ReportAllocs()
	for b.Loop() {
		_ = x.Compare(y)
	}
}
