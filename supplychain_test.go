package abs_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// cosignBinary finds the cosign CLI: $ABS_COSIGN, cosign on $PATH, then
// $GOPATH/bin. The test is skipped without one.
func cosignBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ABS_COSIGN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("$ABS_COSIGN=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "cosign")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("cosign not installed (.ci/run installs it)")
	return ""
}

// cosign runs the real CLI offline: no transparency log, plain HTTP to
// the loopback registry, its home in dir.
func cosign(ctx context.Context, bin, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "COSIGN_YES=true", "SIGSTORE_NO_CACHE=true", "TUF_ROOT="+filepath.Join(dir, "tuf"))
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// newEnvOn is newEnv on a given registry host (Debian's docker-registry).
func newEnvOn(t *testing.T, host string, advs ...demo.Advisory) *env {
	t.Helper()
	e := &env{t: t, tagPuts: map[string]int{}, now: time.Now().UTC()}
	var err error
	e.fleet, err = demo.Seed(t.Context(), host)
	require.NoError(t, err)
	e.advDir = filepath.Join(t.TempDir(), "advisories")
	require.NoError(t, demo.WriteAdvisories(e.advDir, e.now, advs...))
	e.smtp = smtptest.Start(t, smtptest.WithTLS(smtptest.NoTLS))
	project := abs.Project{Name: "demo", Owners: []string{demo.Owner}}
	for _, a := range e.fleet.Apps {
		project.Images = append(project.Images, abs.Image{Name: a.Name, Repository: a.Repository, Tag: a.Tag,
			AutoRebuild: true, Tags: []string{"latest"}})
	}
	e.projects = []abs.Project{project}
	return e
}

func tagDigest(t *testing.T, ref string) string {
	t.Helper()
	r, err := gcrname.ParseReference(ref)
	require.NoError(t, err)
	d, err := remote.Head(r, remote.WithContext(t.Context()))
	require.NoError(t, err)
	return d.Digest.String()
}

// attestedStatement decodes the in-toto statement of the first envelope
// `cosign verify-attestation` printed.
func attestedStatement(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var env struct {
			Payload string `json:"payload"`
		}
		if json.Unmarshal([]byte(line), &env) != nil || env.Payload == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(env.Payload)
		require.NoError(t, err)
		var st map[string]any
		require.NoError(t, json.Unmarshal(raw, &st))
		return st
	}
	t.Fatalf("no attestation in cosign's output:\n%s", out)
	return nil
}

