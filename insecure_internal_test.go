package abs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInsecureRegistriesPerHost: WithInsecureRegistries gives plain HTTP to
// the hosts it lists and to no other.
func TestInsecureRegistriesPerHost(t *testing.T) {
	o := &Orchestrator{}
	WithInsecureRegistries("plain.example:5000")(o)
	for ref, scheme := range map[string]string{
		"plain.example:5000/app:1":        "http",
		"plain.example:5001/app:1":        "https",
		"secure.example/app:1":            "https",
		"registry.example.com/team/app:2": "https",
	} {
		r, err := o.ref(ref)
		require.NoError(t, err)
		assert.Equal(t, scheme, r.Context().Registry.Scheme(), ref)
	}
	d, err := o.digestRef("plain.example:5000/app@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, "http", d.Context().Registry.Scheme())
	d, err = o.digestRef("other.example/app@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, "https", d.Context().Registry.Scheme())
}
