package abs_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/secret"
)

// FuzzPushHandler: whatever an authenticated caller sends, the push
// handler answers 202 or 400, never fails or panics.
func FuzzPushHandler(f *testing.F) {
	for _, seed := range []string{`{"advisory":"RHSA-2024:0010"}`, `{"advisory":""}`, `{}`, `[]`, `{"advisory":"RHSA-2024:0010\r\nX: y"}`, "\x00"} {
		f.Add([]byte(seed))
	}
	db, err := abs.OpenSQLite(f.Context(), filepath.Join(f.TempDir(), "abs.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	o, err := abs.New(f.Context(), db, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := o.Handler(secret.New("k"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/push", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
