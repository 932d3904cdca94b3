package abs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sec "github.com/openabs/abs/secret"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/testutil"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []abs.Project
		want    []abs.Image
		notes   []string
		wantErr bool
	}{
		{
			name: "defaults and auto-rebuild turns on auto-publish",
			in: []abs.Project{{Name: "p", Owners: []string{"b@x", "a@x"}, Images: []abs.Image{
				{Repository: "reg/ns/app", AutoRebuild: true, Owners: []string{"a@x", "c@x"}, Tags: []string{"1", "latest"}},
			}}},
			want: []abs.Image{{Name: "reg/ns/app", Repository: "reg/ns/app", Tag: "latest", AutoRebuild: true, AutoPublish: true,
				Owners: []string{"a@x", "b@x", "c@x"}, Tags: []string{"latest", "1"}}},
			notes: []string{"image reg/ns/app: auto-rebuild turns on auto-publish"},
		},
		{
			name: "auto-publish alone stays alone",
			in:   []abs.Project{{Name: "p", Images: []abs.Image{{Name: "x", Repository: "reg/x", Tag: "1.0", AutoPublish: true}}}},
			want: []abs.Image{{Name: "x", Repository: "reg/x", Tag: "1.0", AutoPublish: true, Tags: []string{"1.0"}}},
		},
		{name: "no repository", in: []abs.Project{{Name: "p", Images: []abs.Image{{Name: "x"}}}}, wantErr: true},
		{name: "digest", in: []abs.Project{{Name: "p", Images: []abs.Image{{Repository: "reg/x@sha256:00"}}}}, wantErr: true},
		{name: "duplicate", in: []abs.Project{{Name: "p", Images: []abs.Image{{Repository: "reg/x"}, {Repository: "reg/x"}}}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, notes, err := abs.Normalize(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, abs.ErrConfig)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, len(tc.want))
			for i := range got {
				w := tc.want[i]
				assert.Equal(t, w.Name, got[i].Name)
				assert.Equal(t, w.Tag, got[i].Tag)
				assert.Equal(t, w.AutoRebuild, got[i].AutoRebuild)
				assert.Equal(t, w.AutoPublish, got[i].AutoPublish)
				assert.Equal(t, w.Owners, got[i].Owners)
				assert.Equal(t, w.Tags, got[i].Tags)
				assert.Equal(t, "p", got[i].Project())
			}
			assert.Equal(t, tc.notes, notes)
		})
	}
}

func ExampleNormalize() {
	images, notes, err := abs.Normalize([]abs.Project{{
		Name:   "payments",
		Owners: []string{"payments-team@example.com"},
		Images: []abs.Image{{Repository: "registry.example.com/payments/api", AutoRebuild: true, Tags: []string{"1.4"}}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(images[0].Ref(), images[0].Tags, images[0].AutoPublish)
	fmt.Println(notes[0])
	// Output:
	// registry.example.com/payments/api:latest [latest 1.4] true
	// image registry.example.com/payments/api: auto-rebuild turns on auto-publish
}

func TestPushHandler(t *testing.T) {
	e := newEnv(t)
	o, err := abs.New(t.Context(), e.sqlite("abs.db"), e.projects, e.options()...)
	require.NoError(t, err) // not started: a push only enqueues
	secret := sec.New("s3cret-push-key")
	h := o.Handler(secret)
	body := []byte(`{"advisory":"RHSA-2099:9001"}`)
	sig := sec.Sign(secret, body)
	for _, tc := range []struct {
		name   string
		method string
		header map[string]string
		body   []byte
		want   int
	}{
		{"bearer", http.MethodPost, map[string]string{"Authorization": "Bearer s3cret-push-key"}, body, http.StatusAccepted},
		{"hmac", http.MethodPost, map[string]string{abs.SignatureHeader: sig}, body, http.StatusAccepted},
		{"no credentials", http.MethodPost, nil, body, http.StatusUnauthorized},
		{"wrong bearer", http.MethodPost, map[string]string{"Authorization": "Bearer nope"}, body, http.StatusUnauthorized},
		{"hmac of another body", http.MethodPost, map[string]string{abs.SignatureHeader: sig}, []byte(`{"advisory":"RHSA-2099:9002"}`), http.StatusUnauthorized},
		{"bad hmac encoding", http.MethodPost, map[string]string{abs.SignatureHeader: "sha256=zz"}, body, http.StatusUnauthorized},
		{"GET", http.MethodGet, map[string]string{"Authorization": "Bearer s3cret-push-key"}, nil, http.StatusMethodNotAllowed},
		{"body over 64 KiB", http.MethodPost, map[string]string{"Authorization": "Bearer s3cret-push-key"},
			append(bytes.Clone(body), bytes.Repeat([]byte(" "), 64<<10)...), http.StatusRequestEntityTooLarge},
		{"bad body", http.MethodPost, map[string]string{"Authorization": "Bearer s3cret-push-key"}, []byte(`{"advisory":"x\ny"}`), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), tc.method, "/push", bytes.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.want == http.StatusAccepted {
				var resp abs.PushResponse
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
				rep, err := o.Report(t.Context(), resp.Cycle)
				require.NoError(t, err)
				assert.Equal(t, "RHSA-2099:9001", rep.Advisory)
				assert.Equal(t, abs.CycleQueued, rep.State)
			}
			assert.NotContains(t, rec.Body.String(), "s3cret")
		})
	}
	t.Run("empty secret refuses everything", func(t *testing.T) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/push", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer ")
		rec := httptest.NewRecorder()
		o.Handler(sec.Value{}).ServeHTTP(rec, req)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
	})
}

