package healthindex_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/healthindex"
)

func TestGradeText(t *testing.T) {
	tests := []struct {
		g    healthindex.Grade
		text string
	}{
		{healthindex.GradeA, "A"},
		{healthindex.GradeB, "B"},
		{healthindex.GradeC, "C"},
		{healthindex.GradeD, "D"},
		{healthindex.GradeE, "E"},
		{healthindex.GradeF, "F"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			assert.True(t, tt.g.Valid())
			assert.Equal(t, tt.text, tt.g.String())
			b, err := tt.g.MarshalText()
			require.NoError(t, err)
			assert.Equal(t, tt.text, string(b))

			var g healthindex.Grade
			require.NoError(t, g.UnmarshalText([]byte(tt.text)))
			assert.Equal(t, tt.g, g)
			require.NoError(t, g.UnmarshalText([]byte{tt.text[0] + 'a' - 'A'}))
			assert.Equal(t, tt.g, g)

			j, err := json.Marshal(map[string]healthindex.Grade{"grade": tt.g})
			require.NoError(t, err)
			assert.JSONEq(t, `{"grade":"`+tt.text+`"}`, string(j))
		})
	}
}

func TestGradeOrder(t *testing.T) {
	order := []healthindex.Grade{healthindex.GradeA, healthindex.GradeB, healthindex.GradeC,
		healthindex.GradeD, healthindex.GradeE, healthindex.GradeF}
	for i := 1; i < len(order); i++ {
		assert.Less(t, order[i-1], order[i], "a worse grade must compare greater")
	}
}

func TestGradeInvalid(t *testing.T) {
	for _, g := range []healthindex.Grade{0, -1, healthindex.GradeF + 1} {
		assert.False(t, g.Valid())
		assert.Equal(t, "?", g.String())
		_, err := g.MarshalText()
		require.ErrorIs(t, err, healthindex.ErrInvalidGrade)
		_, err = json.Marshal(struct{ G healthindex.Grade }{g})
		require.Error(t, err)
	}
	for _, s := range []string{"", "G", "AB", " A", "a ", "0", "Ä", "\x00"} {
		_, err := healthindex.ParseGrade(s)
		require.ErrorIs(t, err, healthindex.ErrInvalidGrade, "%q", s)
		var g healthindex.Grade
		require.ErrorIs(t, g.UnmarshalText([]byte(s)), healthindex.ErrInvalidGrade)
		assert.Zero(t, g, "a failed unmarshal leaves the grade alone")
	}
}

func FuzzParseGrade(f *testing.F) {
	for _, s := range []string{"A", "B", "C", "D", "E", "F", "a", "f", "G", "", "AA", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := healthindex.ParseGrade(s)
		if err != nil {
			require.ErrorIs(t, err, healthindex.ErrInvalidGrade)
			require.Zero(t, g)
			return
		}
		require.True(t, g.Valid())
		b, err := g.MarshalText()
		require.NoError(t, err)
		back, err := healthindex.ParseGrade(string(b))
		require.NoError(t, err)
		require.Equal(t, g, back)
	})
}
