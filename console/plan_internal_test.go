package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/secret"
)

// slowPlan is a service whose dry run waits until released.
type slowPlan struct {
	fakeService
	started  chan time.Time // the deadline of the dry run's context
	released chan struct{}
}

func (s *slowPlan) Plan(ctx context.Context, _ abs.CycleOptions) (*abs.Report, error) {
	d, _ := ctx.Deadline()
	s.started <- d
	<-s.released
	return &abs.Report{Cycle: "plan-1", DryRun: true, State: abs.CycleDryRun}, nil
}

// TestDryRunOneAtATime: the console runs one dry run at a time, each
// with a deadline, as the API's GET /plan does; a second one asked for
// meanwhile is refused with a message, not queued.
func TestDryRunOneAtATime(t *testing.T) {
	svc := &slowPlan{fakeService: fakeService{img: abs.Image{Name: "app", Repository: "r.example/app", Tag: "latest", Version: 3}},
		started: make(chan time.Time, 1), released: make(chan struct{})}
	tokens, err := api.NewTokens(api.Token{Name: "ed", Role: api.Editor, Value: secret.New("editor-editor-editor-editor-editor")})
	require.NoError(t, err)
	c := newConsole(svc, tokens)
	id := c.sess.create(api.Principal{Name: "ed", Role: api.Editor})
	sess, _ := c.sess.get(id)
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/plan/app", strings.NewReader("csrf="+sess.csrf))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: cookieName, Value: id})
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post() }()
	deadline := <-svc.started
	assert.WithinDuration(t, time.Now().Add(DefaultPlanTimeout), deadline, 10*time.Second, "the dry run has a deadline")

	w := post() // while the first runs
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	s, _ := c.sess.get(id)
	require.NotEmpty(t, s.flash)
	assert.Contains(t, s.flash[len(s.flash)-1].Text, "Another dry run is running")
	select {
	case <-svc.started:
		t.Fatal("a second dry run started")
	default:
	}
	close(svc.released)
	assert.Equal(t, http.StatusSeeOther, (<-done).Code)
}
