package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/openabs/abs"

// layers lists, for each public package, the packages of ours it may
// depend on (directly or not). internal/... is always allowed except where
// a rule below says otherwise.
var layers = map[string][]string{
	"secret":      {},
	"rpmscan":     {},
	"advisory":    {"rpmscan"},
	"healthindex": {"advisory", "rpmscan"},
	"rebuild":     {"secret"},
	"notify":      {"secret"},
	"partnerapi":  {"secret"},
	"publish":     {"partnerapi", "secret"},
	"certify":     {"rpmscan", "partnerapi", "secret"},
}

// heavy are dependencies only the orchestrator and the examples may link:
// a leaf package that imports them drags a database or a job engine into
// every program that embeds it.
var heavy = []string{
	"github.com/riverqueue/",
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"gopkg.in/yaml.v3",
}

// noInternal are the packages that import nothing of ours at all, not
// even internal/: secret is the leaf every other package may use.
var noInternal = []string{"secret"}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("go list %s: %v\n%s", pkg, err, ee.Stderr)
	}
	require.NoError(t, err)
	return strings.Fields(string(out))
}

func TestLayering(t *testing.T) {
	for pkg, allowed := range layers {
		t.Run(pkg, func(t *testing.T) {
			path := module + "/" + pkg
			if err := exec.Command("go", "list", path).Run(); err != nil {
				t.Skipf("package %s does not exist yet", path)
			}
			for _, dep := range deps(t, path) {
				for _, h := range heavy {
					if strings.HasPrefix(dep, h) && !strings.HasPrefix(dep, "modernc.org/sqlite/") {
						t.Errorf("%s imports %s (heavy dependency reserved for the orchestrator)", pkg, dep)
					}
				}
				rest, ours := strings.CutPrefix(dep, module+"/")
				if !ours || rest == pkg || strings.HasPrefix(rest, pkg+"/") {
					continue
				}
				if strings.HasPrefix(rest, "internal/") && !slices.Contains(noInternal, pkg) {
					continue
				}
				top, _, _ := strings.Cut(rest, "/")
				if !slices.Contains(allowed, top) {
					t.Errorf("%s must not depend on %s", pkg, dep)
				}
			}
			if dep := slices.Index(deps(t, path), module); dep >= 0 {
				t.Errorf("%s depends on the root package", pkg)
			}
		})
	}
}

// TestRootComposes checks that the orchestrator is the only place the
// whole graph meets: no public package depends on the root package (the
// examples and internal wiring such as the demo may).
func TestRootComposes(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == module ||
			strings.HasPrefix(f[0], module+"/examples/") || strings.HasPrefix(f[0], module+"/internal/") {
			continue
		}
		require.NotContains(t, f[1:], module, "%s imports the root package", f[0])
	}
}
