package rebuild_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
)

const containerfile = "FROM registry.example/base:1\nRUN true\n"

type gitFixture struct {
	repo                     *gittest.Repo
	first, second, onRelease string
}

func newGitFixture(t *testing.T) *gitFixture {
	t.Helper()
	f := &gitFixture{}
	f.repo = gittest.NewRepo(t, map[string]string{
		"Containerfile":            containerfile,
		"app/Dockerfile":           "FROM scratch\n",
		"app/hello.txt":            "v1\n",
		"images/web/Containerfile": "FROM registry.example/base:1\n",
	})
	f.first = f.repo.Head
	f.repo.Tag("v1.0", f.first)
	f.second = f.repo.Commit(map[string]string{"app/hello.txt": "v2\n"})
	f.onRelease = f.repo.Commit(map[string]string{"app/hello.txt": "release\n"})
	f.repo.Branch("release", f.onRelease)
	f.repo.Branch("main", f.second) // main stays at the second commit
	return f
}

// rsaPEM returns a PKCS#1 PEM RSA key and its public half.
func rsaPEM(t *testing.T) ([]byte, gossh.PublicKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := gossh.NewPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), pub
}

// encryptedOpenSSH returns an OpenSSH key encrypted with passphrase.
func encryptedOpenSSH(t *testing.T, passphrase string) ([]byte, gossh.PublicKey) {
	t.Helper()
	k := gittest.NewKey(t)
	raw, err := gossh.ParseRawPrivateKey(k.PrivatePEM)
	require.NoError(t, err)
	block, err := gossh.MarshalPrivateKeyWithPassphrase(raw, "", []byte(passphrase))
	require.NoError(t, err)
	return pem.EncodeToMemory(block), k.Public
}

