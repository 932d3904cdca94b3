package abs_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/secret"
)

// TestRuntimeSourceRules: at runtime, file:// and http:// sources are
// refused unless WithLocalSources is given, a user (or token) in an https
// URL is refused, and moving a source to another host drops its stored
// credential, as the change's notes and the audit log say.
func TestRuntimeSourceRules(t *testing.T) {
	e, p := runtimeEnv(t)
	ctx := t.Context()
	o, err := abs.New(ctx, e.sqlite("abs.db"), nil, e.options(abs.WithSecretKey(newKey(t)))...)
	require.NoError(t, err)
	img := p.Images[0]
	withURL := func(u string) abs.Project {
		q, i := p, img
		i.SourceSpec = &abs.SourceSpec{URL: u}
		q.Images = []abs.Image{i}
		return q
	}
	for _, u := range []string{"file:///etc", "/srv/git/app.git", "http://git.example.com/app.git", "HTTP://git.example.com/app.git",
		"https://ghp_token@git.example.com/app.git", "https://user:pw@git.example.com/app.git"} {
		_, _, err := o.CreateProject(ctx, withURL(u))
		require.ErrorIs(t, err, abs.ErrConfig, u)
		assert.NotContains(t, err.Error(), "ghp_token", "the refusal does not repeat a token")
	}
	_, err = o.Project(ctx, p.ID)
	require.ErrorIs(t, err, abs.ErrNotFound, "nothing was stored")

	_, _, err = o.CreateProject(ctx, withURL("https://git.example.com/app.git"))
	require.NoError(t, err)
	for _, u := range []string{"file:///etc", "http://git.example.com/app.git"} {
		_, _, err := o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: u}})
		require.ErrorIs(t, err, abs.ErrConfig, u)
	}
	for _, u := range []string{"git@git.example.com:shop/app.git", "ssh://git@git.example.com/shop/app.git"} {
		_, _, err := o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: u}})
		require.NoError(t, err, u)
	}

	// A credential follows a change on the same host, not to another.
	_, _, err = o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: "https://git.example.com/app.git"}})
	require.NoError(t, err)
	_, err = o.SetToken(ctx, img.Name, secret.New("ghp_0123456789abcdef"))
	require.NoError(t, err)
	got, ch, err := o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: "https://git.example.com/shop/app.git"}})
	require.NoError(t, err)
	require.NotNil(t, got.Credential, "same host: kept")
	assert.Empty(t, ch.Notes)
	got, ch, err = o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: "https://evil.example.net/app.git"}})
	require.NoError(t, err)
	assert.Nil(t, got.Credential, "another host: dropped")
	require.Len(t, ch.Notes, 1)
	assert.Contains(t, ch.Notes[0], "credential was dropped")
	entries, _, err := o.Audit(ctx, 1, 10)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	assert.Equal(t, "update-image", entries[0].Action)
	assert.Contains(t, entries[0].Detail, `from host "git.example.com" to "evil.example.net"`)
	got, err = o.GetImage(ctx, img.Name)
	require.NoError(t, err)
	assert.Nil(t, got.Credential)

	// The operator may allow local sources; and the configuration given
	// to New may always name them.
	lo, err := abs.New(ctx, e.sqlite("local.db"), nil, e.options(abs.WithLocalSources())...)
	require.NoError(t, err)
	_, _, err = lo.CreateProject(ctx, withURL("file:///srv/git/app.git"))
	require.NoError(t, err)
	seeded, err := abs.New(ctx, e.sqlite("seed.db"), []abs.Project{withURL("file:///srv/git/app.git")}, e.options()...)
	require.NoError(t, err)
	require.Len(t, seeded.Images(), 1)
	assert.True(t, strings.HasPrefix(seeded.Images()[0].SourceSpec.URL, "file://"))
}
