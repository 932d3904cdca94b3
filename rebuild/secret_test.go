package rebuild_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

func TestSecretInUnexportedField(t *testing.T) {
	// fmt prints unexported fields without calling their methods; the
	// value must not be reachable that way either.
	s := secret.FromBytes([]byte("sup3rs3cret-in-a-field"))
	holder := struct {
		key rebuild.Secret
		ptr *rebuild.Secret
	}{s, &s}
	out := fmt.Sprintf("%v %+v %#v", holder, holder, &holder)
	assert.NotContains(t, out, "sup3rs3cret")
	assert.Equal(t, "[REDACTED]", fmt.Sprintf("%#v", s))
	assert.Equal(t, "[REDACTED]", fmt.Sprintf("%#v", rebuild.Secret{}))
	assert.Equal(t, "sup3rs3cret-in-a-field", s.Reveal())
}
