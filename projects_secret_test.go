package abs_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/store/storetest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

// logBuffer is an io.Writer safe for the concurrent writes of a logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLog logs at debug level to the test output and to the returned
// buffer.
func captureLog(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// encryptedKey returns key re-encrypted with passphrase.
func encryptedKey(t *testing.T, key []byte, passphrase string) []byte {
	raw, err := gossh.ParseRawPrivateKey(key)
	require.NoError(t, err)
	block, err := gossh.MarshalPrivateKeyWithPassphrase(raw, "", []byte(passphrase))
	require.NoError(t, err)
	return pem.EncodeToMemory(block)
}

// secretForms are the forms of a secret that must appear nowhere: the
// whole value, its base64, and each long line of it (a PEM body line).
func secretForms(values ...string) []string {
	var out []string
	for _, v := range values {
		out = append(out, v, base64.StdEncoding.EncodeToString([]byte(v)))
		for line := range strings.Lines(v) {
			if line = strings.TrimSpace(line); len(line) > 16 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}

func assertNoSecret(t *testing.T, where, text string, forms []string) {
	t.Helper()
	for _, f := range forms {
		if strings.Contains(text, f) {
			t.Errorf("%s holds a secret in clear (%d bytes of it)", where, len(f))
		}
	}
}

// sqliteText returns every row of every table of a SQLite file as text.
func sqliteText(t *testing.T, path string) map[string]string {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Close())
	out := map[string]string{}
	for _, tbl := range tables {
		rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+tbl+`"`)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		var b strings.Builder
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v\t", v)
			}
			b.WriteString("\n")
		}
		require.NoError(t, rows.Close())
		out[tbl] = b.String()
	}
	return out
}

// postgresText returns every row of every table of a PostgreSQL
// database's public schema as text.
func postgresText(t *testing.T, dsn string) map[string]string {
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tbl := range tables {
		rows, err := conn.Query(t.Context(), `SELECT CAST(t AS TEXT) FROM "`+tbl+`" t`)
		require.NoError(t, err)
		var b strings.Builder
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			b.WriteString(s + "\n")
		}
		rows.Close()
		out[tbl] = b.String()
	}
	return out
}

// returnedText renders what the Go API hands back, every way a caller
// could print or encode it.
func returnedText(t *testing.T, o *abs.Orchestrator, v ...any) string {
	ps, err := o.Projects(t.Context())
	require.NoError(t, err)
	v = append(v, ps, o.Images())
	var b strings.Builder
	for _, x := range v {
		j, err := json.Marshal(x)
		require.NoError(t, err)
		fmt.Fprintf(&b, "%+v\n%#v\n%s\n", x, x, j)
	}
	return b.String()
}

// TestSSHKeyRebuildWithoutRestart: a project created at runtime, its
// source served over SSH on loopback; the first cycle fails for want of
// a key, SetSSHKey stores one (passphrase-protected), and the next cycle
// of the same running orchestrator clones with it, trusting the host key
// on first use, builds with buildah and publishes. The key and its
// passphrase appear in no state row, log line or returned value.
func TestSSHKeyRebuildWithoutRestart(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
	e, p := runtimeEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	app := e.fleet.Apps[0]
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + e.fleet.BaseRef + "\nLABEL name=" + app.Name + " version=1.0\nCOPY app.txt /app/app.txt\n",
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	const pass = "correct horse battery staple"
	key := encryptedKey(t, srv.ClientKey.PrivatePEM, pass)
	forms := secretForms(string(key), string(srv.ClientKey.PrivatePEM), pass)

	path := filepath.Join(t.TempDir(), "abs.db")
	db, err := abs.OpenSQLite(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	log, logs := captureLog(t)
	o := e.start(db, abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}),
		abs.WithSecretKey(newKey(t)), abs.WithLogger(log))
	ctx := abs.WithActor(t.Context(), "portal")

	img := p.Images[0]
	img.SourceSpec = &abs.SourceSpec{URL: srv.URL, Branch: "main", TrustOnFirstUse: true}
	p.Images = []abs.Image{img}
	_, _, err = o.CreateProject(ctx, p)
	require.NoError(t, err)

	first, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, first.Rebuilds, 1)
	assert.Equal(t, abs.RebuildFailed, first.Rebuilds[0].State, "no key yet")

	cred, err := o.SetSSHKey(ctx, img.Name, secret.FromBytes(key), secret.New(pass))
	require.NoError(t, err)
	assert.Equal(t, abs.CredentialSSHKey, cred.Kind)
	assert.Equal(t, gossh.FingerprintSHA256(srv.ClientKey.Public), cred.Fingerprint)

	rep, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.Equal(t, abs.MethodBuild, r.Method)
	assert.Equal(t, map[string]int{"app:1.0-2": 1, "app:latest": 1}, e.tagPushes())

	entries, _, err := o.Audit(ctx, 1, 10)
	require.NoError(t, err)
	var actions []string
	for _, a := range entries {
		actions = append(actions, a.Actor+" "+a.Action)
	}
	assert.Contains(t, actions, "trust-on-first-use record-host-key")
	assert.Contains(t, actions, "portal set-ssh-key")

	got, err := o.GetImage(ctx, img.Name)
	require.NoError(t, err)
	require.NotNil(t, got.Credential)
	assert.Equal(t, cred.Fingerprint, got.Credential.Fingerprint)

	tables := sqliteText(t, path)
	require.NotEmpty(t, tables["abs_secret"], "the key is stored (encrypted)")
	assert.Contains(t, tables["abs_host_key"], strings.TrimSpace(strings.SplitN(string(srv.KnownHosts), " ", 2)[1]), "the host key seen first is recorded")
	for tbl, text := range tables {
		assertNoSecret(t, "table "+tbl, text, forms)
	}
	assertNoSecret(t, "the log", logs.String(), forms)
	assertNoSecret(t, "returned values", returnedText(t, o, cred, got, rep, first, entries), forms)
	assert.Contains(t, logs.String(), "rebuild: fetched source", "the log did capture the build")
}

