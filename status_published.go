package abs

import (
	"context"

	"github.com/openabs/abs/internal/store"
)

// publishedDigest returns the digest the image's tag was moved to by its
// newest rebuild, when that rebuild was published from digest (the one the
// last cycle resolved); "" otherwise. Its inventory was stored when the
// rebuild was verified, so the image's status can be read at the
// published digest before the next cycle resolves the tag again.
func (o *Orchestrator) publishedDigest(ctx context.Context, image, digest string) (string, error) {
	rs, _, err := store.ImageRebuilds(ctx, o.db, image, 1, 0)
	if err != nil || len(rs) == 0 {
		return "", err
	}
	r := rs[0]
	if RebuildState(r.State) == RebuildPublished && r.OldDigest == digest && r.NewDigest != "" {
		return r.NewDigest, nil
	}
	return "", nil
}
