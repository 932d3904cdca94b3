package rebuild

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Resolve returns the commit the source's revision names now, as
// `git ls-remote` would see it: the tip of Branch, the commit of Tag (an
// annotated tag is peeled), Commit itself when it is set, or the remote
// HEAD. It reads only the remote's advertised references, with the same
// credentials and host verification as Fetch, and fails with a
// *FetchError (ErrRevisionNotFound when the branch or tag is missing).
// Bound it with ctx.
func (s GitSource) Resolve(ctx context.Context, opts ...Option) (string, error) {
	cfg := newConfig(opts)
	if err := s.validate(); err != nil {
		return "", s.fail(err)
	}
	if s.Commit != "" {
		return s.Commit, nil
	}
	auth, cleanup, err := s.transportAuth(cfg.logger)
	if err != nil {
		return "", s.fail(err)
	}
	defer cleanup()
	rem := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{s.URL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, CABundle: s.Auth.CABundle, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", s.fail(err)
	}
	want := plumbing.HEAD
	switch {
	case s.Tag != "":
		want = plumbing.NewTagReferenceName(s.Tag)
	case s.Branch != "":
		want = plumbing.NewBranchReferenceName(s.Branch)
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	// An annotated tag is advertised twice: the tag object, and the
	// commit it points at as "refs/tags/NAME^{}".
	if r := byName[plumbing.ReferenceName(want.String()+"^{}")]; r != nil && s.Tag != "" {
		return r.Hash().String(), nil
	}
	r := byName[want]
	for range 5 { // HEAD is usually a symbolic reference
		if r == nil || r.Type() != plumbing.SymbolicReference {
			break
		}
		r = byName[r.Target()]
	}
	if r == nil || r.Hash().IsZero() {
		return "", s.fail(fmt.Errorf("%w: %s", ErrRevisionNotFound, want.Short()))
	}
	return r.Hash().String(), nil
}
