package release

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "1"},
		{"0", "1"},
		{"7", "8"},
		{"9", "10"},
		{"7.1", "7.2"},
		{"1.el9", "2.el9"},
		{"1.el9_2", "2.el9_2"},
		{"3.2.el9_4", "3.3.el9_4"},
		{"1.el9.1", "1.el9.2"}, // the trailing rebuild counter, not the team's
		{"1214.1726694543", "1214.1726694544"},
		{"beta", "beta.1"},
		{"el9", "el9.1"},
		{"1..2", "1..3"},
		{"0099", "0100"},
		{"007", "008"},
		{"18446744073709551615", "18446744073709551616"},
		{"2.99999999999999999999999", "2.100000000000000000000000"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Next(tc.in), "Next(%q)", tc.in)
	}
}

func TestNextFree(t *testing.T) {
	tests := []struct {
		name             string
		version, current string
		tags             []string
		want             string
	}{
		{"no tags", "1.0", "1", nil, "2"},
		{"free", "1.0", "1", []string{"1.0-1", "latest"}, "2"},
		// The team's CI pushed release=1 while 1.0-2 already exists.
		{"taken by an earlier rebuild", "1.0", "1", []string{"1.0-1", "1.0-2", "latest"}, "3"},
		{"higher release exists", "1.0", "1", []string{"1.0-5", "1.0-2"}, "6"},
		{"other versions ignored", "1.0", "1", []string{"1.1-7", "2.0-9", "1.0.1-4"}, "2"},
		{"dist form", "9.4", "1.el9.1", []string{"9.4-1.el9.1", "9.4-1.el9.2", "9.4-1.el9.3"}, "1.el9.4"},
		{"other form does not count", "9.4", "1.el9.1", []string{"9.4-2.el9.7", "9.4-1.el8.9"}, "1.el9.2"},
		{"huge numbers", "1", "1", []string{"1-18446744073709551615"}, "18446744073709551616"},
		{"empty current", "1.0", "", []string{"1.0-1"}, "2"},
		{"non-numeric current", "1.0", "beta", []string{"1.0-beta.1"}, "beta.2"},
		{"lower tag ignored", "1.0", "5", []string{"1.0-3", "1.0-5"}, "6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NextFree(tc.version, tc.current, tc.tags)
			assert.Equal(t, tc.want, got)
			for _, tag := range tc.tags {
				assert.NotEqual(t, tag, tc.version+"-"+got)
			}
		})
	}
}

func FuzzNext(f *testing.F) {
	for _, s := range []string{"7", "7.1", "1.el9", "1.el9.1", "x", "", "0099"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Next(s)
		require.NotEqual(t, s, n)
		require.NotEmpty(t, n)
		// Only one component changes (or ".1" is appended).
		if !strings.HasSuffix(n, ".1") || strings.Count(n, ".") != strings.Count(s, ".")+1 {
			require.Equal(t, strings.Count(s, "."), strings.Count(n, "."), "%q -> %q", s, n)
		}
	})
}

func FuzzNextFree(f *testing.F) {
	f.Add("1.0", "1", "1.0-2")
	f.Fuzz(func(t *testing.T, version, current, tag string) {
		tags := []string{tag, version + "-" + Next(current)}
		got := NextFree(version, current, tags)
		require.NotContains(t, tags, version+"-"+got)
	})
}

func BenchmarkNextFree(b *testing.B) {
	tags := make([]string, 0, 500)
	for i := range 500 {
		tags = append(tags, "9.4-1.el9."+strings.Repeat("1", 1+i%3))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = NextFree("9.4", "1.el9.1", tags)
	}
}
