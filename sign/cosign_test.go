package sign_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/provenance"
	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/sbom"
	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// CosignEnv names the variable that overrides the cosign binary the
// end-to-end tests run (default: cosign on $PATH, then $GOPATH/bin).
const CosignEnv = "ABS_COSIGN"

func cosignBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(CosignEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("$%s=%s: %v", CosignEnv, p, err)
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
	t.Skip("cosign not installed (.ci/run installs it with go install github.com/sigstore/cosign/v2/cmd/cosign)")
	return ""
}

type cosignCLI struct {
	t   *testing.T
	bin string
	dir string
}

// run runs cosign with the flags a key-based, offline verification
// needs: no transparency log (nothing was uploaded to Rekor), plain HTTP
// to the loopback registry.
func (c *cosignCLI) run(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "COSIGN_YES=true", "SIGSTORE_NO_CACHE=true", "TUF_ROOT="+filepath.Join(c.dir, "tuf"))
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cosignCLI) verify(ctx context.Context, pub, ref string, extra ...string) (string, error) {
	args := append([]string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry=true", "--output", "json"}, extra...)
	return c.run(ctx, nil, append(args, ref)...)
}

func (c *cosignCLI) verifyAttestation(ctx context.Context, pub, typ, ref string) (string, error) {
	return c.run(ctx, nil, "verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry=true",
		"--type", typ, ref)
}

// supplyChain builds the SBOM and provenance statements of the image ref
// with this repository's packages, as the orchestrator does.
func supplyChain(t *testing.T, ref string) (spdxStmt, provStmt []byte) {
	t.Helper()
	d, err := name.NewDigest(ref)
	require.NoError(t, err)
	repo := d.Context().Name()
	inv := &rpmscan.Inventory{
		OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"},
		Packages: []rpmscan.Package{
			{Name: "openssl-libs", Epoch: 1, Version: "3.0.7", Release: "27.el9", Arch: "x86_64", Vendor: "Red Hat, Inc."},
			{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64", Vendor: "Red Hat, Inc."},
		},
	}
	base := sbom.Image{Repository: "registry.access.redhat.com/ubi9/ubi", Digest: "sha256:" + strings.Repeat("1", 64), Tag: "9.4"}
	doc, err := sbom.New(inv, sbom.Image{Repository: repo, Digest: d.DigestStr(), Tag: "1.2.3-5"}, sbom.WithBase(base))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, doc.WriteSPDX(&buf))
	spdxStmt, err = sign.Statement(ref, sbom.PredicateSPDX, buf.Bytes())
	require.NoError(t, err)

	st, err := provenance.New(provenance.Build{
		Subject:    provenance.Image{Repository: repo, Digest: d.DigestStr()},
		Source:     &provenance.Source{URL: "https://git.example.com/team/app.git", Commit: "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
		Base:       &provenance.Image{Repository: base.Repository, Digest: base.Digest, Tag: base.Tag},
		BuilderID:  "https://openabs.dev/builders/buildah",
		BuildArgs:  map[string]string{"RELEASE": "5"},
		Advisories: []string{"RHSA-2026:1000"},
		Rescan:     &provenance.Rescan{Grade: "A", PreviousGrade: "C", Fixed: []string{"RHSA-2026:1000"}},
	})
	require.NoError(t, err)
	provStmt, err = provenance.Marshal(st)
	require.NoError(t, err)
	return spdxStmt, provStmt
}

// TestCosignVerifies is the end-to-end check: a key made by the real
// cosign CLI signs and attests an image in a real registry on loopback,
// cosign verifies the signature and both attestations, and refuses them
// on a tampered digest; skopeo still pulls the signed image.
func TestCosignVerifies(t *testing.T) {
	bin := cosignBinary(t)
	registries := map[string]func(testing.TB, ...regtest.Option) *regtest.Registry{
		"go-containerregistry": regtest.InProcess,
	}
	if regtest.Binary() != "" {
		registries["distribution"] = regtest.Distribution
	}
	for regName, start := range registries {
		t.Run(regName, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			reg := start(t)
			dir := t.TempDir()
			c := &cosignCLI{t: t, bin: bin, dir: dir}

			// A key pair in cosign's own encrypted format.
			const password = "correct horse battery staple"
			out, err := c.run(ctx, []string{"COSIGN_PASSWORD=" + password}, "generate-key-pair")
			require.NoError(t, err, out)
			key, err := sign.LoadKeyFile(filepath.Join(dir, "cosign.key"), secret.New(password))
			require.NoError(t, err)
			pub := filepath.Join(dir, "cosign.pub")

			ref := pushImage(t, reg.Repo("team/app"), "release 5")
			spdxStmt, provStmt := supplyChain(t, ref)
			s := sign.New(key, sign.WithLogger(logger(t)))
			began := time.Now()
			sigArt, err := s.Sign(ctx, ref)
			require.NoError(t, err)
			attArt, err := s.Attest(ctx, ref, spdxStmt, provStmt)
			require.NoError(t, err)
			t.Logf("sign + attest (SPDX, SLSA) on %s: %v", regName, time.Since(began))

			out, err = c.verify(ctx, pub, ref)
			require.NoError(t, err, out)
			d, _ := name.NewDigest(ref)
			assert.Contains(t, out, d.DigestStr())
			for _, typ := range []string{"spdxjson", "slsaprovenance1"} {
				out, err = c.verifyAttestation(ctx, pub, typ, ref)
				require.NoError(t, err, "%s: %s", typ, out)
			}
			out, err = c.verifyAttestation(ctx, pub, "cyclonedx", ref)
			require.Error(t, err, "no CycloneDX attestation was made: %s", out)

			// Another key is refused.
			other := filepath.Join(dir, "other")
			require.NoError(t, os.Mkdir(other, 0o700))
			oc := &cosignCLI{t: t, bin: bin, dir: other}
			out, err = oc.run(ctx, []string{"COSIGN_PASSWORD="}, "generate-key-pair")
			require.NoError(t, err, out)
			out, err = c.verify(ctx, filepath.Join(other, "cosign.pub"), ref)
			require.Error(t, err, "verified with the wrong key: %s", out)

			// Tampered digest: another image carrying this image's
			// signature and attestations fails all three checks.
			tampered := pushImage(t, reg.Repo("team/app"), "release 5, modified")
			td, _ := name.NewDigest(tampered)
			for _, a := range []*sign.Artifact{sigArt, attArt} {
				src, err := name.ParseReference(a.Tag)
				require.NoError(t, err)
				img, err := remote.Image(src)
				require.NoError(t, err)
				suffix := a.Tag[strings.LastIndex(a.Tag, "."):]
				require.NoError(t, remote.Write(td.Context().Tag("sha256-"+td.DigestStr()[7:]+suffix), img))
			}
			out, err = c.verify(ctx, pub, tampered)
			require.Error(t, err, "tampered digest verified: %s", out)
			t.Logf("cosign verify of the tampered digest: %s", lastLine(out))
			for _, typ := range []string{"spdxjson", "slsaprovenance1"} {
				out, err = c.verifyAttestation(ctx, pub, typ, tampered)
				require.Error(t, err, "tampered digest attested as %s: %s", typ, out)
				t.Logf("cosign verify-attestation --type %s of the tampered digest: %s", typ, lastLine(out))
			}

			// The signed image still pulls with a containers/image client.
			if _, err := exec.LookPath("skopeo"); err == nil {
				sk := exec.CommandContext(ctx, "skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+ref)
				b, err := sk.CombinedOutput()
				require.NoError(t, err, string(b))
				assert.Equal(t, d.DigestStr(), strings.TrimSpace(string(b)))
				sk = exec.CommandContext(ctx, "skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "dir:"+filepath.Join(dir, "pulled"))
				b, err = sk.CombinedOutput()
				require.NoError(t, err, string(b))
			}
		})
	}
}

// A plain PEM key from Go, verified with the PEM public key Key writes;
// and signatures stored only as referrers, found by cosign's OCI 1.1 mode.
func TestCosignPlainKeyAndReferrers(t *testing.T) {
	bin := cosignBinary(t)
	ctx := t.Context()
	reg := regtest.InProcess(t)
	dir := t.TempDir()
	c := &cosignCLI{t: t, bin: bin, dir: dir}

	key, _ := newKey(t)
	pem, err := key.PublicKeyPEM()
	require.NoError(t, err)
	pub := filepath.Join(dir, "pub.pem")
	require.NoError(t, os.WriteFile(pub, pem, 0o644))

	ref := pushImage(t, reg.Repo("team/app"), "v1")
	_, err = sign.New(key, sign.WithStorage(sign.StorageReferrers), sign.WithAnnotations(map[string]string{"release": "5"})).Sign(ctx, ref)
	require.NoError(t, err)

	out, err := c.verify(ctx, pub, ref)
	require.Error(t, err, "without the tag, cosign's default lookup finds nothing: %s", out)
	t.Logf("cosign verify without --experimental-oci11: %s", lastLine(out))
	out, err = c.verify(ctx, pub, ref, "--experimental-oci11=true", "-a", "release=5")
	require.NoError(t, err, out)
	out, err = c.verify(ctx, pub, ref, "--experimental-oci11=true", "-a", "release=6")
	require.Error(t, err, "annotation mismatch accepted: %s", out)
	t.Logf("cosign verify -a release=6: %s", lastLine(out))

	// The CycloneDX option, attested and verified as cosign's "cyclonedx".
	d, _ := name.NewDigest(ref)
	doc, err := sbom.New(&rpmscan.Inventory{Packages: []rpmscan.Package{{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64"}}},
		sbom.Image{Repository: d.Context().Name(), Digest: d.DigestStr()})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, doc.WriteCycloneDX(&buf))
	st, err := sign.Statement(ref, sbom.PredicateCycloneDX, buf.Bytes())
	require.NoError(t, err)
	_, err = sign.New(key).Attest(ctx, ref, st)
	require.NoError(t, err)
	out, err = c.verifyAttestation(ctx, pub, "cyclonedx", ref)
	require.NoError(t, err, out)
	assert.Contains(t, out, "verified against the specified public key")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
