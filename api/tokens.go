package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openabs/abs/secret"
)

// Role is what a token may do.
type Role string

// The roles, from least to most.
const (
	// Viewer reads the projects it is scoped to (all when unscoped).
	Viewer Role = "viewer"
	// Editor reads and changes the projects it is scoped to (all when
	// unscoped); it cannot create or delete projects, nor read the audit log.
	Editor Role = "editor"
	// Admin does everything, including creating and deleting projects and
	// reading the audit log.
	Admin Role = "admin"
)

// Valid reports whether r is one of Viewer, Editor and Admin.
func (r Role) Valid() bool { return r == Viewer || r == Editor || r == Admin }

// MinTokenLength is the length of the shortest token value NewTokens accepts.
const MinTokenLength = 16

// ErrTokens is wrapped by every error of NewTokens.
var ErrTokens = errors.New("api: invalid tokens")

// Token is one bearer token as configured: a name (recorded as the actor of
// every change made with it), a role, an optional list of project ids it is
// limited to, and the secret value the client sends.
type Token struct {
	Name     string
	Role     Role
	Projects []string // empty: every project
	Value    secret.Value
}

// Principal is who a request authenticated as: a token without its value.
type Principal struct {
	Name     string   `json:"name"`
	Role     Role     `json:"role"`
	Projects []string `json:"projects,omitempty"`
}

func (p Principal) inScope(project string) bool {
	return len(p.Projects) == 0 || slices.Contains(p.Projects, project)
}

// CanRead reports whether p may read project.
func (p Principal) CanRead(project string) bool { return p.Role.Valid() && p.inScope(project) }

// CanEdit reports whether p may change project and its images.
func (p Principal) CanEdit(project string) bool {
	return (p.Role == Editor || p.Role == Admin) && p.inScope(project)
}

// IsAdmin reports whether p has the Admin role.
func (p Principal) IsAdmin() bool { return p.Role == Admin }

type tokenEntry struct {
	hash [sha256.Size]byte
	p    Principal
}

// Tokens is a set of bearer tokens. It holds only the SHA-256 hash of each
// value, and compares a presented token against every hash in constant time,
// so neither a memory dump nor response timing gives a token away. The zero
// Tokens and a nil *Tokens authenticate nothing.
type Tokens struct {
	entries []tokenEntry
}

// NewTokens returns the set of ts. Every token needs a unique non-empty name,
// a valid role and a value of at least MinTokenLength bytes, unique in the
// set; an Admin token cannot be limited to projects (Admin means everything).
func NewTokens(ts ...Token) (*Tokens, error) {
	t := &Tokens{}
	names := map[string]bool{}
	for i, tok := range ts {
		switch {
		case strings.TrimSpace(tok.Name) == "":
			return nil, fmt.Errorf("%w: token %d: name is empty", ErrTokens, i)
		case names[tok.Name]:
			return nil, fmt.Errorf("%w: token %q: name used twice", ErrTokens, tok.Name)
		case !tok.Role.Valid():
			return nil, fmt.Errorf("%w: token %q: role %q is not viewer, editor or admin", ErrTokens, tok.Name, tok.Role)
		case len(tok.Value.Reveal()) < MinTokenLength:
			return nil, fmt.Errorf("%w: token %q: value shorter than %d bytes", ErrTokens, tok.Name, MinTokenLength)
		case tok.Role == Admin && len(tok.Projects) > 0:
			return nil, fmt.Errorf("%w: token %q: an admin token cannot be limited to projects", ErrTokens, tok.Name)
		}
		for _, p := range tok.Projects {
			if strings.TrimSpace(p) == "" {
				return nil, fmt.Errorf("%w: token %q: empty project id", ErrTokens, tok.Name)
			}
		}
		h := sha256.Sum256([]byte(tok.Value.Reveal()))
		for _, e := range t.entries {
			if e.hash == h {
				return nil, fmt.Errorf("%w: token %q: same value as token %q", ErrTokens, tok.Name, e.p.Name)
			}
		}
		names[tok.Name] = true
		t.entries = append(t.entries, tokenEntry{hash: h, p: Principal{
			Name: tok.Name, Role: tok.Role, Projects: slices.Clone(tok.Projects),
		}})
	}
	return t, nil
}

// Authenticate returns the principal of the token whose value is bearer (the
// value alone, without the "Bearer " prefix). It hashes bearer and compares
// the hash with every stored hash, without stopping at a match.
func (t *Tokens) Authenticate(bearer string) (Principal, bool) {
	if t == nil || bearer == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(bearer))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	p := t.entries[found].p
	p.Projects = slices.Clone(p.Projects)
	return p, true
}

// Len returns the number of tokens in the set.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}
