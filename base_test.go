package abs_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/demo"
	"github.com/openabs/abs/healthindex"
)

// redHatRedirect serves registry.redhat.io from the test's loopback
// registry, so that an image can name a Red Hat base the test controls.
type redHatRedirect struct{ host string }

func (r redHatRedirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "registry.redhat.io" {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = "http", r.host, r.host
	}
	return http.DefaultTransport.RoundTrip(req)
}

// baseCSAF renders a Critical container-image advisory whose fixed product
// is the pkg:oci image repo@digest of OpenShift 4.16.
func baseCSAF(t *testing.T, id, repo, digest string, issued time.Time) []byte {
	t.Helper()
	hex := strings.TrimPrefix(digest, "sha256:")
	comp := "openshift4/" + repo + "@sha256:" + hex + "_amd64"
	doc := map[string]any{
		"document": map[string]any{
			"aggregate_severity": map[string]any{"namespace": "https://access.redhat.com/security/updates/classification/", "text": "Critical"},
			"category":           "csaf_security_advisory", "csaf_version": "2.0", "title": "Critical: base image update",
			"references": []any{map[string]any{"category": "self", "url": "https://access.example.com/errata/" + id}},
			"tracking": map[string]any{"id": id, "initial_release_date": issued.Format(time.RFC3339),
				"current_release_date": issued.Format(time.RFC3339), "status": "final", "version": "1"},
		},
		"product_tree": map[string]any{
			"branches": []any{map[string]any{"category": "vendor", "name": "Red Hat", "branches": []any{
				map[string]any{"category": "product_family", "name": "Red Hat OpenShift Enterprise", "branches": []any{
					map[string]any{"category": "product_name", "name": "Red Hat OpenShift Container Platform 4.16", "product": map[string]any{
						"name": "Red Hat OpenShift Container Platform 4.16", "product_id": "9Base-RHOSE-4.16",
						"product_identification_helper": map[string]any{"cpe": "cpe:/a:redhat:openshift:4.16::el9"}}}}},
				map[string]any{"category": "architecture", "name": "amd64", "branches": []any{
					map[string]any{"category": "product_version", "name": comp, "product": map[string]any{"name": comp, "product_id": comp,
						"product_identification_helper": map[string]any{"purl": "pkg:oci/" + repo + "@sha256%3A" + hex +
							"?arch=amd64&repository_url=registry.redhat.io/openshift4/" + repo + "&tag=v4.16.0-202410180404.p0"}}}}},
			}}},
			"relationships": []any{map[string]any{"category": "default_component_of", "product_reference": comp,
				"relates_to_product_reference": "9Base-RHOSE-4.16",
				"full_product_name":            map[string]any{"name": repo + " 4.16 amd64", "product_id": "9Base-RHOSE-4.16:" + comp}}},
		},
		"vulnerabilities": []any{map[string]any{"cve": "CVE-2099-0001",
			"product_status": map[string]any{"fixed": []any{"9Base-RHOSE-4.16:" + comp}},
			"threats":        []any{map[string]any{"category": "impact", "details": "Critical"}}}},
	}
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return b
}

func baseFindings(im abs.ImageReport, id string) []advisory.Finding {
	var out []advisory.Finding
	for _, f := range im.Findings {
		if f.Match == advisory.MatchBaseImage && f.Advisory == id {
			out = append(out, f)
		}
	}
	return out
}

