package gittest

import (
	"crypto/subtle"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// HTTPServer is a git smart-HTTP server over TLS on 127.0.0.1.
type HTTPServer struct {
	// URL is the clone URL, https://127.0.0.1:PORT/repo.git.
	URL string
	// CA is the PEM certificate of the server; trust it as a CA bundle.
	CA []byte
	// Token is the password the server requires with HTTP basic auth,
	// or empty when it accepts anonymous clones.
	Token string
}

// HTTPOption configures StartHTTP.
type HTTPOption func(*HTTPServer)

// WithToken makes the server require HTTP basic auth whose password is
// token (any user name), as GitHub and GitLab accept access tokens.
func WithToken(token string) HTTPOption {
	return func(s *HTTPServer) { s.Token = token }
}

// StartHTTP serves repoDir (a bare repository) through git http-backend
// over HTTPS until the test ends.
func StartHTTP(t testing.TB, repoDir string, opts ...HTTPOption) *HTTPServer {
	t.Helper()
	gitBin := RequireGit(t)
	s := &HTTPServer{}
	for _, o := range opts {
		o(s)
	}
	name := filepath.Base(repoDir)
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(repoDir),
			"GIT_HTTP_EXPORT_ALL=1",
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Token != "" {
			_, pass, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(s.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // clients that refuse the certificate are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/" + name
	s.CA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return s
}
