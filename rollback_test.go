package abs_test

import (
	"testing"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
)

// TestRollback: after a published rebuild, Rollback moves the floating
// tag back to the digest before it on the real registry, records it in
// the image's history, mails the owner, and a second Rollback undoes it.
func TestRollback(t *testing.T) {
	e := newEnv(t, demo.OpenSSL)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	o := e.start(e.sqlite("abs.db"))
	ctx := t.Context()
	_, err := o.Rollback(ctx, "demo/app")
	require.ErrorIs(t, err, abs.ErrNothingToRollBack)
	_, err = o.Rollback(ctx, "no-such-image")
	require.ErrorIs(t, err, abs.ErrUnknownImage)

	rep, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	app := byName(rep)["demo/app"]
	require.True(t, app.Published)
	latest := func() string {
		ref, err := gcrname.ParseReference(e.reg.Repo("demo/app") + ":latest")
		require.NoError(t, err)
		d, err := remote.Head(ref)
		require.NoError(t, err)
		return d.Digest.String()
	}
	require.Equal(t, app.NewDigest, latest())
	mails := len(e.smtp.Messages())

	pub, err := o.Rollback(ctx, "demo/app")
	require.NoError(t, err)
	assert.Equal(t, app.OldDigest, pub.Digest)
	assert.Equal(t, app.NewDigest, pub.From)
	assert.Equal(t, app.OldDigest, latest(), "latest points at the digest before the rebuild")
	assert.Len(t, e.smtp.Messages(), mails+1, "the owner is told")
	hist, err := o.Publications(ctx, "demo/app")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	assert.True(t, hist[0].Rollback)
	assert.Equal(t, app.OldDigest, hist[0].Digest)
	assert.False(t, hist[1].Rollback)

	// The next cycle does not rebuild it again for the same advisory.
	again, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	for _, st := range again.Plan {
		if st.Image == "demo/app" {
			assert.True(t, st.Duplicate, "rolled-back rebuild is not run again")
		}
	}
	assert.Equal(t, app.OldDigest, latest())

	// A second rollback undoes the first.
	pub, err = o.Rollback(ctx, "demo/app")
	require.NoError(t, err)
	assert.Equal(t, app.NewDigest, pub.Digest)
	assert.Equal(t, app.NewDigest, latest())
}
