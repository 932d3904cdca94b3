package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/store"
)

func TestProjectRows(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			require.NoError(t, db.Migrate(ctx))
			now := time.Unix(1_700_000_000, 0).UTC()
			g0, err := store.ProjectsGeneration(ctx, db)
			require.NoError(t, err)

			p, err := store.InsertProject(ctx, db, store.ProjectRow{ID: "b", Name: "B", Spec: "{}"}, now)
			require.NoError(t, err)
			assert.Equal(t, int64(1), p.Version)
			assert.Equal(t, now, p.Created)
			_, err = store.InsertProject(ctx, db, store.ProjectRow{ID: "a", Name: "A", Spec: "{}"}, now)
			require.NoError(t, err)
			_, err = store.InsertProject(ctx, db, store.ProjectRow{ID: "a", Name: "again", Spec: "{}"}, now)
			require.ErrorIs(t, err, store.ErrExists)
			ps, err := store.Projects(ctx, db)
			require.NoError(t, err)
			require.Len(t, ps, 2)
			assert.Equal(t, "b", ps[0].ID, "creation order, not id order")

			// Compare-and-swap on the version.
			p.Name = "B2"
			ok, err := store.UpdateProject(ctx, db, p, now)
			require.NoError(t, err)
			assert.True(t, ok)
			ok, err = store.UpdateProject(ctx, db, p, now) // p.Version is stale now
			require.NoError(t, err)
			assert.False(t, ok)

			i, err := store.InsertImage(ctx, db, store.ImageRow{Name: "img", Project: "b", Spec: `{"repository":"r"}`}, now)
			require.NoError(t, err)
			_, err = store.InsertImage(ctx, db, store.ImageRow{Name: "img", Project: "a", Spec: "{}"}, now)
			require.ErrorIs(t, err, store.ErrExists, "image names are unique across projects")
			ok, err = store.UpdateImage(ctx, db, i, now)
			require.NoError(t, err)
			assert.True(t, ok)
			ok, err = store.UpdateImage(ctx, db, i, now)
			require.NoError(t, err)
			assert.False(t, ok)
			v, err := store.TouchImage(ctx, db, "img", now)
			require.NoError(t, err)
			assert.Equal(t, int64(3), v)

			require.NoError(t, store.PutSecret(ctx, db, store.SecretRow{Image: "img", Kind: "token", Fingerprint: "f", Cipher: "c1", Updated: now}))
			require.NoError(t, store.PutSecret(ctx, db, store.SecretRow{Image: "img", Kind: "ssh-key", Fingerprint: "g", Cipher: "c2", PassCipher: "p2", Updated: now}))
			sec, err := store.Secrets(ctx, db)
			require.NoError(t, err)
			assert.Equal(t, store.SecretRow{Image: "img", Kind: "ssh-key", Fingerprint: "g", Cipher: "c2", PassCipher: "p2", Updated: now}, sec["img"])
			ok, err = store.ReplaceCiphers(ctx, db, "img", "c1", "", "c3", "")
			require.NoError(t, err)
			assert.False(t, ok, "not the stored ciphertext any more")
			ok, err = store.ReplaceCiphers(ctx, db, "img", "c2", "p2", "c3", "p3")
			require.NoError(t, err)
			assert.True(t, ok)

			got, err := store.AddHostKey(ctx, db, "img", "[h]:22", "[h]:22 ssh-ed25519 AAAA1", now)
			require.NoError(t, err)
			assert.Equal(t, "[h]:22 ssh-ed25519 AAAA1", got)
			got, err = store.AddHostKey(ctx, db, "img", "[h]:22", "[h]:22 ssh-ed25519 BBBB2", now)
			require.NoError(t, err)
			assert.Equal(t, "[h]:22 ssh-ed25519 AAAA1", got, "the first key recorded wins")
			hk, err := store.HostKeys(ctx, db)
			require.NoError(t, err)
			assert.Equal(t, map[string][]string{"img": {"[h]:22 ssh-ed25519 AAAA1"}}, hk)

			g1, err := store.ProjectsGeneration(ctx, db)
			require.NoError(t, err)
			assert.Greater(t, g1, g0)

			names, err := store.DeleteProject(ctx, db, "b")
			require.NoError(t, err)
			assert.Equal(t, []string{"img"}, names)
			sec, err = store.Secrets(ctx, db)
			require.NoError(t, err)
			assert.Empty(t, sec, "credentials go with their image")
			hk, err = store.HostKeys(ctx, db)
			require.NoError(t, err)
			assert.Empty(t, hk)
			_, err = store.DeleteProject(ctx, db, "b")
			require.ErrorIs(t, err, store.ErrNotFound)

			for i := range 5 {
				require.NoError(t, store.AddAudit(ctx, db, store.AuditRow{At: now.Add(time.Duration(i) * time.Second), Actor: "a", Action: "act", Target: string(rune('0' + i))}))
			}
			rows, total, err := store.Audit(ctx, db, 1, 2)
			require.NoError(t, err)
			assert.Equal(t, 5, total)
			require.Len(t, rows, 2)
			assert.Equal(t, "3", rows[0].Target, "newest first")
			assert.Equal(t, "2", rows[1].Target)
		})
	}
}
