package depcheck

import (
	"database/sql"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
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
	"sbom":        {"rpmscan"},
	"provenance":  {},
	"sign":        {"secret"},
	"imageref":    {},
	"demo":        {},
	"buildkit":    {"rebuild", "secret"},
}

// buildkitModule is BuildKit, linked only by the opt-in buildkit package:
// it drags gRPC, containerd and OpenTelemetry along.
const buildkitModule = "github.com/moby/buildkit"

// composers may import the root package: the application packages built
// on the orchestrator's exported API.
var composers = []string{"config", "api", "console"}

// heavy are dependencies only the orchestrator and the examples may link:
// a leaf package that imports them drags a database or a job engine into
// every program that embeds it.
var heavy = []string{
	"github.com/riverqueue/",
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"gopkg.in/yaml.v3",
}

// signing are the supply-chain libraries (signatures, attestations, SBOM
// formats). Only the packages that produce those formats may link them,
// each only what it needs: scanning, matching and grading stay free of
// them.
var signing = map[string][]string{
	"sbom":       {"github.com/spdx/", "github.com/CycloneDX/", "github.com/package-url/"},
	"provenance": {"github.com/in-toto/"},
	"sign":       {"github.com/sigstore/", "github.com/secure-systems-lab/", "github.com/in-toto/"},
	// BuildKit's client links its provenance attestation types (in-toto
	// statements, DSSE envelopes); buildkit requests no attestations.
	"buildkit": {"github.com/in-toto/", "github.com/secure-systems-lab/"},
}

var signingPrefixes = []string{
	"github.com/sigstore/", "github.com/secure-systems-lab/", "github.com/in-toto/",
	"github.com/spdx/", "github.com/CycloneDX/", "github.com/package-url/",
}

// TestSigningStaysOut checks that no public package links a supply-chain
// library it does not own (rpmscan, advisory and healthindex never import
// sigstore, for example).
func TestSigningStaysOut(t *testing.T) {
	for pkg := range layers {
		t.Run(pkg, func(t *testing.T) {
			path := module + "/" + pkg
			if err := exec.Command("go", "list", path).Run(); err != nil {
				t.Skipf("package %s does not exist yet", path)
			}
			for _, dep := range deps(t, path) {
				for _, p := range signingPrefixes {
					if strings.HasPrefix(dep, p) && !slices.ContainsFunc(signing[pkg], func(own string) bool { return strings.HasPrefix(dep, own) }) {
						t.Errorf("%s imports %s", pkg, dep)
					}
				}
			}
		})
	}
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
		if len(f) == 0 || f[0] == module || slices.Contains(composers, strings.TrimPrefix(f[0], module+"/")) ||
			strings.HasPrefix(f[0], module+"/examples/") || strings.HasPrefix(f[0], module+"/internal/") {
			continue
		}
		require.NotContains(t, f[1:], module, "%s imports the root package", f[0])
	}
}

// rootForbidden are what the root package must not link, directly or
// not: a configuration format (the application's business, package
// config) and a database driver (the embedding program chooses its own).
var rootForbidden = []string{"gopkg.in/yaml.v3", "go.yaml.in/yaml", "modernc.org/sqlite", "github.com/glebarez/"}

// TestRootStaysSDK: importing the orchestrator links no YAML library and
// no SQL driver.
func TestRootStaysSDK(t *testing.T) {
	for _, dep := range deps(t, module) {
		for _, f := range rootForbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("the root package links %s", dep)
			}
		}
	}
}

// TestExamplesUsePublicAPI: no example imports an internal package, so a
// user can copy any example out of the repository and build it.
func TestExamplesUsePublicAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/examples/...").Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module+"/internal/") {
				t.Errorf("%s imports %s", f[0], imp)
			}
		}
	}
}

// TestOpenSQLiteWithoutDriver: this test binary links no SQLite driver,
// and OpenSQLite says so with its sentinel error instead of failing
// obscurely.
func TestOpenSQLiteWithoutDriver(t *testing.T) {
	require.NotContains(t, sql.Drivers(), "sqlite")
	_, err := abs.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "abs.db"))
	require.ErrorIs(t, err, abs.ErrNoSQLiteDriver)
}

// TestBuildKitOptIn checks that only the buildkit package (and the
// examples that choose it) links BuildKit: the orchestrator and every
// other package stay free of it, so users opt in by importing the package.
func TestBuildKitOptIn(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}`, module+"/...").Output()
	require.NoError(t, err)
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == module+"/buildkit" || strings.HasPrefix(pkg, module+"/buildkit/") || strings.HasPrefix(pkg, module+"/examples/") {
			continue
		}
		for _, dep := range deps(t, pkg) {
			if dep == buildkitModule || strings.HasPrefix(dep, buildkitModule+"/") {
				t.Errorf("%s imports %s; only %s/buildkit may link BuildKit", pkg, dep, module)
				break
			}
		}
	}
}
