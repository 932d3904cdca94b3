package abs

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/secret"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // the "sqlite" driver for the state
)

// BenchmarkImageSnapshot measures what every cycle and job pays for
// projects managed at runtime: refresh (one query when nothing changed)
// and a full reload (every project, image and credential read, each
// credential decrypted), on SQLite, for fleets of realistic sizes.
func BenchmarkImageSnapshot(b *testing.B) {
	for _, n := range []int{100, 1000} {
		db, err := OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "abs.db"))
		require.NoError(b, err)
		key, err := secret.GenerateKey()
		require.NoError(b, err)
		o, err := New(b.Context(), db, nil, WithSecretKey(key))
		require.NoError(b, err)
		p := Project{ID: "bench"}
		for i := range n {
			p.Images = append(p.Images, Image{Repository: fmt.Sprintf("registry.example/team/app-%d", i), AutoRebuild: true,
				Tags: []string{"latest", "1"}, Owners: []string{"team@example.com"},
				SourceSpec: &SourceSpec{URL: fmt.Sprintf("ssh://git@git.example/app-%d.git", i), Branch: "main"}})
		}
		_, _, err = o.CreateProject(b.Context(), p)
		require.NoError(b, err)
		for i := range n {
			_, err := o.SetToken(b.Context(), p.Images[i].Repository, secret.New(fmt.Sprintf("token-%08d", i)))
			require.NoError(b, err)
		}
		b.Run(fmt.Sprintf("refresh/images=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				require.NoError(b, o.refreshImages(b.Context()))
			}
		})
		b.Run(fmt.Sprintf("reload/images=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				require.NoError(b, o.reloadImages(b.Context()))
			}
			require.Len(b, o.fleetImages(), n)
		})
		require.NoError(b, db.Close())
	}
}