// TestPublishedRebuildIsSignedAndAttested is the end-to-end supply-chain
// test: with certification and a signer configured, a rebuild published
// to Debian's docker-registry is verified by the real cosign CLI (its
// signature, its SPDX and CycloneDX SBOMs and its SLSA provenance, read
// back from the registry), and cosign refuses the same signatures on a
// tampered digest.
func TestPublishedRebuildIsSignedAndAttested(t *testing.T) {
	bin := cosignBinary(t)
	reg := regtest.Distribution(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const password = "correct horse battery staple"
	out, err := cosign(ctx, bin, dir, []string{"COSIGN_PASSWORD=" + password}, "generate-key-pair")
	require.NoError(t, err, out)
	key, err := sign.LoadKeyFile(filepath.Join(dir, "cosign.key"), secret.New(password))
	require.NoError(t, err)
	pub := filepath.Join(dir, "cosign.pub")

	e := newEnvOn(t, reg.Host, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(ctx, e.fleet))
	o := e.start(e.sqlite("abs.db"),
		abs.WithCertification(nil, nil),
		abs.WithSigner(sign.New(key, sign.WithPlainHTTP(), sign.WithLogger(logger(t))),
			abs.WithSBOM(abs.SBOMSPDX, abs.SBOMCycloneDX)))
	began := time.Now()
	rep, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	t.Logf("cycle with certification, signing and attestation of 2 rebuilds: %v", time.Since(began))
	sum := byName(rep)
	app := e.fleet.Apps[0]
	s := sum[app.Name]
	require.True(t, s.Published, "%+v", s)
	assert.Equal(t, s.NewDigest, tagDigest(t, app.Repository+":latest"), "the tag moved to the signed digest")
	ref := app.Repository + "@" + s.NewDigest

	verify := func(ref string) (string, error) {
		return cosign(ctx, bin, dir, nil, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry=true", ref)
	}
	verifyAtt := func(typ, ref string) (string, error) {
		return cosign(ctx, bin, dir, nil, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true",
			"--allow-http-registry=true", "--type", typ, ref)
	}
	out, err = verify(ref)
	require.NoError(t, err, out)
	assert.Contains(t, out, s.NewDigest)
	for _, typ := range []string{"spdxjson", "cyclonedx"} {
		out, err = verifyAtt(typ, ref)
		require.NoError(t, err, "%s: %s", typ, out)
		st := attestedStatement(t, out)
		assert.Contains(t, mustJSON(t, st["predicate"]), "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9", typ)
	}
	out, err = verifyAtt("slsaprovenance1", ref)
	require.NoError(t, err, out)
	prov := mustJSON(t, attestedStatement(t, out))
	assert.Contains(t, prov, `"predicateType":"https://slsa.dev/provenance/v1"`)
	assert.Contains(t, prov, strings.TrimPrefix(e.fleet.NewBase, "sha256:"), "the base digest the rebuild used")
	assert.Contains(t, prov, demo.OpenSSL.ID, "the advisories fixed")
	assert.Contains(t, prov, "https://openabs.dev/builders/rebase")
	assert.Contains(t, prov, `"grade":"A"`)
	assert.Contains(t, prov, `"previousGrade":"C"`)

	// The image the rebuild replaced was never signed.
	out, err = verify(app.Repository + "@" + app.Digest)
	require.Error(t, err, "the old digest verified: %s", out)

	// Tampered digest: another image carrying the published image's
	// signature and attestations fails verification.
	pd, err := gcrname.NewDigest(ref)
	require.NoError(t, err)
	pubImg, err := remote.Image(pd, remote.WithContext(ctx))
	require.NoError(t, err)
	tampered := mutate.Annotations(pubImg, map[string]string{"tampered": "yes"}).(v1.Image)
	td, err := tampered.Digest()
	require.NoError(t, err)
	require.NoError(t, remote.Write(pd.Context().Digest(td.String()), tampered, remote.WithContext(ctx)))
	for _, suffix := range []string{".sig", ".att"} {
		src := pd.Context().Tag("sha256-" + strings.TrimPrefix(s.NewDigest, "sha256:") + suffix)
		img, err := remote.Image(src, remote.WithContext(ctx))
		require.NoError(t, err)
		require.NoError(t, remote.Write(pd.Context().Tag("sha256-"+td.Hex+suffix), img, remote.WithContext(ctx)))
	}
	tref := app.Repository + "@" + td.String()
	out, err = verify(tref)
	require.Error(t, err, "tampered digest verified: %s", out)
	for _, typ := range []string{"spdxjson", "slsaprovenance1"} {
		out, err = verifyAtt(typ, tref)
		require.Error(t, err, "tampered digest attested as %s: %s", typ, out)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// kernelRPMDB returns the updated base's rpmdb with a kernel-core
// package installed as well, written by the real rpm tools. The test is
// skipped without rpm and rpmbuild.
func kernelRPMDB(t *testing.T) []byte {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	db, err := demo.NewRPMDB()
	require.NoError(t, err)
	work := t.TempDir()
	root := filepath.Join(work, "root")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), db, 0o644))
	spec := filepath.Join(work, "kernel-core.spec")
	require.NoError(t, os.WriteFile(spec, []byte(`%global debug_package %{nil}
Name: kernel-core
Version: 5.14.0
Release: 427.13.1.el9_4
Summary: test stand-in for the kernel
License: GPLv2
Vendor: Red Hat, Inc.
%description
Test stand-in.
%files
`), 0o644))
	top := filepath.Join(work, "top")
	out, err := exec.Command("rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_build_id_links none",
		"--target", "x86_64", spec).CombinedOutput()
	require.NoError(t, err, string(out))
	rpm := filepath.Join(top, "RPMS/x86_64/kernel-core-5.14.0-427.13.1.el9_4.x86_64.rpm")
	out, err = exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--justdb", "--noscripts",
		"--ignorearch", "--ignoreos", rpm).CombinedOutput()
	require.NoError(t, err, string(out))
	b, err := os.ReadFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"))
	require.NoError(t, err)
	return b
}

