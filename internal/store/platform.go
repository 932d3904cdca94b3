package store

import (
	"context"
	"strings"
	"time"
)

// platformSep separates a managed image's name from one of its platforms
// in the managed key of a platform of a multi-platform image.
const platformSep = "\x1f"

// PlatformKey is the managed key of one platform ("linux/arm64") of the
// multi-platform image name: each platform's image digest is recorded
// under it, beside the index digest recorded under name.
func PlatformKey(name, platform string) string { return name + platformSep + platform }

// SplitPlatformKey splits a managed key made by PlatformKey into the
// image name and the platform; ok is false for the key of a whole image.
func SplitPlatformKey(key string) (name, platform string, ok bool) {
	return strings.Cut(key, platformSep)
}

// SetManagedPlatforms records the image digest of each platform of the
// managed image name (platform -> digest; nil or empty for a
// single-platform image) and forgets the platforms it no longer has.
// The fleet generation moves only when something changed.
func SetManagedPlatforms(ctx context.Context, q Querier, name string, platforms map[string]string, now time.Time) error {
	prefix := name + platformSep
	have, err := managedPlatformKeys(ctx, q, name)
	if err != nil {
		return err
	}
	changed := false
	for n := range have {
		if _, ok := platforms[strings.TrimPrefix(n, prefix)]; !ok {
			if _, err := q.Exec(ctx, `DELETE FROM abs_managed WHERE name = $1`, n); err != nil {
				return err
			}
			changed = true
		}
	}
	for p, d := range platforms {
		k := PlatformKey(name, p)
		if have[k] == d {
			if _, err := q.Exec(ctx, `UPDATE abs_managed SET resolved_at = $2 WHERE name = $1`, k, nanos(now)); err != nil {
				return err
			}
			continue
		}
		if _, err := q.Exec(ctx, `INSERT INTO abs_managed (name, digest, resolved_at, image) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, resolved_at = excluded.resolved_at, image = excluded.image`,
			k, d, nanos(now), name); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return bumpFleet(ctx, q)
}

// LogDetail returns the detail of the rebuild's latest log entry in the
// given state, or ErrNotFound.
func LogDetail(ctx context.Context, q Querier, rebuild, state string) (string, error) {
	var d string
	err := q.QueryRow(ctx, `SELECT detail FROM abs_rebuild_log WHERE rebuild = $1 AND state = $2 ORDER BY seq DESC LIMIT 1`,
		rebuild, state).Scan(&d)
	return d, err
}

// ManagedPlatforms returns the platform image digests recorded for the
// managed image name (platform -> digest), empty for a single-platform
// image.
func ManagedPlatforms(ctx context.Context, q Querier, name string) (map[string]string, error) {
	keys, err := managedPlatformKeys(ctx, q, name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for k, d := range keys {
		if _, p, ok := SplitPlatformKey(k); ok {
			out[p] = d
		}
	}
	return out, nil
}

// managedPlatformKeys returns the managed rows of name's platforms, by
// their full key.
func managedPlatformKeys(ctx context.Context, q Querier, name string) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT name, digest FROM abs_managed WHERE image = $1`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		have[n] = d
	}
	return have, rows.Err()
}