func TestFetchSSH(t *testing.T) {
	f := newGitFixture(t)
	rsaKey, rsaPub := rsaPEM(t)
	encKey, encPub := encryptedOpenSSH(t, "correct horse")
	srv := gittest.StartSSH(t, f.repo.Dir, gittest.WithAuthorizedKey(rsaPub), gittest.WithAuthorizedKey(encPub))
	known := gittest.WriteFile(t, "known_hosts", srv.KnownHosts)
	other := gittest.NewKey(t) // a key the server does not know

	tests := []struct {
		name       string
		src        rebuild.GitSource
		wantCommit string
		wantFile   string // relative to the context dir
		wantErr    error
		wantMsg    string
	}{
		{
			name:       "openssh key, default branch",
			src:        rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHostsFile: known}},
			wantCommit: f.second, wantFile: "Containerfile",
		},
		{
			name:       "pem rsa key, branch, context dir",
			src:        rebuild.GitSource{Branch: "release", ContextDir: "app", Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(rsaKey), KnownHosts: srv.KnownHosts}},
			wantCommit: f.onRelease, wantFile: "Dockerfile",
		},
		{
			name:       "encrypted key with passphrase, tag",
			src:        rebuild.GitSource{Tag: "v1.0", Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(encKey), SSHKeyPassphrase: secret.New("correct horse"), KnownHostsFile: known}},
			wantCommit: f.first, wantFile: "Containerfile",
		},
		{
			name:       "commit, containerfile path",
			src:        rebuild.GitSource{Commit: f.first, ContextDir: "images/web", Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHostsFile: known}},
			wantCommit: f.first, wantFile: "Containerfile",
		},
		{
			name:       "insecure ignore host key",
			src:        rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), InsecureIgnoreHostKey: true}},
			wantCommit: f.second, wantFile: "Containerfile",
		},
		{
			name:    "wrong host key",
			src:     rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHosts: []byte(strings.Replace(string(srv.KnownHosts), strings.Fields(string(srv.KnownHosts))[2], strings.Fields(string(gossh.MarshalAuthorizedKey(other.Public)))[1], 1))}},
			wantErr: rebuild.ErrHostKeyMismatch,
		},
		{
			name:    "host missing from known_hosts",
			src:     rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHosts: []byte("[127.0.0.1]:1 " + string(gossh.MarshalAuthorizedKey(other.Public)))}},
			wantErr: rebuild.ErrHostKeyUnknown,
		},
		{
			name:    "wrong user key",
			src:     rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(other.PrivatePEM), KnownHostsFile: known}},
			wantErr: rebuild.ErrAuth, wantMsg: "unable to authenticate",
		},
		{
			name:    "encrypted key, wrong passphrase",
			src:     rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(encKey), SSHKeyPassphrase: secret.New("wrong"), KnownHostsFile: known}},
			wantErr: rebuild.ErrInvalidSource, wantMsg: "passphrase",
		},
		{
			name:    "encrypted key, no passphrase",
			src:     rebuild.GitSource{Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(encKey), KnownHostsFile: known}},
			wantErr: rebuild.ErrInvalidSource, wantMsg: "no passphrase",
		},
		{
			name:    "missing branch",
			src:     rebuild.GitSource{Branch: "nope", Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHostsFile: known}},
			wantErr: rebuild.ErrRevisionNotFound,
		},
		{
			name:    "missing commit",
			src:     rebuild.GitSource{Commit: strings.Repeat("ab", 20), Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHostsFile: known}},
			wantErr: rebuild.ErrRevisionNotFound,
		},
		{
			name:    "context dir escapes",
			src:     rebuild.GitSource{ContextDir: "../..", Auth: rebuild.GitAuth{SSHKey: secret.FromBytes(srv.ClientKey.PrivatePEM), KnownHostsFile: known}},
			wantErr: rebuild.ErrInvalidSource,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.URL = srv.URL
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			dir := t.TempDir()
			co, err := tc.src.Fetch(t.Context(), dir, rebuild.WithLogger(logger))
			secrets := []string{string(srv.ClientKey.PrivatePEM), string(rsaKey), string(encKey), string(other.PrivatePEM), "correct horse"}
			if err != nil {
				assertNoSecret(t, err.Error(), secrets...)
				assertNoSecret(t, fmt.Sprintf("%+v %#v", err, err), secrets...)
			}
			assertNoSecret(t, logs.String(), secrets...)
			if tc.src.Auth.InsecureIgnoreHostKey {
				assert.Contains(t, logs.String(), "DISABLED")
			}
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				var fe *rebuild.FetchError
				require.ErrorAs(t, err, &fe)
				if tc.wantMsg != "" {
					assert.Contains(t, err.Error(), tc.wantMsg)
				}
				t.Logf("error: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantCommit, co.Commit)
			assert.FileExists(t, co.Containerfile)
			assert.Equal(t, filepath.Join(co.ContextDir, tc.wantFile), co.Containerfile)
			assert.NoDirExists(t, filepath.Join(co.Dir, ".git"))
			if tc.src.Commit == "" {
				assert.FileExists(t, filepath.Join(dir, "git", "shallow"), "branches and tags are fetched shallow")
			}
			assertTreeHasNoSecret(t, co.Dir, secrets...)
			assertTreeHasNoSecret(t, dir, secrets...)
		})
	}
}

