package demo

import (
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Containerfile is the demo applications' build file: the base image's
// tag and one COPY.
func Containerfile(baseRef, file string) string {
	return "# openabs demo application (demo data)\nFROM " + baseRef + "\nCOPY " + filepath.Base(file) + " /" + file + "\n"
}

// GitRepo creates a git repository in dir (with go-git, no git binary)
// holding an application's Containerfile and its file, on branch main,
// and returns the commit hash.
func GitRepo(dir, baseRef, file, body string) (string, error) {
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return "", err
	}
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))); err != nil {
		return "", err
	}
	files := map[string]string{
		"Containerfile":     Containerfile(baseRef, file),
		filepath.Base(file): body,
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			return "", err
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	for n := range files {
		if _, err := wt.Add(n); err != nil {
			return "", err
		}
	}
	sig := &object.Signature{Name: "openabs demo", Email: "demo@example.invalid", When: time.Unix(4070908800, 0).UTC()}
	h, err := wt.Commit("demo application", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