// pushKernelBase pushes, as the base's vendor, an update of the base
// that fixes openssl but also installs a kernel package.
func pushKernelBase(t *testing.T, e *env) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, demo.UpdateBase(ctx, e.fleet))
	ref, err := gcrname.ParseReference(e.fleet.BaseRef)
	require.NoError(t, err)
	base, err := remote.Image(ref, remote.WithContext(ctx))
	require.NoError(t, err)
	l, err := testutil.Layer(testutil.Entry{Name: "var/lib/rpm/rpmdb.sqlite", Body: kernelRPMDB(t), Mode: 0o644})
	require.NoError(t, err)
	img, err := mutate.AppendLayers(base, l)
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img, remote.WithContext(ctx)))
	d, err := img.Digest()
	require.NoError(t, err)
	e.fleet.NewBase = d.String()
}

// TestCertificationBlocksRebuild: the base's update fixes the advisory
// (the rebuild would grade A) but installs a kernel, so the rebuild breaks
// HasNoProhibitedPackages, which the current image passes. Nothing is
// published, no tag moves, and the report and the owner's mail name the
// check. Without the gate the same rebuild is published.
func TestCertificationBlocksRebuild(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	pushKernelBase(t, e)
	o := e.start(e.sqlite("abs.db"), abs.WithCertification(nil, nil))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 2)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildFailed, r.State, r.Image)
		assert.True(t, strings.HasPrefix(r.Detail, "verify: "), r.Detail)
		assert.Contains(t, r.Detail, certify.NameHasNoProhibitedPackages, r.Image)
		assert.Contains(t, r.Detail, "kernel-core", r.Image)
		assert.NotContains(t, r.Detail, certify.NameHasLicense, "a check the current image fails does not block")
	}
	for _, s := range rep.Summary().Images {
		assert.False(t, s.Published, s.Name)
		assert.Contains(t, s.Error, certify.NameHasNoProhibitedPackages, s.Name)
	}
	assert.Empty(t, e.tagPushes(), "no tag moved")
	for _, a := range e.fleet.Apps {
		assert.Equal(t, a.Digest, tagDigest(t, a.Repository+":latest"), a.Name)
	}
	msgs := e.smtp.Messages()
	require.Len(t, msgs, 1)
	_, text, err := demo.Mail{From: msgs[0].From, To: msgs[0].To, Data: msgs[0].Data}.Text()
	require.NoError(t, err)
	assert.Contains(t, text, "verify")
	assert.Contains(t, text, certify.NameHasNoProhibitedPackages)
	assert.Contains(t, text, "kernel-core")

	// The same rebuild without the gate is published: the gate is what
	// stopped it.
	e2 := newEnv(t, demo.Advisories...)
	pushKernelBase(t, e2)
	o2 := e2.start(e2.sqlite("abs.db"))
	rep2, err := o2.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	for _, s := range rep2.Summary().Images {
		assert.True(t, s.Published, "%s: %s", s.Name, s.Error)
	}
}

// requireLabel is a user's own check: the image must carry a label.
type requireLabel string

func (l requireLabel) Name() string        { return "HasLabel_" + string(l) }
func (l requireLabel) Description() string { return "the image carries label " + string(l) }
func (l requireLabel) Validate(_ context.Context, t *certify.Target) certify.Result {
	labels, err := t.Labels()
	if err != nil {
		return certify.Result{Check: l.Name(), Status: certify.Error, Reason: err.Error(), Err: err}
	}
	if labels[string(l)] == "" {
		return certify.Result{Check: l.Name(), Status: certify.Failed, Reason: "label " + string(l) + " is missing"}
	}
	return certify.Result{Check: l.Name(), Status: certify.Passed, Reason: "label " + string(l) + " is set"}
}

// TestCertificationUserCheck: a check of the user's, with RequireAllChecks
// (a first certification), blocks a rebuild that lacks what it requires,
// and names itself; the container policy's own failures are named too.
func TestCertificationUserCheck(t *testing.T) {
	e := newEnv(t, demo.Advisories...)
	require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
	p, err := certify.New(certify.ScratchNonRoot)
	require.NoError(t, err)
	o := e.start(e.sqlite("abs.db"), abs.WithCertification(p, []certify.Check{requireLabel("io.example.team")}, abs.RequireAllChecks()))
	rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Rebuilds, 2)
	for _, r := range rep.Rebuilds {
		assert.Equal(t, abs.RebuildFailed, r.State)
		assert.Contains(t, r.Detail, "HasLabel_io.example.team")
		assert.Contains(t, r.Detail, certify.NameHasRequiredLabel, "a first certification requires every check")
		assert.NotContains(t, r.Detail, certify.NameHasNoProhibitedPackages, "not in the scratch policy")
	}
	assert.Empty(t, e.tagPushes())
}

