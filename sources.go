package abs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/openabs/abs/internal/store"
	"github.com/openabs/abs/rebuild"
)

// sourceKey names a source revision for the lookup cache and the stored
// last commit: a hash of the URL (which may carry a token as user name)
// and the revision asked for.
func sourceKey(src *rebuild.GitSource) string {
	h := sha256.Sum256([]byte(src.URL + "\x00" + src.Branch + "\x00" + src.Tag + "\x00" + src.Commit))
	return hex.EncodeToString(h[:16])
}

// revisionOf describes what a source asks for, for messages.
func revisionOf(src *rebuild.GitSource) string {
	switch {
	case src.Commit != "":
		return "commit " + src.Commit
	case src.Tag != "":
		return "tag " + src.Tag
	case src.Branch != "":
		return "branch " + src.Branch
	}
	return "HEAD"
}

// sourceCommits resolves, as the cycle plans, the commit each readable
// image's source revision names now (GitSource.Resolve, bounded by
// WithSourceTimeout), once per URL and revision in the cycle, so that a
// branch that moved on changes the image's inputs and a failed rebuild is
// planned anew on the new commit. A lookup that fails is a warning of the
// image (returned by image name) and the image keeps the commit seen
// last: an unreachable git server never blocks a cycle, nor makes a new
// rebuild of every image.
func (o *Orchestrator) sourceCommits(ctx context.Context, cycle string, states []*imageState) (commits, warnings map[string]string) {
	type lookup struct {
		src    rebuild.GitSource
		commit string
		err    error
	}
	lookups := map[string]*lookup{}
	for _, s := range states {
		if s.err != nil || s.img.Source == nil {
			continue
		}
		if k := sourceKey(s.img.Source); lookups[k] == nil {
			lookups[k] = &lookup{src: *s.img.Source}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.scanWork)
	for _, l := range lookups {
		g.Go(func() error {
			lctx, cancel := context.WithTimeout(gctx, o.sourceTimeout())
			defer cancel()
			l.commit, l.err = l.src.Resolve(lctx, rebuild.WithLogger(o.log))
			return nil
		})
	}
	_ = g.Wait()
	dry := overlayOf(ctx) != nil
	for k, l := range lookups {
		if l.err == nil && !dry {
			if err := store.SetSourceCommit(ctx, o.db, k, l.commit, o.now()); err != nil {
				o.log.Warn("record source commit", "error", err.Error())
			}
		}
	}
	commits, warnings = map[string]string{}, map[string]string{}
	for _, s := range states {
		if s.err != nil || s.img.Source == nil {
			continue
		}
		k := sourceKey(s.img.Source)
		l := lookups[k]
		if l.err == nil {
			commits[s.img.Name] = l.commit
			continue
		}
		last, err := store.SourceCommit(ctx, o.db, k)
		if err != nil {
			o.log.Warn("read source commit", "error", err.Error())
		}
		commits[s.img.Name] = last
		seen := "no commit seen before"
		if last != "" {
			seen = "planned on the commit seen last, " + last[:min(len(last), 12)]
		}
		w := o.scrubText(fmt.Sprintf("source %s at %s: %v (%s)", rebuild.RedactURL(l.src.URL), revisionOf(&l.src), l.err, seen))
		warnings[s.img.Name] = w
		o.note(cycle, "plan", s.img.Name, "source revision unresolved", s.img.Name+": "+w, "error", w)
	}
	return commits, warnings
}

// planInputs completes each readable image's inputs fingerprint with what
// only the network tells: the commit its source names now and its
// registry credentials' fingerprint. It returns the warnings of images
// whose source could not be resolved.
func (o *Orchestrator) planInputs(ctx context.Context, cycle string, states []*imageState) map[string]string {
	commits, warnings := o.sourceCommits(ctx, cycle, states)
	creds := o.newCredentialPrints()
	for _, s := range states {
		if s.err != nil {
			continue
		}
		cr := creds.of(ctx, s.img.Repository)
		if s.baseName != "" {
			cr += "\x00" + creds.of(ctx, rebuild.Repository(s.baseName))
		}
		s.inputs = o.inputsAt(s, commits[s.img.Name], cr)
	}
	return warnings
}
