package partnerapitest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/secret"
)

// Server is a Fake served over loopback HTTP.
type Server struct {
	*Fake
	// HTTP is the underlying test server.
	HTTP *httptest.Server
	// URL is the API root to pass to partnerapi.WithBaseURL; it ends with
	// BasePath.
	URL string
}

// Start serves a new Fake on a loopback port until the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	f := New(opts...)
	ts := httptest.NewServer(f)
	tb.Cleanup(ts.Close)
	return &Server{Fake: f, HTTP: ts, URL: ts.URL + BasePath}
}

// Client returns a partnerapi.Client for the server, with the server's key
// and short retry and poll intervals; opts are applied after those.
func (s *Server) Client(tb testing.TB, opts ...partnerapi.Option) *partnerapi.Client {
	tb.Helper()
	base := []partnerapi.Option{
		partnerapi.WithBaseURL(s.URL),
		partnerapi.WithHTTPClient(s.HTTP.Client()),
		partnerapi.WithRetry(4, time.Millisecond, 10*time.Millisecond),
		partnerapi.WithPollInterval(time.Millisecond, 10*time.Millisecond),
	}
	c, err := partnerapi.New(secret.New(s.key), append(base, opts...)...)
	if err != nil {
		tb.Fatalf("partnerapitest: %v", err)
	}
	return c
}
