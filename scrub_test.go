package abs_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	sec "github.com/openabs/abs/secret"
)

type keychainFunc func(authn.Resource) (authn.Authenticator, error)

func (f keychainFunc) Resolve(r authn.Resource) (authn.Authenticator, error) { return f(r) }

// TestScrubberKeepsEchoedSecretsOut: the registry refuses the publisher's
// push and echoes its login (the Authorization header and the password)
// in its error (as a 400: a 401 or 403 is a publish.CredentialError,
// whose message never quotes the registry). With WithScrubber, neither the password nor its Basic base64
// reaches the log, the progress lines, the report, River's job errors or
// the rest of the state database, or the owner's mail; the error itself
// is still told, with the secret replaced.
func TestScrubberKeepsEchoedSecretsOut(t *testing.T) {
	const user, password = "robot", "publish-S3cret-echoed"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	echo := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, p, ok := r.BasicAuth(); ok && r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				msg := fmt.Sprintf("login %q refused (password %q)", r.Header.Get("Authorization"), p)
				_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": msg}}})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := regtest.InProcess(t, regtest.WithMiddleware(echo))
	fleet, err := demo.Seed(t.Context(), reg.Host)
	require.NoError(t, err)
	require.NoError(t, demo.UpdateBase(t.Context(), fleet))
	advDir := filepath.Join(t.TempDir(), "advisories")
	require.NoError(t, demo.WriteAdvisories(advDir, time.Now(), demo.Advisories...))
	smtp := smtptest.Start(t)
	mail, err := notify.NewEmail(notify.EmailConfig{Host: smtp.Host, Port: smtp.Port, TLS: notify.NoTLS, From: "abs@example.invalid"})
	require.NoError(t, err)
	project := abs.Project{Name: "demo", Owners: []string{demo.Owner}}
	for _, a := range fleet.Apps[:1] {
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, AutoRebuild: true})
	}
	dbPath := filepath.Join(t.TempDir(), "abs.db")
	db, err := abs.OpenSQLite(t.Context(), dbPath)
	require.NoError(t, err)
	defer db.Close()

	scrub := sec.NewScrubber()
	scrub.AddBasic(user, password)
	var logs bytes.Buffer
	var progress bytes.Buffer
	login := keychainFunc(func(authn.Resource) (authn.Authenticator, error) {
		return &authn.Basic{Username: user, Password: password}, nil
	})
	o, err := abs.New(t.Context(), db, []abs.Project{project},
		abs.WithSources(advisory.NewDir(advDir)),
		abs.WithPublisher(publish.NewRegistry(publish.WithKeychain(login), publish.WithPlainHTTP())),
		abs.WithNotifier(mail),
		abs.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		abs.WithProgress(func(p abs.Progress) { fmt.Fprintln(&progress, p.Message) }),
		abs.WithRetry(10*time.Millisecond, 50*time.Millisecond),
		abs.WithWorkDir(t.TempDir()),
		abs.WithScrubber(scrub))
	require.NoError(t, err)
	require.NoError(t, o.Start(t.Context()))
	defer func() { _ = o.Stop(t.Context()) }()
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, r.State)
	assert.Contains(t, r.Detail, `refused (password "[REDACTED]")`, "the error is told, the secret replaced")
	msgs := smtp.Messages()
	require.Len(t, msgs, 1)
	state, err := os.ReadFile(dbPath)
	require.NoError(t, err)
	wal, _ := os.ReadFile(dbPath + "-wal")
	repJSON, err := json.Marshal(rep)
	require.NoError(t, err)
	require.Contains(t, logs.String(), "[REDACTED]", "the echo reached the logger, scrubbed")
	for name, out := range map[string]string{"log": logs.String(), "progress": progress.String(), "report": string(repJSON),
		"mail": string(msgs[0].Data), "state": string(state) + string(wal)} {
		assert.NotContains(t, out, password, name)
		assert.NotContains(t, out, basic, name)
	}
}
