package demo

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is an in-process OCI registry on loopback.
type Registry struct {
	// Host is "127.0.0.1:PORT".
	Host   string
	server *httptest.Server
	// Counter, when set, sees every request (the tests count pushes).
	Counter func(r *http.Request)
}

// StartRegistry starts go-containerregistry's in-memory registry on
// loopback. Close stops it.
func StartRegistry() *Registry {
	reg := &Registry{}
	h := registry.New(registry.Logger(discardLogger()))
	reg.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reg.Counter != nil {
			reg.Counter(r)
		}
		h.ServeHTTP(w, r)
	}))
	reg.Host = strings.TrimPrefix(reg.server.URL, "http://")
	return reg
}

// Close stops the registry.
func (r *Registry) Close() { r.server.Close() }

// Repo returns "HOST/path".
func (r *Registry) Repo(path string) string { return r.Host + "/" + path }

// App is one demo application image.
type App struct {
	// Name is the managed image's name, e.g. "demo/app".
	Name       string
	Repository string
	Tag        string
	// Digest is the outdated image's digest.
	Digest string
	// Owner is whom the orchestrator tells.
	Owner string
}

// Fleet is what Seed pushed.
type Fleet struct {
	// BaseRef is the base image's tag, "HOST/demo/ubi9:9.4".
	BaseRef string
	// OldBase is the digest the applications were built on; NewBase the
	// digest the tag points to after UpdateBase ("" before).
	OldBase, NewBase string
	Apps             []App
}

// Owner is the demo applications' owner.
const Owner = "app-team@example.com"

func file(tw *tar.Writer, name string, body []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Uname: "root", Gname: "root"}); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

func dir(tw *tar.Writer, name string) error {
	return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir, Uname: "root", Gname: "root"})
}

// layer builds a gzip layer from (path, body) pairs; paths ending in "/"
// are directories.
func layer(entries ...[2]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		var err error
		if strings.HasSuffix(e[0], "/") {
			err = dir(tw, e[0])
		} else {
			err = file(tw, e[0], []byte(e[1]))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

const osRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow) [openabs demo data]"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
`

func baseImage(rpmdb []byte, release string) (v1.Image, error) {
	l, err := layer(
		[2]string{"etc/", ""},
		[2]string{"etc/os-release", osRelease},
		[2]string{"etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n"},
		[2]string{"var/", ""}, [2]string{"var/lib/", ""}, [2]string{"var/lib/rpm/", ""},
		[2]string{"var/lib/rpm/rpmdb.sqlite", string(rpmdb)},
	)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	return configure(img, map[string]string{
		"name": "demo/ubi9", "version": "9.4", "release": release,
		"com.redhat.component": "ubi9-container", "architecture": "x86_64",
		"summary": "openabs demo base image (demo data)",
	})
}

func configure(img v1.Image, labels map[string]string) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Labels = labels
	cf.Config.Cmd = []string{"/bin/sh"}
	return mutate.ConfigFile(img, cf)
}

func push(ctx context.Context, ref string, img v1.Image, opts []remote.Option) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, append(opts, remote.WithContext(ctx))...); err != nil {
		return "", fmt.Errorf("demo: push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Seed pushes the outdated base image and two applications built on it
// ("demo/app" and "demo/api", both owned by Owner) to the registry at
// host. The applications record their base in the OCI base annotations.
func Seed(ctx context.Context, host string, opts ...remote.Option) (*Fleet, error) {
	rpmdb, err := OldRPMDB()
	if err != nil {
		return nil, err
	}
	base, err := baseImage(rpmdb, "1")
	if err != nil {
		return nil, err
	}
	f := &Fleet{BaseRef: host + "/demo/ubi9:9.4"}
	if f.OldBase, err = push(ctx, f.BaseRef, base, opts); err != nil {
		return nil, err
	}
	for _, a := range []struct{ name, file, body string }{
		{"demo/app", "app/index.html", "<h1>openabs demo application</h1>\n"},
		{"demo/api", "app/api.txt", "openabs demo API\n"},
	} {
		l, err := layer([2]string{"app/", ""}, [2]string{a.file, a.body})
		if err != nil {
			return nil, err
		}
		img, err := mutate.AppendLayers(base, l)
		if err != nil {
			return nil, err
		}
		if img, err = configure(img, map[string]string{
			"name": a.name, "version": "1.0", "release": "1",
			"summary": "openabs demo application (demo data)",
		}); err != nil {
			return nil, err
		}
		img = mutate.Annotations(img, map[string]string{
			"org.opencontainers.image.base.name":   f.BaseRef,
			"org.opencontainers.image.base.digest": f.OldBase,
		}).(v1.Image)
		repo := host + "/" + a.name
		d, err := push(ctx, repo+":latest", img, opts)
		if err != nil {
			return nil, err
		}
		if _, err := push(ctx, repo+":1.0-1", img, opts); err != nil {
			return nil, err
		}
		f.Apps = append(f.Apps, App{Name: a.name, Repository: repo, Tag: "latest", Digest: d, Owner: Owner})
	}
	return f, nil
}

// UpdateBase pushes the updated base image (glibc, openssl and curl
// fixed) to the base's tag, as the base's vendor would.
func UpdateBase(ctx context.Context, f *Fleet, opts ...remote.Option) error {
	rpmdb, err := NewRPMDB()
	if err != nil {
		return err
	}
	base, err := baseImage(rpmdb, "2")
	if err != nil {
		return err
	}
	f.NewBase, err = push(ctx, f.BaseRef, base, opts)
	return err
}

var _ = types.OCIManifestSchema1

// SeedChild pushes an image built on one of the fleet's applications (a
// child of a managed image), recording that application as its base, and
// adds it to the fleet.
func SeedChild(ctx context.Context, host string, f *Fleet, parent App, childName string, opts ...remote.Option) (App, error) {
	pref, err := name.ParseReference(parent.Repository + "@" + parent.Digest)
	if err != nil {
		return App{}, err
	}
	pimg, err := remote.Image(pref, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return App{}, err
	}
	l, err := layer([2]string{"child/", ""}, [2]string{"child/plugin.txt", "openabs demo plugin\n"})
	if err != nil {
		return App{}, err
	}
	img, err := mutate.AppendLayers(pimg, l)
	if err != nil {
		return App{}, err
	}
	if img, err = configure(img, map[string]string{"name": childName, "version": "2.0", "release": "1",
		"summary": "openabs demo child image (demo data)"}); err != nil {
		return App{}, err
	}
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.base.name":   parent.Repository + ":" + parent.Tag,
		"org.opencontainers.image.base.digest": parent.Digest,
	}).(v1.Image)
	repo := host + "/" + childName
	d, err := push(ctx, repo+":latest", img, opts)
	if err != nil {
		return App{}, err
	}
	a := App{Name: childName, Repository: repo, Tag: "latest", Digest: d, Owner: Owner}
	f.Apps = append(f.Apps, a)
	return a, nil
}
