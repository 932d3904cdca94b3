package rebuild_test

import (
	"context"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

// stubBuilder returns a fixed image or error and records its requests.
type stubBuilder struct {
	name string
	img  v1.Image
	err  error
	reqs []*rebuild.Request
}

func (b *stubBuilder) Name() string { return b.name }
func (b *stubBuilder) Build(_ context.Context, req *rebuild.Request) (*rebuild.Result, error) {
	b.reqs = append(b.reqs, req)
	if b.err != nil {
		return nil, b.err
	}
	return &rebuild.Result{Image: b.img, BaseName: "reg.example/base:9", BaseDigest: "sha256:" + "b"}, nil
}

// recordingStore counts what it is asked to stage.
type recordingStore struct{ put int }

func (s *recordingStore) Put(_ context.Context, t *rebuild.Target, img v1.Image) (string, error) {
	s.put++
	d, err := img.Digest()
	return rebuild.Repository(t.Ref) + "@" + d.String(), err
}

func TestRun(t *testing.T) {
	cur := image(t, nil, map[string]string{rebuild.LabelRelease: "1"}, layer(t, map[string]string{"a": "1"}))
	built := image(t, nil, nil, layer(t, map[string]string{"a": "2"}))
	errCheck := errors.New("rescan is worse")
	tests := []struct {
		name         string
		rebaseErr    error
		fallback     bool
		verify       error
		wantStatus   rebuild.Status
		wantBuilder  string
		wantFellBack bool
		wantPut      int
	}{
		{"rebase applies", nil, true, nil, rebuild.StatusBuilt, "rebase", false, 1},
		{"rebase cannot apply: from source", rebuild.ErrBaseUnchanged, true, nil, rebuild.StatusBuilt, "buildah", true, 1},
		{"prefix error: from source", &rebuild.PrefixError{}, true, nil, rebuild.StatusBuilt, "buildah", true, 1},
		{"no fallback: unchanged", rebuild.ErrBaseUnchanged, false, nil, rebuild.StatusUnchanged, "rebase", false, 0},
		{"other rebase error is no reason to fall back", errors.New("registry down"), true, nil, rebuild.StatusFailed, "rebase", false, 0},
		{"verify refuses: nothing staged", nil, true, errCheck, rebuild.StatusFailed, "rebase", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rebase := &stubBuilder{name: "rebase", img: built, err: tc.rebaseErr}
			source := &stubBuilder{name: "buildah", img: built}
			tg := &rebuild.Target{Ref: "reg.example/team/app:1.0", Image: cur, Builder: rebase,
				Reason:  rebuild.Reason{Advisories: []string{"RHSA-2026:0001"}},
				Version: "1.0", Tags: []string{"1.0-1", "1.0-2", "latest"}}
			if tc.fallback {
				tg.Fallback = source
			}
			store := &recordingStore{}
			opts := []rebuild.Option{rebuild.WithStore(store), rebuild.WithWorkDir(t.TempDir())}
			if tc.verify != nil {
				opts = append(opts, rebuild.WithVerify(func(context.Context, *rebuild.Target, v1.Image) error { return tc.verify }))
			}
			pins := map[string]string{"reg.example/base": "reg.example/base@sha256:" + "c"}
			out, err := rebuild.Run(t.Context(), tg, pins, opts...)
			t.Cleanup(func() { _ = out.Close() })
			assert.Equal(t, tc.wantStatus, out.Status, "%v", out.Err)
			assert.Equal(t, tc.wantBuilder, out.Builder)
			assert.Equal(t, tc.wantFellBack, out.FallbackCause != nil)
			assert.Equal(t, tc.wantPut, store.put)
			require.Len(t, rebase.reqs, 1)
			assert.Nil(t, rebase.reqs[0].Source, "the rebaser gets no checkout")
			assert.Equal(t, pins, rebase.reqs[0].Pins)
			assert.Equal(t, "3", rebase.reqs[0].Labels[rebuild.LabelRelease], "release 1 with 1.0-2 taken: 3")
			if tc.verify != nil {
				require.ErrorIs(t, err, tc.verify)
			}
			if tc.wantStatus != rebuild.StatusBuilt {
				assert.Nil(t, out.Image)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "3", out.Release)
			cf, err := out.Image.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, "3", cf.Config.Labels[rebuild.LabelRelease])
			assert.Equal(t, tc.wantBuilder, cf.Config.Labels[rebuild.LabelMethod])
			assert.Equal(t, "RHSA-2026:0001", cf.Config.Labels[rebuild.LabelAdvisories])
			assert.Contains(t, out.Pinned, "reg.example/team/app@sha256:")
		})
	}
}
