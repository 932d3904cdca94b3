package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	gossh "golang.org/x/crypto/ssh"
)

// Repo is a bare git repository on disk whose HEAD is refs/heads/main.
type Repo struct {
	// Dir is the bare repository directory; pass it to StartSSH/StartHTTP.
	Dir string
	// Head is the hex hash of the latest commit made through this Repo.
	Head string

	t    testing.TB
	repo *git.Repository
	n    int
}

// RequireGit skips the test when the git binary is not installed.
func RequireGit(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		t.Skip("gittest: git binary not found (apt-get install git)")
	}
	return p
}

// NewRepo creates a bare repository in a temporary directory with one
// commit on branch main holding files (path -> content).
func NewRepo(t testing.TB, files map[string]string) *Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo.git")
	st := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	r, err := git.Init(st, memfs.New())
	if err != nil {
		t.Fatalf("gittest: init: %v", err)
	}
	cfg, err := r.Config()
	if err != nil {
		t.Fatalf("gittest: config: %v", err)
	}
	cfg.Core.IsBare = true
	if err := r.SetConfig(cfg); err != nil {
		t.Fatalf("gittest: config: %v", err)
	}
	head := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))
	if err := st.SetReference(head); err != nil {
		t.Fatalf("gittest: HEAD: %v", err)
	}
	repo := &Repo{Dir: dir, t: t, repo: r}
	repo.Commit(files)
	return repo
}

// Commit writes files (path -> content) on top of the current tree of main,
// commits them with a fixed author and time, and returns the commit hash.
func (r *Repo) Commit(files map[string]string) string {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatalf("gittest: worktree: %v", err)
	}
	for name, content := range files {
		if dir := filepath.Dir(name); dir != "." {
			if err := wt.Filesystem.MkdirAll(dir, 0o755); err != nil {
				r.t.Fatalf("gittest: mkdir %s: %v", dir, err)
			}
		}
		f, err := wt.Filesystem.Create(name)
		if err != nil {
			r.t.Fatalf("gittest: create %s: %v", name, err)
		}
		if _, err := f.Write([]byte(content)); err != nil {
			r.t.Fatalf("gittest: write %s: %v", name, err)
		}
		_ = f.Close()
		if _, err := wt.Add(name); err != nil {
			r.t.Fatalf("gittest: add %s: %v", name, err)
		}
	}
	r.n++
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: time.Date(2026, 1, 1, 0, r.n, 0, 0, time.UTC)}
	h, err := wt.Commit("commit", &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatalf("gittest: commit: %v", err)
	}
	r.Head = h.String()
	return r.Head
}

// Tag creates a lightweight tag name pointing at commit (a hex hash).
func (r *Repo) Tag(name, commit string) {
	r.t.Helper()
	ref := plumbing.NewHashReference(plumbing.NewTagReferenceName(name), plumbing.NewHash(commit))
	if err := r.repo.Storer.SetReference(ref); err != nil {
		r.t.Fatalf("gittest: tag %s: %v", name, err)
	}
}

// Branch creates or moves branch name to commit (a hex hash).
func (r *Repo) Branch(name, commit string) {
	r.t.Helper()
	ref := plumbing.NewHashReference(plumbing.NewBranchReferenceName(name), plumbing.NewHash(commit))
	if err := r.repo.Storer.SetReference(ref); err != nil {
		r.t.Fatalf("gittest: branch %s: %v", name, err)
	}
}

// Key is an SSH key pair made for a test.
type Key struct {
	// PrivatePEM is the private key in OpenSSH PEM format
	// ("-----BEGIN OPENSSH PRIVATE KEY-----"), unencrypted.
	PrivatePEM []byte
	// Public is the public half, for WithAuthorizedKey.
	Public gossh.PublicKey
	// Signer signs with the private half.
	Signer gossh.Signer
}

// NewKey generates an ed25519 key pair.
func NewKey(t testing.TB) *Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gittest: generate key: %v", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatalf("gittest: marshal key: %v", err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("gittest: signer: %v", err)
	}
	return &Key{PrivatePEM: pem.EncodeToMemory(block), Public: signer.PublicKey(), Signer: signer}
}

// WriteFile writes data to a new file in a temporary directory and returns
// its path; handy for known_hosts files.
func WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatalf("gittest: write %s: %v", p, err)
	}
	return p
}
