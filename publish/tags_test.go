package publish_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/publish"
)

func TestBumpRelease(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1", "2"},
		{"9", "10"},
		{"4.1", "4.2"},
		{"3.el9", "4.el9"},
		{"el9", "el9.1"},
		{"", "1"},
		{"1.el9_2", "2.el9_2"},
		{"0", "1"},
		{"007", "8"},
		{"1.99", "1.100"},
		// Past uint64: the release must still grow, never wrap to 0.
		{"18446744073709551615", "18446744073709551616"},
		{"2.99999999999999999999999", "2.100000000000000000000000"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, publish.BumpRelease(tt.in), tt.in)
	}
}

func TestVersionTag(t *testing.T) {
	tests := []struct {
		version, release, want string
		ok                     bool
	}{
		{"1.2.3", "5", "1.2.3-5", true},
		{"9.4", "1.1712345", "9.4-1.1712345", true},
		{"1.0", "", "", false},
		{"", "1", "", false},
		{"1.0 beta", "1", "", false},
		{"1.0\n", "1", "", false},
		{".1", "1", "", false},
	}
	for _, tt := range tests {
		got, err := publish.VersionTag(tt.version, tt.release)
		if !tt.ok {
			require.ErrorIs(t, err, publish.ErrInvalidRequest, "%q %q", tt.version, tt.release)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
}

func FuzzValidTag(f *testing.F) {
	for _, s := range []string{"latest", "1.2.3-5", "", "-x", "a\r\nb", "x" + string(make([]byte, 130))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !publish.ValidTag(s) {
			return
		}
		// A valid tag is safe in a URL path and a header.
		for _, c := range s {
			if c < 0x21 || c > 0x7e || c == '/' || c == ':' || c == '@' {
				t.Fatalf("valid tag %q holds %q", s, c)
			}
		}
		if len(s) > 128 {
			t.Fatalf("valid tag %q is too long", s)
		}
	})
}
