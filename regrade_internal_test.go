package abs

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/rpmscan"
)

// uncomparableMatcher is a Matcher whose values cannot be compared.
type uncomparableMatcher struct{ seen map[string]bool }

func (uncomparableMatcher) Match(*rpmscan.Inventory) []advisory.Finding { return nil }

func TestSameMatcher(t *testing.T) {
	a := uncomparableMatcher{seen: map[string]bool{}}
	assert.False(t, sameMatcher(a, a), "an uncomparable matcher is never the same, without a panic")
	ix := advisory.NewIndex(nil)
	assert.True(t, sameMatcher(ix, ix))
	assert.False(t, sameMatcher(ix, advisory.NewIndex(nil)))
	assert.False(t, sameMatcher(nil, ix))
}