func TestSecretNeverPrints(t *testing.T) {
	s := sec.New("hunter2-very-secret")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s)
	j, err := json.Marshal(struct{ S sec.Value }{s})
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), logs.String(), string(j)} {
		assert.NotContains(t, out, "hunter2", out)
	}
	assert.Equal(t, "hunter2-very-secret", s.Reveal())
}

func TestSummary(t *testing.T) {
	rep := &abs.Report{
		Images: []abs.ImageReport{{Name: "a", Grade: healthindex.GradeC, Digest: "sha256:1"}, {Name: "b", Grade: healthindex.GradeA, Digest: "sha256:2"}},
		Rebuilds: []abs.RebuildReport{{Image: "a", State: abs.RebuildPublished, NewDigest: "sha256:3", AfterGrade: healthindex.GradeA,
			Advisories: []string{demo.OpenSSL.ID}}},
		Notifications: []abs.NotificationReport{{Owner: "o", State: abs.NotificationSent, Events: 1}},
	}
	got, err := json.Marshal(rep.Summary())
	require.NoError(t, err)
	want := `{"images":[{"name":"a","before_grade":"C","after_grade":"A","old_digest":"sha256:1","new_digest":"sha256:3","published":true,"advisories":["RHSA-2099:9001"],"state":"published"},` +
		`{"name":"b","before_grade":"A","after_grade":"A","old_digest":"sha256:2","new_digest":"sha256:2","published":false,"advisories":[]}],"notifications":1,"notifications_failed":0,"notifications_pending":0}`
	assert.JSONEq(t, want, string(got))
	assert.True(t, strings.HasPrefix(string(got), `{"images":[`))
}

// TestFeedCredentialsNeverPrint: a feed URL that carries credentials
// (https://user:password@host/) fails to sync; neither the password nor
// the user reaches a log line, a progress message or the cycle's error.
func TestFeedCredentialsNeverPrint(t *testing.T) {
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "mirror is down", http.StatusBadGateway)
	}))
	t.Cleanup(feed.Close)
	base := strings.Replace(feed.URL, "://", "://feeduser:s3cret-feed-pw@", 1) + "/csaf/"
	e := newEnv(t)
	var logs, progress testutil.SyncBuffer
	o := e.start(e.sqlite("abs.db"),
		abs.WithSources(advisory.NewCSAF(base, advisory.WithHTTPClient(feed.Client()), advisory.WithRetry(1, time.Millisecond, time.Millisecond))),
		abs.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		abs.WithProgress(func(p abs.Progress) { fmt.Fprintln(&progress, p.Message) }))
	id, err := o.StartCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	_, err = o.Wait(t.Context(), id)
	require.ErrorIs(t, err, abs.ErrCycleFailed)
	rep, _ := o.Report(t.Context(), id)
	require.NotNil(t, rep)
	assert.Contains(t, rep.Error, "abs: sync csaf:http://")
	for name, out := range map[string]string{"error": err.Error(), "report": rep.Error, "logs": logs.String(), "progress": progress.String()} {
		assert.NotContains(t, out, "s3cret-feed-pw", name)
		assert.NotContains(t, out, "feeduser", name)
	}
}
