package abs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
	"github.com/openabs/abs/internal/gittest"
	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/internal/smtptest"
	"github.com/openabs/abs/internal/testutil"
	"github.com/openabs/abs/notify"
	"github.com/openabs/abs/publish"
	"github.com/openabs/abs/rebuild"
	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// fourPlatforms are the platforms of a typical certified image.
var fourPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
}

const multiOSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
`

// multiEnv is a four-platform base index and an application index built
// on it in Debian's docker-registry, an advisory feed and an SMTP server.
type multiEnv struct {
	t                  *testing.T
	reg                *regtest.Registry
	advDir             string
	smtp               *smtptest.Server
	now                time.Time
	baseRef, appRepo   string
	oldRPMDB, newRPMDB []byte
	base               map[string]v1.Image // by architecture
	appDigest          string              // the application index
	appChild           map[string]string   // its platform images' digests
}

// multiBase is the base image for platform p with the rpmdb and release.
func multiBase(t *testing.T, p v1.Platform, rpmdb []byte, release string) v1.Image {
	t.Helper()
	l, err := testutil.Layer(testutil.Dir("etc"), testutil.File("etc/os-release", []byte(multiOSRelease)),
		testutil.File("etc/redhat-release", []byte("Red Hat Enterprise Linux release 9.4 (Plow)\n")),
		testutil.File("etc/platform", []byte(p.Architecture+" "+release+"\n")),
		testutil.Dir("var/lib/rpm"), testutil.File("var/lib/rpm/rpmdb.sqlite", rpmdb))
	require.NoError(t, err)
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON),
		mutate.Addendum{Layer: l, MediaType: types.OCILayer})
	require.NoError(t, err)
	return configured(t, img, p, map[string]string{"name": "demo/ubi9", "version": "9.4", "release": release})
}

func configured(t *testing.T, img v1.Image, p v1.Platform, labels map[string]string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config.Labels = labels
	out, err := mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return out
}

// indexOf puts one image per platform into an OCI index with an
// annotation on the index and on each descriptor.
func indexOf(t *testing.T, imgs map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range fourPlatforms {
		p := p
		if imgs[p.Architecture] == nil {
			continue // a platform the index lacks
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: imgs[p.Architecture], Descriptor: v1.Descriptor{
			Platform: &p, Annotations: map[string]string{"io.example.arch": p.Architecture}}})
	}
	return mutate.Annotations(idx, map[string]string{"org.opencontainers.image.title": "multi"}).(v1.ImageIndex)
}

func pushIndex(t *testing.T, ref string, idx v1.ImageIndex) string {
	t.Helper()
	r, err := gcrname.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(r, idx, remote.WithContext(t.Context())))
	d, err := idx.Digest()
	require.NoError(t, err)
	return d.String()
}

func headDigest(t *testing.T, ref string) string {
	t.Helper()
	r, err := gcrname.ParseReference(ref)
	require.NoError(t, err)
	d, err := remote.Head(r, remote.WithContext(t.Context()))
	require.NoError(t, err)
	return d.Digest.String()
}

// newMultiEnv pushes the base index (amd64 and ppc64le already carry the
// fixed openssl, arm64 and s390x the vulnerable one) and the application
// index built on it, as latest and 1.0-1.
func newMultiEnv(t *testing.T) *multiEnv {
	t.Helper()
	e := &multiEnv{t: t, reg: regtest.Distribution(t), now: time.Now().UTC(), base: map[string]v1.Image{}, appChild: map[string]string{}}
	var err error
	e.oldRPMDB, err = demo.OldRPMDB()
	require.NoError(t, err)
	e.newRPMDB, err = demo.NewRPMDB()
	require.NoError(t, err)
	e.baseRef, e.appRepo = e.reg.Repo("demo/ubi9")+":9.4", e.reg.Repo("demo/app")
	for _, p := range fourPlatforms {
		rpmdb := e.newRPMDB
		if p.Architecture == "arm64" || p.Architecture == "s390x" {
			rpmdb = e.oldRPMDB
		}
		e.base[p.Architecture] = multiBase(t, p, rpmdb, "1")
	}
	baseDigest := pushIndex(t, e.baseRef, indexOf(t, e.base))
	apps := map[string]v1.Image{}
	for _, p := range fourPlatforms {
		l, err := testutil.Layer(testutil.Dir("app"), testutil.File("app/bin", []byte("app for "+p.Architecture+"\n")))
		require.NoError(t, err)
		img, err := mutate.Append(e.base[p.Architecture], mutate.Addendum{Layer: l, MediaType: types.OCILayer})
		require.NoError(t, err)
		img = configured(t, img, p, map[string]string{"name": "demo/app", "version": "1.0", "release": "1"})
		img = mutate.Annotations(img, map[string]string{"org.opencontainers.image.base.name": e.baseRef,
			"org.opencontainers.image.base.digest": baseDigest}).(v1.Image)
		apps[p.Architecture] = img
		d, err := img.Digest()
		require.NoError(t, err)
		e.appChild[p.Architecture] = d.String()
	}
	idx := indexOf(t, apps)
	e.appDigest = pushIndex(t, e.appRepo+":latest", idx)
	pushIndex(t, e.appRepo+":1.0-1", idx)
	e.advDir = filepath.Join(t.TempDir(), "advisories")
	require.NoError(t, demo.WriteAdvisories(e.advDir, e.now))
	e.smtp = smtptest.Start(t, smtptest.WithTLS(smtptest.NoTLS))
	return e
}

// moveBase pushes a new base index: every platform image rebuilt (a new
// release), with the fixed openssl except on the architectures in stale.
func (e *multiEnv) moveBase(stale ...string) {
	imgs := map[string]v1.Image{}
	for _, p := range fourPlatforms {
		rpmdb := e.newRPMDB
		for _, s := range stale {
			if s == p.Architecture {
				rpmdb = e.oldRPMDB
			}
		}
		imgs[p.Architecture] = multiBase(e.t, p, rpmdb, "2")
	}
	pushIndex(e.t, e.baseRef, indexOf(e.t, imgs))
}

// moveBaseWithout pushes a new base index (every platform fixed and
// rebuilt) that lacks the architectures in missing.
func (e *multiEnv) moveBaseWithout(missing ...string) {
	imgs := map[string]v1.Image{}
	for _, p := range fourPlatforms {
		imgs[p.Architecture] = multiBase(e.t, p, e.newRPMDB, "2")
	}
	for _, m := range missing {
		delete(imgs, m)
	}
	pushIndex(e.t, e.baseRef, indexOf(e.t, imgs))
}

func (e *multiEnv) start(src *rebuild.GitSource, extra ...abs.Option) *abs.Orchestrator {
	t := e.t
	db, err := abs.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "abs.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	mail, err := notify.NewEmail(notify.EmailConfig{Host: e.smtp.Host, Port: e.smtp.Port, TLS: notify.NoTLS,
		From: "openabs <abs@example.invalid>"})
	require.NoError(t, err)
	projects := []abs.Project{{Name: "demo", Owners: []string{demo.Owner}, Images: []abs.Image{{Name: "demo/app",
		Repository: e.appRepo, Tag: "latest", AutoRebuild: true, Tags: []string{"latest"}, Source: src}}}}
	opts := []abs.Option{
		abs.WithSources(advisory.NewDir(e.advDir)),
		abs.WithPublisher(publish.NewRegistry(publish.WithAnonymous(), publish.WithPlainHTTP())),
		abs.WithNotifier(mail), abs.WithClock(func() time.Time { return e.now }), abs.WithLogger(logger(t)),
		abs.WithRetry(20*time.Millisecond, 200*time.Millisecond), abs.WithWorkDir(t.TempDir())}
	o, err := abs.New(t.Context(), db, projects, append(opts, extra...)...)
	require.NoError(t, err)
	require.NoError(t, o.Start(t.Context()))
	t.Cleanup(func() { _ = o.Stop(context.WithoutCancel(t.Context())) })
	return o
}

// firstCycle runs a cycle before the advisory: every platform grades A.
func (e *multiEnv) firstCycle(o *abs.Orchestrator) {
	t := e.t
	first, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, first.Images, 1)
	im := first.Images[0]
	require.Empty(t, im.Error)
	assert.Equal(t, e.appDigest, im.Digest, "the index digest, not a platform's")
	assert.Equal(t, healthindex.GradeA, im.Grade)
	require.Len(t, im.Platforms, 4, "one inventory and grade per platform")
	for i, p := range im.Platforms {
		assert.Equal(t, "linux/"+fourPlatforms[i].Architecture, p.Platform)
		assert.Equal(t, e.appChild[fourPlatforms[i].Architecture], p.Digest)
		assert.Equal(t, healthindex.GradeA, p.Grade)
	}
	assert.Empty(t, first.Plan)
	st, err := o.ImageStatus(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.Equal(t, e.appDigest, st.Digest, "the index digest")
	assert.Equal(t, "A", st.Grade)
	require.Len(t, st.Platforms, 4, "one status per platform")
	for _, p := range st.Platforms {
		assert.Equal(t, "A", p.Grade, p.Platform)
		assert.NotEmpty(t, p.Digest, p.Platform)
	}
}

// advisoryArrives publishes the openssl advisory and triggers a cycle; it
// checks the plan: one rebase of the index, graded C for the two
// vulnerable platforms.
func (e *multiEnv) advisoryArrives(o *abs.Orchestrator, method abs.Method) *abs.Report {
	t := e.t
	require.NoError(t, demo.WriteAdvisories(e.advDir, e.now, demo.OpenSSL))
	id, err := o.Trigger(t.Context(), demo.OpenSSL.ID)
	require.NoError(t, err)
	rep := wait(t, o, id)
	assert.Equal(t, []string{"demo/app"}, rep.Affected[demo.OpenSSL.ID])
	require.Len(t, rep.Images, 1)
	im := rep.Images[0]
	assert.Equal(t, healthindex.GradeC, im.Grade, "the worst platform's grade")
	want := map[string]healthindex.Grade{"linux/amd64": healthindex.GradeA, "linux/arm64": healthindex.GradeC,
		"linux/ppc64le": healthindex.GradeA, "linux/s390x": healthindex.GradeC}
	require.Len(t, im.Platforms, 4)
	for _, p := range im.Platforms {
		assert.Equal(t, want[p.Platform], p.Grade, p.Platform)
		assert.Equal(t, want[p.Platform] != healthindex.GradeA, len(p.Findings) > 0, p.Platform)
	}
	require.Len(t, rep.Plan, 1)
	st := rep.Plan[0]
	assert.Equal(t, method, st.Method)
	assert.Equal(t, healthindex.GradeC, st.BeforeGrade)
	require.Len(t, st.Platforms, 4)
	for _, p := range st.Platforms {
		assert.Equal(t, want[p.Platform], p.Grade, p.Platform)
	}
	return rep
}

// mailText is the text of the messages, quoted-printable soft breaks
// removed.
func mailText(s *smtptest.Server) string {
	var b strings.Builder
	for _, m := range s.Messages() {
		b.WriteString(strings.ReplaceAll(string(m.Data), "=\r\n", ""))
	}
	return b.String()
}

// TestMultiPlatformRebase: a four-platform application index on a
// four-platform base index, in Debian's docker-registry. A new advisory
// affects two platforms; the base vendor has rebuilt every platform; the
// pipeline rebases all four, verifies each, and publishes one new index
// (platforms, annotations and media types kept) whose four platform
// images grade A and which skopeo copies with --all.
func TestMultiPlatformRebase(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed (apt-get install skopeo)")
	}
	e := newMultiEnv(t)
	signer := newIndexSigner(t)
	o := e.start(nil, signer.opt)
	e.firstCycle(o)

	e.moveBase()
	rep := e.advisoryArrives(o, abs.MethodRebase)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.Equal(t, healthindex.GradeA, r.AfterGrade)
	assert.ElementsMatch(t, []string{"1.0-2", "latest"}, r.Tags)
	require.Len(t, r.Platforms, 4, "each platform's grade after the rebuild")
	newChild := map[string]string{}
	for _, p := range r.Platforms {
		assert.Equal(t, healthindex.GradeA, p.Grade, p.Platform)
		newChild[p.Platform] = p.Digest
	}
	sum := byName(rep)["demo/app"]
	assert.True(t, sum.Published)
	assert.Equal(t, e.appDigest, sum.OldDigest)
	assert.Equal(t, r.NewDigest, sum.NewDigest)
	require.Len(t, sum.Platforms, 4)
	for _, p := range sum.Platforms {
		assert.Equal(t, healthindex.GradeA, p.AfterGrade, p.Platform)
		assert.NotEqual(t, p.OldDigest, p.NewDigest, "%s rebased: every base image moved", p.Platform)
	}

	// One new index under both tags, an index still: four platforms,
	// in order, with the descriptors' and the index's annotations.
	assert.Equal(t, r.NewDigest, headDigest(t, e.appRepo+":latest"))
	assert.Equal(t, r.NewDigest, headDigest(t, e.appRepo+":1.0-2"))
	assert.Equal(t, e.appDigest, headDigest(t, e.appRepo+":1.0-1"), "the old version tag stays")
	ref, err := gcrname.ParseReference(e.appRepo + ":latest")
	require.NoError(t, err)
	idx, err := remote.Index(ref, remote.WithContext(t.Context()))
	require.NoError(t, err)
	mt, err := idx.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, "multi", im.Annotations["org.opencontainers.image.title"])
	require.Len(t, im.Manifests, 4)
	for i, d := range im.Manifests {
		a := fourPlatforms[i].Architecture
		assert.Equal(t, fourPlatforms[i], *d.Platform)
		assert.Equal(t, a, d.Annotations["io.example.arch"])
		assert.Equal(t, types.OCIManifestSchema1, d.MediaType)
		assert.Equal(t, newChild["linux/"+a], d.Digest.String())
		child, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := child.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, a, cf.Architecture)
		assert.Equal(t, "2", cf.Config.Labels["release"])
	}

	// A containers/image client pulls every platform.
	dst := filepath.Join(t.TempDir(), "oci")
	out, err := exec.CommandContext(t.Context(), skopeo, "copy", "--all", "--src-tls-verify=false",
		"docker://"+e.appRepo+":latest", "oci:"+dst+":app").CombinedOutput()
	require.NoError(t, err, "skopeo copy --all: %s", out)
	raw, err := exec.CommandContext(t.Context(), skopeo, "inspect", "--raw", "--tls-verify=false",
		"docker://"+e.appRepo+":latest").CombinedOutput()
	require.NoError(t, err, "%s", raw)
	var got v1.IndexManifest
	require.NoError(t, json.Unmarshal(raw, &got))
	assert.Len(t, got.Manifests, 4)

	// cosign verifies the published index and one platform's image by
	// its own digest: signature and SLSA provenance.
	indexRef, childRef := e.appRepo+"@"+r.NewDigest, e.appRepo+"@"+newChild["linux/arm64"]
	prov := signer.verifyWithCosign(t, indexRef, childRef)
	if p, ok := prov[indexRef]; ok {
		assert.Contains(t, p, "https://openabs.dev/builders/rebase")
		assert.Contains(t, p, demo.OpenSSL.ID, "the advisories fixed")
		assert.Contains(t, p, strings.TrimPrefix(r.NewDigest, "sha256:"), "the subject is the index")
		assert.Contains(t, prov[childRef], strings.TrimPrefix(newChild["linux/arm64"], "sha256:"), "the subject is the platform's image")
	}

	// The owner is told, with each platform's grade.
	text := mailText(e.smtp)
	assert.Contains(t, text, "linux/arm64 C")
	assert.Contains(t, text, "linux/s390x A")

	// The image's status (what the API and the console show) is the
	// published index with its four platforms, before any new cycle.
	st, err := o.ImageStatus(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.Equal(t, r.NewDigest, st.Digest)
	assert.Equal(t, "A", st.Grade)
	require.Len(t, st.Platforms, 4)
	for _, p := range st.Platforms {
		assert.Equal(t, "A", p.Grade, p.Platform)
		assert.Equal(t, newChild[p.Platform], p.Digest, p.Platform)
	}

	// The next cycle reads the published index: every platform A,
	// nothing to do.
	next, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, next.Images, 1)
	assert.Equal(t, r.NewDigest, next.Images[0].Digest)
	assert.Equal(t, healthindex.GradeA, next.Images[0].Grade)
	require.Len(t, next.Images[0].Platforms, 4)
	for _, p := range next.Images[0].Platforms {
		assert.Equal(t, healthindex.GradeA, p.Grade, p.Platform)
		assert.Equal(t, newChild[p.Platform], p.Digest)
	}
	assert.Empty(t, next.Plan)
}

// TestMultiPlatformOneFails: the new base index still carries the
// vulnerable openssl for s390x, so that platform's rebuild does not fix
// the advisory: nothing is published (both tags unchanged, no new version
// tag), the rebuild is failed naming the platform, and the owner is told
// which platform and why.
func TestMultiPlatformOneFails(t *testing.T) {
	e := newMultiEnv(t)
	o := e.start(nil)
	e.firstCycle(o)

	e.moveBase("s390x")
	rep := e.advisoryArrives(o, abs.MethodRebase)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, r.State)
	assert.Contains(t, r.Detail, "verify: ")
	assert.Contains(t, r.Detail, "platform linux/s390x")
	assert.Contains(t, r.Detail, "does not fix "+demo.OpenSSL.ID)
	assert.NotContains(t, r.Detail, "linux/arm64")
	assert.Empty(t, r.Tags)
	sum := byName(rep)["demo/app"]
	assert.False(t, sum.Published)
	assert.Contains(t, sum.Error, "linux/s390x")
	for _, p := range sum.Platforms {
		assert.Equal(t, p.OldDigest, p.NewDigest, p.Platform)
	}
	assert.True(t, rep.Failed())

	assert.Equal(t, e.appDigest, headDigest(t, e.appRepo+":latest"), "nothing published")
	assert.Equal(t, e.appDigest, headDigest(t, e.appRepo+":1.0-1"))
	ref, err := gcrname.ParseReference(e.appRepo + ":1.0-2")
	require.NoError(t, err)
	_, err = remote.Head(ref, remote.WithContext(t.Context()))
	assert.Error(t, err, "no new version tag")

	text := mailText(e.smtp)
	assert.Contains(t, text, "linux/s390x")
	assert.Contains(t, text, "does not fix")

	// The status still shows the old index, graded as its worst
	// platform: arm64 and s390x C, amd64 and ppc64le A.
	st, err := o.ImageStatus(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.Equal(t, e.appDigest, st.Digest)
	assert.Equal(t, "C", st.Grade)
	grades := map[string]string{}
	for _, p := range st.Platforms {
		grades[p.Platform] = p.Grade
	}
	assert.Equal(t, map[string]string{"linux/amd64": "A", "linux/arm64": "C", "linux/ppc64le": "A", "linux/s390x": "C"}, grades)
	assert.NotEmpty(t, st.Findings)
}

// TestMultiPlatformBaseLacksPlatform: the base vendor's new index has
// no s390x image any more, so the s390x image cannot be rebased and the
// whole index fails: nothing is published (both tags unchanged, no new
// version tag), and the rebuild, the report and the mail name linux/s390x
// and say that the base lacks it.
func TestMultiPlatformBaseLacksPlatform(t *testing.T) {
	e := newMultiEnv(t)
	o := e.start(nil)
	e.firstCycle(o)

	e.moveBaseWithout("s390x")
	rep := e.advisoryArrives(o, abs.MethodRebase)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildFailed, r.State, r.Detail)
	assert.Contains(t, r.Detail, "linux/s390x")
	assert.Contains(t, r.Detail, "no image for the platform", "says the base lacks it")
	assert.Contains(t, r.Detail, e.baseRef+" has only linux/amd64, linux/arm64, linux/ppc64le", "names the base and what it has")
	assert.Empty(t, r.Tags)
	assert.Empty(t, r.NewDigest, "no index staged")
	sum := byName(rep)["demo/app"]
	assert.False(t, sum.Published)
	assert.Contains(t, sum.Error, "linux/s390x")
	assert.Contains(t, sum.Error, "no image for the platform")
	assert.True(t, rep.Failed())

	assert.Equal(t, e.appDigest, headDigest(t, e.appRepo+":latest"), "nothing published")
	assert.Equal(t, e.appDigest, headDigest(t, e.appRepo+":1.0-1"))
	ref, err := gcrname.ParseReference(e.appRepo + ":1.0-2")
	require.NoError(t, err)
	_, err = remote.Head(ref, remote.WithContext(t.Context()))
	assert.Error(t, err, "no new version tag")

	text := mailText(e.smtp)
	assert.Contains(t, text, "linux/s390x")
	assert.Contains(t, text, "no image for the platform")

	st, err := o.ImageStatus(t.Context(), "demo/app")
	require.NoError(t, err)
	assert.Equal(t, e.appDigest, st.Digest, "the old index")
	assert.Equal(t, "C", st.Grade)
}

// TestMultiPlatformFromSource: the same index rebuilt from its git
// source (served over SSH) by buildah, one build per platform on the
// base index's image for it, verified per platform and published as one
// index.
func TestMultiPlatformFromSource(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (apt-get install buildah)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah runs as root here (chroot isolation, vfs storage)")
	}
	e := newMultiEnv(t)
	repo := gittest.NewRepo(t, map[string]string{
		"Containerfile": "FROM " + e.baseRef + "\nLABEL name=demo/app version=1.0\nCOPY app.txt /app/app.txt\n",
		"app.txt":       "openabs demo application\n",
	})
	srv := gittest.StartSSH(t, repo.Dir)
	src := &rebuild.GitSource{URL: srv.URL, Branch: "main", Auth: rebuild.GitAuth{
		SSHKey: secret.New(string(srv.ClientKey.PrivatePEM)), KnownHosts: srv.KnownHosts}}
	signer := newIndexSigner(t)
	o := e.start(src, abs.WithRebaser(nil), abs.WithBuilder(&rebuild.Buildah{InsecureRegistries: true}), signer.opt)
	e.firstCycle(o)

	e.moveBase()
	rep := e.advisoryArrives(o, abs.MethodBuild)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, "%s\n%s", r.Detail, r.Log)
	assert.Equal(t, healthindex.GradeA, r.AfterGrade)
	assert.ElementsMatch(t, []string{"1.0-2", "latest"}, r.Tags)
	require.Len(t, r.Platforms, 4)
	assert.Equal(t, r.NewDigest, headDigest(t, e.appRepo+":latest"))
	ref, err := gcrname.ParseReference(e.appRepo + ":latest")
	require.NoError(t, err)
	idx, err := remote.Index(ref, remote.WithContext(t.Context()))
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 4)
	for i, d := range im.Manifests {
		a := fourPlatforms[i].Architecture
		assert.Equal(t, a, d.Platform.Architecture)
		assert.Equal(t, "linux/"+a, r.Platforms[i].Platform)
		assert.Equal(t, healthindex.GradeA, r.Platforms[i].Grade, a)
		child, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := child.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, a, cf.Architecture, "built for its platform")
		m, err := child.Manifest()
		require.NoError(t, err)
		assert.Equal(t, repo.Head, m.Annotations[rebuild.AnnotationRevision], a)
	}

	// cosign verifies the index and one platform's image; the
	// provenance names the git source and the commit built.
	indexRef, childRef := e.appRepo+"@"+r.NewDigest, e.appRepo+"@"+im.Manifests[1].Digest.String()
	prov := signer.verifyWithCosign(t, indexRef, childRef)
	for ref, p := range prov {
		assert.Contains(t, p, mustJSON(t, secret.HideUserinfo(srv.URL)), "%s: the git URL", ref)
		assert.Contains(t, p, repo.Head, "%s: the commit", ref)
	}

	// Each built image records the base's image for its platform; the
	// next cycle sees no base move and nothing to do.
	next, err := o.RunCycle(t.Context(), abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, next.Images, 1)
	assert.Equal(t, r.NewDigest, next.Images[0].Digest)
	assert.Equal(t, healthindex.GradeA, next.Images[0].Grade)
	assert.Empty(t, next.Plan, "no base move seen")
}

// TestMultiPlatformCertified: with the certification gate on, every
// platform of the rebased index is certified against the same platform
// of the index it replaces before the index is published.
func TestMultiPlatformCertified(t *testing.T) {
	e := newMultiEnv(t)
	o := e.start(nil, abs.WithCertification(nil, nil))
	e.firstCycle(o)
	e.moveBase()
	rep := e.advisoryArrives(o, abs.MethodRebase)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	require.Len(t, r.Platforms, 4)
	assert.Equal(t, r.NewDigest, headDigest(t, e.appRepo+":latest"))
}

// indexSigner is a signing key made in the test and the path of its
// public half in PEM, for cosign's --key.
type indexSigner struct {
	opt abs.Option
	pub string
}

// newIndexSigner configures a signer on a fresh P-256 key (cosign's
// default), so that the pipeline signs and attests every published index
// whether or not the cosign CLI is here to verify it.
func newIndexSigner(t *testing.T) indexSigner {
	t.Helper()
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	key, err := sign.NewKey(pk)
	require.NoError(t, err)
	pem, err := key.PublicKeyPEM()
	require.NoError(t, err)
	pub := filepath.Join(t.TempDir(), "cosign.pub")
	require.NoError(t, os.WriteFile(pub, pem, 0o644))
	return indexSigner{opt: abs.WithSigner(sign.New(key, sign.WithPlainHTTP(), sign.WithLogger(logger(t)))), pub: pub}
}

// verifyWithCosign has the real cosign CLI verify, from the registry, the
// signature and the SLSA provenance of each reference (IMAGE@DIGEST); it
// returns each reference's provenance statement as JSON. It is a subtest
// skipped without cosign ($ABS_COSIGN, or cosign on $PATH).
func (s indexSigner) verifyWithCosign(t *testing.T, refs ...string) map[string]string {
	t.Helper()
	prov := map[string]string{}
	t.Run("cosign", func(t *testing.T) {
		bin := cosignBinary(t)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		dir := t.TempDir()
		for _, ref := range refs {
			out, err := cosign(ctx, bin, dir, nil, "verify", "--key", s.pub, "--insecure-ignore-tlog=true",
				"--allow-http-registry=true", ref)
			require.NoError(t, err, "cosign verify %s: %s", ref, out)
			assert.Contains(t, out, ref[strings.LastIndexByte(ref, '@')+1:], "the signed digest")
			out, err = cosign(ctx, bin, dir, nil, "verify-attestation", "--key", s.pub, "--insecure-ignore-tlog=true",
				"--allow-http-registry=true", "--type", "slsaprovenance1", ref)
			require.NoError(t, err, "cosign verify-attestation %s: %s", ref, out)
			st := mustJSON(t, attestedStatement(t, out))
			assert.Contains(t, st, `"predicateType":"https://slsa.dev/provenance/v1"`, ref)
			prov[ref] = st
		}
	})
	return prov
}
