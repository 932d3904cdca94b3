package advisory

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// realData returns the folder of real public Red Hat data named by
// ABS_REALDATA, or skips the test.
func realData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ABS_REALDATA")
	if dir == "" {
		t.Skip("ABS_REALDATA is not set")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("ABS_REALDATA: %v", err)
	}
	return dir
}

func TestRealDocumentsParse(t *testing.T) {
	dir := realData(t)
	files, err := filepath.Glob(filepath.Join(dir, "csaf", "*", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			doc, err := ParseCSAF(data)
			require.NoError(t, err)
			require.NotEmpty(t, doc.ID())
			if doc.Advisory != nil {
				require.NotEmpty(t, doc.Advisory.Fixes)
				require.NotZero(t, doc.Advisory.Severity)
				require.False(t, doc.Advisory.Issued.IsZero())
				for _, fx := range doc.Advisory.Fixes {
					require.NotEmpty(t, fx.Name)
					require.NotEmpty(t, fx.Version)
					require.NotEmpty(t, fx.Release)
					require.NotEmpty(t, fx.Arch)
					require.NotEmpty(t, fx.CPE, "%+v", fx)
				}
			} else {
				require.NotEmpty(t, doc.VEX.Fixed)
			}
		})
	}
}
