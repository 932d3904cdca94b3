package demo_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/internal/demo"
)

func TestRun(t *testing.T) {
	var progress []string
	res, err := demo.Run(t.Context(), demo.Options{
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
		Progress: func(p abs.Progress) { progress = append(progress, p.Stage+": "+p.Message) },
		Dir:      t.TempDir(),
	})
	require.NoError(t, err, strings.Join(progress, "\n"))
	t.Log(strings.Join(progress, "\n"))
	sum := res.Report.Summary()
	require.Len(t, sum.Images, 2)
	for _, img := range sum.Images {
		assert.Equal(t, "C", img.BeforeGrade, img.Name)
		assert.Equal(t, "A", img.AfterGrade, img.Name)
		assert.True(t, img.Published, img.Name)
		assert.NotEqual(t, img.OldDigest, img.NewDigest)
		assert.Equal(t, []string{demo.OpenSSL.ID, demo.Glibc.ID}, img.Advisories)
	}
	assert.Equal(t, 1, sum.Notifications)
	require.Len(t, res.Mail, 1, "one message for the one owner")
	assert.Equal(t, []string{demo.Owner}, res.Mail[0].To)
	_ = time.Second
}