// flakyTransport fails the first fail requests that write to the
// registry (every one when fail < 0), before they are sent.
type flakyTransport struct {
	mu    sync.Mutex
	fail  int
	tried int
}

func (f *flakyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut || req.Method == http.MethodPost || req.Method == http.MethodPatch {
		f.mu.Lock()
		f.tried++
		fail := f.fail < 0 || f.tried <= f.fail
		f.mu.Unlock()
		if fail {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, errors.New("registry unavailable (injected)")
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestSigningFailureMovesNoTag: the publish step signs before it moves a
// tag. A signing failure is retried; one that lasts fails the rebuild at
// stage "sign", tells the owner, and leaves every tag on the image
// customers have now. A signing failure that clears on retry publishes a
// signed image.
func TestSigningFailureMovesNoTag(t *testing.T) {
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key, err := sign.NewKey(pk)
	require.NoError(t, err)

	t.Run("lasting", func(t *testing.T) {
		e := newEnv(t, demo.Advisories...)
		require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
		tr := &flakyTransport{fail: -1}
		o := e.start(e.sqlite("abs.db"), abs.WithSigner(sign.New(key, sign.WithPlainHTTP(), sign.WithTransport(tr))))
		rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
		require.NoError(t, err)
		require.Len(t, rep.Rebuilds, 2)
		for _, r := range rep.Rebuilds {
			assert.Equal(t, abs.RebuildFailed, r.State, r.Image)
			assert.True(t, strings.HasPrefix(r.Detail, "sign: "), r.Detail)
			assert.Contains(t, r.Detail, "injected")
		}
		assert.Empty(t, e.tagPushes(), "no tag moved to an unsigned digest")
		for _, a := range e.fleet.Apps {
			assert.Equal(t, a.Digest, tagDigest(t, a.Repository+":latest"), a.Name)
		}
		msgs := e.smtp.Messages()
		require.Len(t, msgs, 1)
		_, text, err := demo.Mail{From: msgs[0].From, To: msgs[0].To, Data: msgs[0].Data}.Text()
		require.NoError(t, err)
		assert.Contains(t, text, "sign")
		assert.Contains(t, text, "injected")
	})

	t.Run("transient", func(t *testing.T) {
		e := newEnv(t, demo.Advisories...)
		require.NoError(t, demo.UpdateBase(t.Context(), e.fleet))
		tr := &flakyTransport{fail: 2}
		var mu sync.Mutex
		var retried int
		o := e.start(e.sqlite("abs.db"), abs.WithSigner(sign.New(key, sign.WithPlainHTTP(), sign.WithTransport(tr))),
			abs.WithProgress(func(p abs.Progress) {
				if p.Stage == "sign" && strings.Contains(p.Message, "will retry") {
					mu.Lock()
					retried++
					mu.Unlock()
				}
			}))
		rep, err := o.RunCycle(t.Context(), abs.CycleOptions{})
		require.NoError(t, err)
		mu.Lock()
		assert.Positive(t, retried, "the failed signing is recorded and retried")
		mu.Unlock()
		for _, s := range rep.Summary().Images {
			require.True(t, s.Published, "%s: %s", s.Name, s.Error)
			repo := e.reg.Repo(s.Name)
			assert.Equal(t, s.NewDigest, tagDigest(t, repo+":latest"))
			// cosign's signature and attestation tags of the published digest.
			hex := strings.TrimPrefix(s.NewDigest, "sha256:")
			tagDigest(t, repo+":sha256-"+hex+".sig")
			tagDigest(t, repo+":sha256-"+hex+".att")
		}
	})
}

// TestSupplyChainOptionErrors: unusable settings fail New with ErrConfig.
func TestSupplyChainOptionErrors(t *testing.T) {
	e := newEnv(t)
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key, err := sign.NewKey(pk)
	require.NoError(t, err)
	for name, opt := range map[string]abs.Option{
		"nil signer":     abs.WithSigner(nil),
		"unknown format": abs.WithSigner(sign.New(key), abs.WithSBOM("syft")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := abs.New(t.Context(), e.sqlite("abs.db"), e.projects, e.options(opt)...)
			require.ErrorIs(t, err, abs.ErrConfig)
		})
	}
}
