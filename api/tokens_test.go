package api_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/api"
	"github.com/openabs/abs/secret"
)

func TestTokens(t *testing.T) {
	ts, err := api.NewTokens(
		api.Token{Name: "root", Role: api.Admin, Value: secret.New("admin-token-0123456789")},
		api.Token{Name: "dev", Role: api.Editor, Projects: []string{"p1"}, Value: secret.New("editor-token-0123456789")},
		api.Token{Name: "ro", Role: api.Viewer, Value: secret.New("viewer-token-0123456789")},
	)
	require.NoError(t, err)
	assert.Equal(t, 3, ts.Len())
	assert.NotContains(t, fmt.Sprintf("%+v %#v", ts, *ts), "admin-token")

	p, ok := ts.Authenticate("editor-token-0123456789")
	require.True(t, ok)
	assert.Equal(t, api.Principal{Name: "dev", Role: api.Editor, Projects: []string{"p1"}}, p)
	assert.True(t, p.CanEdit("p1"))
	assert.True(t, p.CanRead("p1"))
	assert.False(t, p.CanEdit("p2"))
	assert.False(t, p.CanRead("p2"))
	assert.False(t, p.IsAdmin())

	p, ok = ts.Authenticate("viewer-token-0123456789")
	require.True(t, ok)
	assert.True(t, p.CanRead("any"))
	assert.False(t, p.CanEdit("any"))

	p, ok = ts.Authenticate("admin-token-0123456789")
	require.True(t, ok)
	assert.True(t, p.IsAdmin())
	assert.True(t, p.CanEdit("any"))

	for _, bad := range []string{"", "admin-token-012345678", "admin-token-0123456789 ", "x"} {
		_, ok := ts.Authenticate(bad)
		assert.False(t, ok, bad)
	}
	var none *api.Tokens
	_, ok = none.Authenticate("admin-token-0123456789")
	assert.False(t, ok)
}

func TestNewTokensRefuses(t *testing.T) {
	v := secret.New("a-long-enough-token-value")
	for name, ts := range map[string][]api.Token{
		"no name":       {{Role: api.Viewer, Value: v}},
		"same name":     {{Name: "a", Role: api.Viewer, Value: v}, {Name: "a", Role: api.Viewer, Value: secret.New("another-long-token-value")}},
		"bad role":      {{Name: "a", Role: "root", Value: v}},
		"short":         {{Name: "a", Role: api.Viewer, Value: secret.New("short")}},
		"same value":    {{Name: "a", Role: api.Viewer, Value: v}, {Name: "b", Role: api.Editor, Value: v}},
		"scoped admin":  {{Name: "a", Role: api.Admin, Projects: []string{"p"}, Value: v}},
		"empty project": {{Name: "a", Role: api.Editor, Projects: []string{""}, Value: v}},
	} {
		_, err := api.NewTokens(ts...)
		require.ErrorIs(t, err, api.ErrTokens, name)
		assert.NotContains(t, err.Error(), v.Reveal(), name)
	}
}

func manyTokens(tb testing.TB, n int) *api.Tokens {
	var ts []api.Token
	for i := range n {
		ts = append(ts, api.Token{Name: fmt.Sprintf("t%d", i), Role: api.Viewer, Value: secret.New(fmt.Sprintf("token-%04d-0123456789abcdef", i))})
	}
	tokens, err := api.NewTokens(ts...)
	require.NoError(tb, err)
	return tokens
}
