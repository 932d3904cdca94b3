package publish_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/publish"
)

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

// TestRegistryNextRelease replays the collision seen on a real fleet: the
// team's CI pushed an image labelled release=1 while the tag 1.0-2 of an
// earlier rebuild exists; the next rebuild must take 1.0-3, and the
// immutable tag it then publishes is created, not refused.
func TestRegistryNextRelease(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			reg := be.start(t)
			p := newPublisher(t, reg, nil)
			repo := reg.Repo("team/app")
			ctx := t.Context()

			got, err := p.NextRelease(ctx, repo, "1.0", "1")
			require.NoError(t, err, "a repository without tags")
			assert.Equal(t, "2", got)

			for i, tag := range []string{"1.0-1", "1.0-2"} {
				_, err := p.Publish(ctx, publish.Request{Repository: repo, Image: testImage(t, int64(40+i)), VersionTag: tag, FloatingTags: []string{"latest"}})
				require.NoError(t, err)
			}
			got, err = p.NextRelease(ctx, repo, "1.0", "1")
			require.NoError(t, err)
			assert.Equal(t, "3", got)
			tag, err := publish.VersionTag("1.0", got)
			require.NoError(t, err)
			res, err := p.Publish(ctx, publish.Request{Repository: repo, Image: testImage(t, 42), VersionTag: tag})
			require.NoError(t, err)
			assert.Equal(t, publish.ActionCreated, res.Tags[0].Action)

			_, err = p.NextRelease(ctx, "bad repo", "1.0", "1")
			require.ErrorIs(t, err, publish.ErrInvalidRequest)
		})
	}
}
