package certify_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/rpmscan"
)

// testPkg is an installed package as a synthetic FileLister reports it.
type testPkg struct {
	name, version, vendor, arch string
	install                     int64
	files, docs                 []string
}

const rh = "Red Hat, Inc."

func bash(version string, install int64, arch string) testPkg {
	return testPkg{name: "bash", version: version, vendor: rh, arch: arch, install: install,
		files: []string{"/usr/bin/bash", "/usr/lib/bash.cache", "/usr/lib/.build-id/ab/cd"}, docs: []string{"/usr/share/doc/bash/FAQ"}}
}

// TestModifiedFilesRules checks HasModifiedFiles' rules on synthetic
// rpmdb states: states[i] is what the lister reports for the first i+1
// layers. (Real rpmdbs are read in TestEachCheckFailsAlone and
// TestModifiedFilesListers.)
func TestModifiedFilesRules(t *testing.T) {
	db := file{name: "var/lib/rpm/rpmdb.sqlite", body: []byte("db")}
	base := []file{db, reg("usr/bin/bash", "bash"), reg("usr/lib/bash.cache", "c"), reg("opt/acme/tool", "t")}
	acme := testPkg{name: "tool", version: "1", vendor: "Acme", arch: "x86_64", install: 1, files: []string{"/opt/acme/tool"}}
	tests := []struct {
		name   string
		top    []file
		states [][]testPkg // per rpmdb layer
		want   certify.Status
	}{
		{"changed outside rpm", []file{reg("usr/bin/bash", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Failed},
		{"deleted outside rpm", []file{reg("usr/bin/.wh.bash", "")}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Failed},
		{"reinstalled by rpm", []file{db, reg("usr/bin/bash", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}, {bash("5.1", 2, "x86_64")}}, certify.Passed},
		{"rpmdb rewritten, not reinstalled", []file{db, reg("usr/bin/bash", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}, {bash("5.1", 1, "x86_64")}}, certify.Failed},
		{"updated by rpm", []file{db, reg("usr/bin/bash", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}, {bash("5.2", 2, "x86_64")}}, certify.Passed},
		{"replaced by another arch", []file{db, reg("usr/bin/bash", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}, {bash("5.2", 2, "i686")}}, certify.Failed},
		{"removed by rpm", []file{db, reg("usr/bin/.wh.bash", "")}, [][]testPkg{{bash("5.1", 1, "x86_64")}, {}}, certify.Passed},
		{"another vendor's file", []file{reg("opt/acme/tool", "x")}, [][]testPkg{{acme}}, certify.Passed},
		{"doc file", []file{reg("usr/share/doc/bash/FAQ", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Passed},
		{"cache and build-id", []file{reg("usr/lib/bash.cache", "x"), reg("usr/lib/.build-id/ab/cd", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Passed},
		{"file capabilities", []file{{name: "usr/bin/bash", body: []byte("x"), pax: map[string]string{"SCHILY.xattr.security.capability": "\x01"}}}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Passed},
		{"setuid dropped", []file{{name: "usr/bin/bash", mode: 0o755}}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Passed},
		{"new file", []file{reg("usr/bin/zsh", "x")}, [][]testPkg{{bash("5.1", 1, "x86_64")}}, certify.Passed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			if tt.name == "setuid dropped" {
				b = []file{db, {name: "usr/bin/bash", mode: 0o4755, body: []byte("b")}}
			}
			img := imageOf(t, nil, layerOf(t, b...), layerOf(t, reg("opt/unrelated", "u")), layerOf(t, tt.top...))
			calls := 0
			lister := syntheticLister(func(layers int) []testPkg {
				calls++
				if layers == 1 {
					return tt.states[0]
				}
				return tt.states[1]
			})
			target, err := certify.NewTarget(img, certify.Subject{})
			require.NoError(t, err)
			r := certify.HasModifiedFiles{Files: lister}.Validate(t.Context(), target)
			assert.Equal(t, tt.want, r.Status, r.Reason)
			assert.Equal(t, len(tt.states), calls, "one listing per layer with an rpmdb")
		})
	}

	t.Run("lister fails", func(t *testing.T) {
		img := imageOf(t, nil, layerOf(t, base...))
		target, err := certify.NewTarget(img, certify.Subject{})
		require.NoError(t, err)
		boom := errors.New("boom")
		r := certify.HasModifiedFiles{Files: failingLister{boom}}.Validate(t.Context(), target)
		assert.Equal(t, certify.Error, r.Status)
		assert.ErrorIs(t, r.Err, boom)
	})
	t.Run("scanner without files", func(t *testing.T) {
		img := imageOf(t, nil, baseLayer(t, fixtureRPMDB(t)))
		target, err := certify.NewTarget(img, certify.Subject{})
		require.NoError(t, err)
		r := certify.HasModifiedFiles{Files: certify.ScannerFiles{Scanner: rpmscan.New()}}.Validate(t.Context(), target)
		assert.Equal(t, certify.Error, r.Status)
		assert.Contains(t, r.Reason, "rpmscan.WithFiles")
	})
	t.Run("no rpmdb", func(t *testing.T) {
		img := imageOf(t, nil, layerOf(t, reg("usr/bin/bash", "x")), layerOf(t, reg("usr/bin/bash", "y")))
		target, err := certify.NewTarget(img, certify.Subject{})
		require.NoError(t, err)
		r := certify.HasModifiedFiles{Files: failingLister{errors.New("not called")}}.Validate(t.Context(), target)
		assert.Equal(t, certify.Passed, r.Status, r.Reason)
	})
}