// TestCredentialsAndAccess: SetSSHKey validates the key (typed errors that
// never quote it), TestAccess lists the remote with the stored key under
// the host key rules (unknown, trust on first use, mismatch, refused
// key), rotation re-encrypts, and the secrets stay out of every table
// and log line, on SQLite and PostgreSQL.
func TestCredentialsAndAccess(t *testing.T) {
	for name := range databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SSH_KNOWN_HOSTS", gittest.WriteFile(t, "empty_known_hosts", nil))
			e, p := runtimeEnv(t)
			repo := gittest.NewRepo(t, map[string]string{"Containerfile": "FROM scratch\n"})
			srv := gittest.StartSSH(t, repo.Dir)
			const pass = "open sesame, please"
			key := encryptedKey(t, srv.ClientKey.PrivatePEM, pass)
			forms := secretForms(string(key), string(srv.ClientKey.PrivatePEM), pass, "ghp_0123456789abcdefTOKEN", "ghp_wrong-token-value")

			var open func() *abs.Database
			var tables func() map[string]string
			if name == "sqlite" {
				path := filepath.Join(t.TempDir(), "abs.db")
				db, err := abs.OpenSQLite(t.Context(), path)
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				open = func() *abs.Database { return db }
				tables = func() map[string]string { return sqliteText(t, path) }
			} else {
				dsn := storetest.PostgresDSN(t)
				open = func() *abs.Database {
					db, err := abs.OpenPostgres(t.Context(), dsn)
					require.NoError(t, err)
					t.Cleanup(func() { _ = db.Close() })
					return db
				}
				tables = func() map[string]string { return postgresText(t, dsn) }
			}
			log, logs := captureLog(t)
			oldKey := newKey(t)
			newO := func(k abs.SecretKey) *abs.Orchestrator {
				opts := e.options(abs.WithLogger(log))
				if !k.IsZero() {
					opts = append(opts, abs.WithSecretKey(k))
				}
				o, err := abs.New(t.Context(), open(), nil, opts...)
				require.NoError(t, err)
				return o
			}
			o := newO(oldKey)
			ctx := t.Context()
			img := p.Images[0]
			img.SourceSpec = &abs.SourceSpec{URL: srv.URL}
			p.Images = []abs.Image{img}
			_, _, err := o.CreateProject(ctx, p)
			require.NoError(t, err)

			_, err = newO(abs.SecretKey{}).SetSSHKey(ctx, img.Name, secret.FromBytes(key), secret.New(pass))
			require.ErrorIs(t, err, abs.ErrNoSecretKey)
			for _, tc := range []struct {
				key, pass string
				want      error
			}{
				{"not a key at all, but long enough to be mistaken for one", "", secret.ErrSSHKeyInvalid},
				{string(key), "", secret.ErrSSHKeyPassphrase},
				{string(key), "wrong passphrase", secret.ErrSSHKeyPassphrase},
			} {
				_, err := o.SetSSHKey(ctx, img.Name, secret.New(tc.key), secret.New(tc.pass))
				require.ErrorIs(t, err, tc.want)
				require.ErrorIs(t, err, abs.ErrConfig)
				assertNoSecret(t, "an error", err.Error(), forms)
			}
			_, err = o.SetSSHKey(ctx, "no/such/image", secret.FromBytes(key), secret.New(pass))
			require.ErrorIs(t, err, abs.ErrNotFound)

			before, err := o.GetImage(ctx, img.Name)
			require.NoError(t, err)
			cred, err := o.SetSSHKey(ctx, img.Name, secret.FromBytes(key), secret.New(pass))
			require.NoError(t, err)
			assert.Equal(t, gossh.FingerprintSHA256(srv.ClientKey.Public), cred.Fingerprint)
			after, err := o.GetImage(ctx, img.Name)
			require.NoError(t, err)
			assert.Equal(t, before.Version+1, after.Version, "a new credential is a new version")
			assert.Equal(t, &cred, after.Credential)

			// No known_hosts line and no trust on first use: refused.
			err = o.TestAccess(ctx, img.Name)
			require.ErrorIs(t, err, rebuild.ErrHostKeyUnknown)
			// Trust on first use, asked for: recorded, then enforced.
			spec := *img.SourceSpec
			spec.TrustOnFirstUse = true
			_, _, err = o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &spec})
			require.NoError(t, err)
			require.NoError(t, o.TestAccess(ctx, img.Name))
			require.NoError(t, o.TestAccess(ctx, img.Name))
			assert.Contains(t, tables()["abs_host_key"], img.Name)
			// The second replica (a fresh process) sees the recorded key.
			require.NoError(t, newO(oldKey).TestAccess(ctx, img.Name))

			// known_hosts that names another key for the host: mismatch.
			other := gittest.StartSSH(t, repo.Dir)
			line := strings.Replace(string(other.KnownHosts), hostPort(other.URL), hostPort(srv.URL), 1)
			_, _, err = o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: srv.URL, KnownHosts: line}})
			require.NoError(t, err)
			require.ErrorIs(t, o.TestAccess(ctx, img.Name), rebuild.ErrHostKeyMismatch)
			_, _, err = o.UpdateImage(ctx, img.Name, abs.ImageUpdate{Source: &abs.SourceSpec{URL: srv.URL, KnownHosts: string(srv.KnownHosts)}})
			require.NoError(t, err)
			require.NoError(t, o.TestAccess(ctx, img.Name))

			// A key the server does not accept.
			stranger := gittest.NewKey(t)
			_, err = o.SetSSHKey(ctx, img.Name, secret.FromBytes(stranger.PrivatePEM), secret.Value{})
			require.NoError(t, err)
			require.ErrorIs(t, o.TestAccess(ctx, img.Name), rebuild.ErrAuth)
			_, err = o.SetSSHKey(ctx, img.Name, secret.FromBytes(key), secret.New(pass))
			require.NoError(t, err)

			// A token on the second image.
			https := gittest.StartHTTP(t, repo.Dir, gittest.WithToken("ghp_0123456789abcdefTOKEN"))
			_, _, err = o.CreateImage(ctx, p.ID, abs.Image{Name: "demo/other", Repository: e.fleet.Apps[1].Repository,
				SourceSpec: &abs.SourceSpec{URL: https.URL, CABundle: string(https.CA)}})
			require.NoError(t, err)
			require.ErrorIs(t, o.TestAccess(ctx, "demo/other"), rebuild.ErrAuth, "no token yet")
			_, err = o.SetToken(ctx, "demo/other", secret.New("ghp_wrong-token-value"))
			require.NoError(t, err)
			require.ErrorIs(t, o.TestAccess(ctx, "demo/other"), rebuild.ErrAuth, "a wrong token")
			tok, err := o.SetToken(ctx, "demo/other", secret.New("ghp_0123456789abcdefTOKEN"))
			require.NoError(t, err)
			require.NoError(t, o.TestAccess(ctx, "demo/other"), "the stored token over HTTPS")
			assert.Equal(t, abs.CredentialToken, tok.Kind)
			assert.Equal(t, secret.TokenFingerprint(secret.New("ghp_0123456789abcdefTOKEN")), tok.Fingerprint)
			_, err = o.SetToken(ctx, "demo/other", secret.New("two words"))
			require.ErrorIs(t, err, abs.ErrConfig)

			// Rotation: a new identity first, the old one after it.
			rotated := newKey(t)
			n, err := newO(rotated.With(oldKey)).RotateSecrets(ctx)
			require.NoError(t, err)
			assert.Equal(t, 2, n)
			n, err = newO(rotated.With(oldKey)).RotateSecrets(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "nothing left to re-encrypt")
			require.NoError(t, newO(rotated).TestAccess(ctx, img.Name), "the new identity alone decrypts")
			require.ErrorIs(t, newO(oldKey).TestAccess(ctx, img.Name), secret.ErrDecrypt, "the old one no longer does")
			require.NoError(t, newO(rotated).TestAccess(ctx, "demo/other"))

			for tbl, text := range tables() {
				assertNoSecret(t, "table "+tbl, text, forms)
			}
			entries, _, err := o.Audit(ctx, 1, 100)
			require.NoError(t, err)
			assertNoSecret(t, "the log", logs.String(), forms)
			assertNoSecret(t, "returned values", returnedText(t, o, cred, tok, entries), forms)
		})
	}
}

// hostPort returns the "[host]:port" known_hosts form of an ssh:// URL's
// address.
func hostPort(url string) string {
	addr := strings.TrimPrefix(url, "ssh://git@")
	addr = addr[:strings.IndexByte(addr, '/')]
	i := strings.LastIndexByte(addr, ':')
	return "[" + addr[:i] + "]" + addr[i:]
}
