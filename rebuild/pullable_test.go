package rebuild_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/rebuild"
)

func requireSkopeo(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed (apt-get install skopeo)")
	}
	return p
}

// skopeo runs skopeo with a private policy that accepts everything (the
// system may have none) and returns its combined output.
func skopeo(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	policy := filepath.Join(t.TempDir(), "policy.json")
	writeFile(t, policy, `{"default":[{"type":"insecureAcceptAnything"}]}`)
	out, err := exec.CommandContext(t.Context(), bin, append([]string{"--policy", policy}, args...)...).CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// TestPublishedImagesPullableBySkopeo makes an image with every builder,
// in OCI and Docker form, stamps it as Execute does, pushes it to Debian's
// docker-registry and has Debian's skopeo (containers/image) inspect and
// copy it. CheckPullable must agree with skopeo, also on the image that
// go-containerregistry's own mutate.Rebase makes, which skopeo refuses.
func TestPublishedImagesPullableBySkopeo(t *testing.T) {
	bin := requireSkopeo(t)
	reg := regtest.Distribution(t)
	stamp := rebuild.Stamp{Release: "2", Reason: rebuild.Reason{Advisories: []string{"RHSA-2026:0001"}}, Method: "test",
		BaseName: reg.Repo("base") + ":1", BaseDigest: "sha256:" + strings.Repeat("0", 64),
		Time: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}

	type made struct {
		img      v1.Image
		pullable bool
	}
	images := map[string]func(t *testing.T) made{}
	for fam, mt := range map[string]types.MediaType{"oci": types.OCIManifestSchema1, "docker": types.DockerManifestSchema2} {
		images["rebase "+fam] = func(t *testing.T) made {
			repo := reg.Repo("rebase-" + fam)
			oldBase := imageIn(t, mt, nil, nil, layer(t, map[string]string{"etc/os-release": "v1"}))
			oldDigest := push(t, repo+"/base:1", oldBase).String()
			app := annotateBase(t, imageIn(t, mt, oldBase, nil, layer(t, map[string]string{"app": "1"})), repo+"/base:1", oldDigest)
			push(t, repo+"/app:1", app)
			// The new base comes in the other family.
			other := types.OCIManifestSchema1
			if mt == other {
				other = types.DockerManifestSchema2
			}
			push(t, repo+"/base:1", imageIn(t, other, nil, nil, layer(t, map[string]string{"etc/os-release": "v2"})))
			res, err := (&rebuild.Rebase{}).Build(t.Context(), &rebuild.Request{Ref: repo + "/app:1"})
			require.NoError(t, err)
			return made{res.Image, true}
		}
	}
	images["go-containerregistry mutate.Rebase"] = func(t *testing.T) made {
		oldBase := image(t, nil, nil, layer(t, map[string]string{"etc/os-release": "v1"}))
		app := image(t, oldBase, nil, layer(t, map[string]string{"app": "1"}))
		newBase := image(t, nil, nil, layer(t, map[string]string{"etc/os-release": "v2"}))
		// As pulled from a registry, the layers report their OCI media
		// types, which mutate.Rebase copies under a Docker manifest.
		repo := reg.Repo("gcr-rebase")
		push(t, repo+"/old:1", oldBase)
		push(t, repo+"/app:1", app)
		push(t, repo+"/new:1", newBase)
		img, err := mutate.Rebase(pull(t, repo+"/app:1"), pull(t, repo+"/old:1"), pull(t, repo+"/new:1"))
		require.NoError(t, err)
		return made{img, false}
	}
	if _, err := exec.LookPath("buildah"); err == nil {
		for _, format := range []string{"oci", "docker"} {
			images["buildah "+format] = func(t *testing.T) made {
				requireBuildah(t)
				base := reg.Repo("busybox-"+format) + ":1"
				push(t, base, image(t, nil, nil, busyboxLayer(t)))
				co := checkout(t, map[string]string{"Containerfile": "FROM " + base + "\nRUN echo hi > /hi\n"})
				res, err := (&rebuild.Buildah{Format: format, InsecureHosts: []string{reg.Host}}).Build(t.Context(),
					&rebuild.Request{Ref: reg.Repo("app") + ":1", Source: co, WorkDir: t.TempDir()})
				require.NoError(t, err)
				return made{res.Image, true}
			}
			images["command "+format] = func(t *testing.T) made {
				requireBuildah(t)
				base := reg.Repo("cmd-busybox-"+format) + ":1"
				push(t, base, image(t, nil, nil, busyboxLayer(t)))
				co := checkout(t, map[string]string{"Containerfile": "FROM " + base + "\nRUN echo hi > /hi\n"})
				c := &rebuild.Command{
					InsecureHosts: []string{reg.Host},
					Args: []string{"buildah", "--storage-driver=vfs", "--root={{.Output}}.root", "--runroot={{.Output}}.run",
						"build", "--isolation=chroot", "--format=" + format,
						"-f", "{{.Containerfile}}", "-t", map[string]string{"oci": "oci-archive:", "docker": "docker-archive:"}[format] + "{{.Output}}", "{{.ContextDir}}"},
					Format: map[string]string{"oci": rebuild.FormatOCI, "docker": rebuild.FormatDocker}[format],
				}
				res, err := c.Build(t.Context(), &rebuild.Request{Ref: reg.Repo("app") + ":1", Source: co, WorkDir: t.TempDir()})
				require.NoError(t, err)
				return made{res.Image, true}
			}
		}
	}
	for name, mk := range images {
		t.Run(name, func(t *testing.T) {
			m := mk(t)
			img, err := stamp.Apply(m.img)
			require.NoError(t, err)
			ref := reg.Repo("published") + "@" + push(t, reg.Repo("published")+"@"+mustDigest(t, img), img).String()
			checkErr := rebuild.CheckPullable(img)

			out, err := skopeo(t, bin, "inspect", "--no-tags", "--tls-verify=false", "docker://"+ref)
			if !m.pullable {
				require.Error(t, err, "skopeo accepted what it should refuse: %s", out)
				assert.Contains(t, out, "unsupported docker v2s2 media type")
				require.ErrorIs(t, checkErr, rebuild.ErrNotPullable, "CheckPullable agrees with skopeo")
				assert.Contains(t, checkErr.Error(), "is not a Docker schema 2 layer type")
				return
			}
			require.NoError(t, err, "skopeo inspect: %s", out)
			require.NoError(t, checkErr)
			var info struct {
				Digest  string
				Created time.Time
				Layers  []string
				Labels  map[string]string
			}
			require.NoError(t, json.Unmarshal([]byte(out), &info))
			assert.Equal(t, mustDigest(t, img), info.Digest)
			assert.False(t, info.Created.IsZero())
			assert.Greater(t, info.Created.Year(), 2000)
			assert.Equal(t, "2", info.Labels["release"])
			assert.Len(t, info.Layers, len(layerDigests(t, img)))

			dir := t.TempDir()
			out, err = skopeo(t, bin, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "layout")+":x")
			require.NoError(t, err, "skopeo copy to oci: %s", out)
			out, err = skopeo(t, bin, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
				"docker://"+ref, "docker://"+reg.Repo("copied")+":1")
			require.NoError(t, err, "skopeo copy to a registry: %s", out)
		})
	}
}