func TestFetchHTTPS(t *testing.T) {
	f := newGitFixture(t)
	srv := gittest.StartHTTP(t, f.repo.Dir, gittest.WithToken("tok-3141592653"))
	tests := []struct {
		name    string
		src     rebuild.GitSource
		want    string
		wantErr error
	}{
		{name: "token", src: rebuild.GitSource{Auth: rebuild.GitAuth{Token: secret.New("tok-3141592653"), CABundle: srv.CA}}, want: f.second},
		{name: "token, tag", src: rebuild.GitSource{Tag: "v1.0", Auth: rebuild.GitAuth{Token: secret.New("tok-3141592653"), CABundle: srv.CA}}, want: f.first},
		{name: "wrong token", src: rebuild.GitSource{Auth: rebuild.GitAuth{Token: secret.New("tok-wrong-2718"), CABundle: srv.CA}}, wantErr: rebuild.ErrAuth},
		{name: "no token", src: rebuild.GitSource{Auth: rebuild.GitAuth{CABundle: srv.CA}}, wantErr: rebuild.ErrAuth},
		{name: "untrusted certificate", src: rebuild.GitSource{Auth: rebuild.GitAuth{Token: secret.New("tok-3141592653")}}, wantErr: &rebuild.FetchError{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.URL = srv.URL
			var logs bytes.Buffer
			co, err := tc.src.Fetch(t.Context(), t.TempDir(), rebuild.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			assertNoSecret(t, logs.String(), "tok-3141592653", "tok-wrong-2718")
			if tc.wantErr != nil {
				require.Error(t, err)
				assertNoSecret(t, err.Error(), "tok-3141592653", "tok-wrong-2718")
				if fe, ok := tc.wantErr.(*rebuild.FetchError); ok {
					require.ErrorAs(t, err, &fe)
				} else {
					require.ErrorIs(t, err, tc.wantErr)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, co.Commit)
			assertTreeHasNoSecret(t, filepath.Dir(co.Dir), "tok-3141592653")
		})
	}
}

// A token passed as the user name of an https URL never reaches the
// checkout's URL (which is stamped on the image), the logs or an error.
func TestFetchHTTPSTokenInURL(t *testing.T) {
	f := newGitFixture(t)
	public := gittest.StartHTTP(t, f.repo.Dir)
	private := gittest.StartHTTP(t, f.repo.Dir, gittest.WithToken("tok-3141592653"))
	withUser := func(u, user string) string { return strings.Replace(u, "https://", "https://"+user+"@", 1) }

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src := rebuild.GitSource{URL: withUser(public.URL, "ghp_userTok3n42"), Auth: rebuild.GitAuth{CABundle: public.CA}}
	co, err := src.Fetch(t.Context(), t.TempDir(), rebuild.WithLogger(logger))
	require.NoError(t, err)
	assert.Equal(t, f.second, co.Commit)
	assertNoSecret(t, co.URL, "ghp_userTok3n42")
	assertNoSecret(t, fmt.Sprintf("%v", slog.AnyValue(src).Resolve()), "ghp_userTok3n42")
	assertNoSecret(t, logs.String(), "ghp_userTok3n42")

	for _, tc := range []struct {
		name    string
		src     rebuild.GitSource
		wantErr error
	}{
		{"refused", rebuild.GitSource{URL: withUser(private.URL, "ghp_userTok3n42"), Auth: rebuild.GitAuth{CABundle: private.CA}}, rebuild.ErrAuth},
		{"untrusted certificate", rebuild.GitSource{URL: withUser(private.URL, "ghp_userTok3n42")}, nil},
		{"unreachable", rebuild.GitSource{URL: "https://ghp_userTok3n42@127.0.0.1:1/r.git"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			_, err := tc.src.Fetch(t.Context(), t.TempDir(), rebuild.WithLogger(logger))
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			assertNoSecret(t, err.Error(), "ghp_userTok3n42")
			assertNoSecret(t, fmt.Sprintf("%+v %#v", err, err), "ghp_userTok3n42")
			assertNoSecret(t, logs.String(), "ghp_userTok3n42")
		})
	}
}

// A malformed known_hosts entry fails before connecting, naming where the
// bad line is.
func TestFetchKnownHostsParseError(t *testing.T) {
	key := gittest.NewKey(t)
	file := gittest.WriteFile(t, "known_hosts", []byte("# ok\n[127.0.0.1]:1 ssh-ed25519 not!base64\n"))
	for _, tc := range []struct {
		name string
		auth rebuild.GitAuth
		msg  string
	}{
		{"lines", rebuild.GitAuth{KnownHosts: []byte("# ok\n[127.0.0.1]:1 ssh-ed25519 not!base64\n")}, "GitAuth.KnownHosts line 2: illegal base64"},
		{"file", rebuild.GitAuth{KnownHostsFile: file}, file + ":2: illegal base64"},
		{"missing file", rebuild.GitAuth{KnownHostsFile: filepath.Join(t.TempDir(), "nope")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.auth.SSHKey = secret.FromBytes(key.PrivatePEM)
			src := rebuild.GitSource{URL: "ssh://git@127.0.0.1:1/r.git", Auth: tc.auth}
			_, err := src.Fetch(t.Context(), t.TempDir())
			require.ErrorIs(t, err, rebuild.ErrInvalidSource)
			assert.Contains(t, err.Error(), tc.msg)
			assert.NotContains(t, err.Error(), os.TempDir()+"/known_hosts-")
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:hunter2@h/r.git":    "https://xxxxx@h/r.git",
		"https://ghp_tok3n@h/r.git":    "https://xxxxx@h/r.git",
		"http://tok@h/r.git":           "http://xxxxx@h/r.git",
		"ssh://git@h:2222/r.git":       "ssh://git@h:2222/r.git",
		"ssh://git:pw@h/r.git":         "ssh://git:xxxxx@h/r.git",
		"git@github.com:org/r.git":     "git@github.com:org/r.git",
		"https://github.com/org/r.git": "https://github.com/org/r.git",
	} {
		assert.Equal(t, want, rebuild.RedactURL(in), in)
	}
}

func TestFetchValidation(t *testing.T) {
	tests := []struct {
		name string
		src  rebuild.GitSource
		msg  string
	}{
		{"empty url", rebuild.GitSource{}, "empty URL"},
		{"branch and tag", rebuild.GitSource{URL: "https://example.invalid/r.git", Branch: "a", Tag: "b"}, "both"},
		{"password in url", rebuild.GitSource{URL: "https://u:hunter2@example.invalid/r.git"}, "password"},
		{"token over http", rebuild.GitSource{URL: "http://example.invalid/r.git", Auth: rebuild.GitAuth{Token: secret.New("t0ken-xyz")}}, "plain http"},
		{"ssh without key", rebuild.GitSource{URL: "git@example.invalid:org/r.git"}, "SSHKey"},
		{"garbage key", rebuild.GitSource{URL: "ssh://git@example.invalid/r.git", Auth: rebuild.GitAuth{SSHKey: secret.New("-----BEGIN OPENSSH PRIVATE KEY-----\nnotakeyatall\n-----END OPENSSH PRIVATE KEY-----\n")}}, "not a PEM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.src.Fetch(t.Context(), t.TempDir())
			require.ErrorIs(t, err, rebuild.ErrInvalidSource)
			assert.Contains(t, err.Error(), tc.msg)
			assertNoSecret(t, err.Error(), "hunter2", "t0ken-xyz", "notakeyatall")
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := secret.New("-----BEGIN KEY-----\nsup3rs3cret\n")
	src := rebuild.GitSource{URL: "ssh://git@h/r.git", Auth: rebuild.GitAuth{SSHKey: s, Token: s, SSHKeyPassphrase: s}}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("x", "secret", s, "source", src, "auth", src.Auth)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s, "auth", src.Auth)
	for _, out := range []string{
		logs.String(), s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", src, src, src),
	} {
		assert.NotContains(t, out, "sup3rs3cret")
	}
	assert.Equal(t, "[REDACTED]", s.String())

	// Configuration files can carry secrets in, but never out.
	var cfg struct{ Token rebuild.Secret }
	require.NoError(t, json.Unmarshal([]byte(`{"Token":"sup3rs3cret"}`), &cfg))
	assert.Equal(t, "sup3rs3cret", cfg.Token.Reveal())
	out, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.JSONEq(t, `{"Token":"[REDACTED]"}`, string(out))
	assert.Equal(t, "[REDACTED]", rebuild.Secret{}.String())
	assert.Equal(t, "-----BEGIN KEY-----\nsup3rs3cret\n", s.Reveal())
}

func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for line := range strings.Lines(s) {
			line = strings.TrimSpace(line)
			if len(line) > 8 && !strings.HasPrefix(line, "-----") {
				require.NotContains(t, text, line, "secret material leaked")
			}
		}
	}
}

func assertTreeHasNoSecret(t *testing.T, root string, secrets ...string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		assertNoSecret(t, string(data), secrets...)
		return nil
	}))
}
