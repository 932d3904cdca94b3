package abs

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // the "sqlite" driver for the state
	"github.com/openabs/abs/secret"
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
		// Tokens written as SetToken does, without its reload after each.
		for i := range n {
			c, err := key.Encrypt(secret.New(fmt.Sprintf("token-%08d", i)))
			require.NoError(b, err)
			require.NoError(b, store.PutSecret(b.Context(), o.db, store.SecretRow{Image: p.Images[i].Repository,
				Kind: CredentialToken, Fingerprint: "x", Cipher: c}))
		}
		require.NoError(b, o.refreshImages(b.Context())) // the writes above moved the generation
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