// TestBaseImageAdvisoryRebase: an app built on a Red Hat base that a
// container-image advisory fixes is affected, graded down and waits while
// the base tag still points at the affected base; once the fixed base is
// pushed, the cycle rebases the app onto it, and the published image,
// rescanned, has no base finding and a better grade.
func TestBaseImageAdvisoryRebase(t *testing.T) {
	const (
		id     = "RHSA-2099:7001"
		rhRepo = "registry.redhat.io/openshift4/ose-cli"
		rhTag  = rhRepo + ":v4.16"
	)
	e := newEnv(t)
	ctx := t.Context()
	redirect := remote.WithTransport(redHatRedirect{host: e.reg.Host})
	mustRef := func(s string) gcrname.Reference {
		r, err := gcrname.ParseReference(s)
		require.NoError(t, err)
		return r
	}
	oldBase, err := remote.Image(mustRef(e.fleet.BaseRef+"@"+e.fleet.OldBase), remote.WithContext(ctx))
	require.NoError(t, err)
	// The fixed base: the demo's updated base, not yet under the Red Hat tag.
	require.NoError(t, demo.UpdateBase(ctx, e.fleet))
	newBase, err := remote.Image(mustRef(e.fleet.BaseRef+"@"+e.fleet.NewBase), remote.WithContext(ctx))
	require.NoError(t, err)
	pushRH := func(img v1.Image) {
		require.NoError(t, remote.Write(mustRef(rhTag), img, redirect, remote.WithContext(ctx)))
	}
	pushRH(oldBase)
	// The app names the Red Hat base it was built on.
	app := e.fleet.Apps[0]
	aref := mustRef(app.Repository + ":" + app.Tag)
	aimg, err := remote.Image(aref, remote.WithContext(ctx))
	require.NoError(t, err)
	aimg = mutate.Annotations(aimg, map[string]string{"org.opencontainers.image.base.name": rhTag,
		"org.opencontainers.image.base.digest": e.fleet.OldBase}).(v1.Image)
	require.NoError(t, remote.Write(aref, aimg, remote.WithContext(ctx)))
	e.projects[0].Images = e.projects[0].Images[:1]
	require.NoError(t, os.WriteFile(filepath.Join(e.advDir, "rhsa-2099_7001.json"),
		baseCSAF(t, id, "ose-cli", e.fleet.NewBase, e.now.Add(-time.Hour)), 0o644))

	o := e.start(e.sqlite("abs.db"), abs.WithRemoteOptions(redirect))

	// 1. The base tag still points at the affected base: wait.
	waiting, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, waiting.Images, 1)
	im := waiting.Images[0]
	require.Empty(t, im.Error)
	fs := baseFindings(im, id)
	require.Len(t, fs, 1, "a base finding: %+v", im.Findings)
	assert.Equal(t, rhRepo, fs[0].Package)
	assert.Equal(t, e.fleet.NewBase, fs[0].Fixed)
	before := im.Grade
	assert.Greater(t, before, healthindex.GradeA, "a Critical base advisory lowers the grade")
	require.Len(t, waiting.Plan, 1)
	assert.Contains(t, waiting.Plan[0].Waiting, "waiting for the fixed base")
	assert.Contains(t, waiting.Plan[0].Why, "base image "+rhRepo+" has "+id)
	assert.Empty(t, waiting.Rebuilds, "no rebuild before the fixed base exists")
	affected, err := o.Affected(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, []string{app.Name}, affected, "the image built on the advisory's base is affected")

	// 2. The fixed base is pushed: the app is rebased onto it.
	pushRH(newBase)
	rep, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Plan, 1)
	assert.Equal(t, abs.MethodRebase, rep.Plan[0].Method)
	assert.Equal(t, []string{id}, rep.Plan[0].Advisories)
	rep = wait(t, o, rep.Cycle)
	require.Len(t, rep.Rebuilds, 1)
	r := rep.Rebuilds[0]
	require.Equal(t, abs.RebuildPublished, r.State, r.Detail)
	assert.Less(t, r.AfterGrade, before, "the published image grades better")
	got, err := remoteBase(t, e, "demo/app", r.NewDigest)
	require.NoError(t, err)
	assert.Equal(t, e.fleet.NewBase, got, "the published image records the fixed base")

	// 3. The next cycle sees the published image without the base finding.
	next, err := o.RunCycle(ctx, abs.CycleOptions{})
	require.NoError(t, err)
	require.Len(t, next.Images, 1)
	assert.Equal(t, r.NewDigest, next.Images[0].Digest)
	assert.Empty(t, baseFindings(next.Images[0], id))
	assert.Empty(t, next.Plan)
}
