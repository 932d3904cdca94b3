package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/partnerapi/partnerapitest"
)

func TestCommands(t *testing.T) {
	srv := partnerapitest.Start(t)
	p, err := srv.AddProject(partnerapi.Project{Name: "widget",
		Container: partnerapi.ProjectContainer{AutoPublish: true, AutoRebuild: true, BuildService: true, SourceURI: "https://git.example.com/w.git"}})
	require.NoError(t, err)
	var ids []string
	for i, tag := range []string{"1.0", "1.1", "2.0"} {
		img, err := srv.AddImage(partnerapi.Image{CertProject: p.ID, Architecture: "amd64",
			DockerImageDigest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64),
			Repositories: []partnerapi.ImageRepository{{Registry: "registry.connect.redhat.com", Repository: "acme/widget",
				Tags: []partnerapi.Tag{{Name: tag}}}}})
		require.NoError(t, err)
		ids = append(ids, img.ID)
	}
	require.NoError(t, srv.SetRPMManifest(ids[0], []partnerapi.RPM{{Name: "openssl-libs", NVRA: "openssl-libs-3.0.7-18.el9_2.x86_64"}}))
	require.NoError(t, srv.SetVulnerabilities(ids[0], []partnerapi.Vulnerability{{CVEID: "CVE-2024-0001", Severity: "Important"}}))

	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(srv.APIKey()+"\n"), 0o600))
	env := func(k string) string {
		if k == "PARTNERAPI_KEY" {
			return srv.APIKey()
		}
		return ""
	}
	noEnv := func(string) string { return "" }
	fast := partnerapi.WithPollInterval(time.Millisecond, 5*time.Millisecond)

	tests := []struct {
		name   string
		args   []string
		env    func(string) string
		code   int
		check  func(t *testing.T, out string)
		stderr string
	}{
		{"project get", []string{"project", "get", p.ID}, env, 0, func(t *testing.T, out string) {
			assert.Contains(t, out, `"_id": "`+p.ID+`"`)
			assert.Contains(t, out, `"auto_rebuild": true`)
			assert.Contains(t, out, `"source_uri": "https://git.example.com/w.git"`)
		}, ""},
		{"key from file", []string{"-api-key-file", keyFile, "project", "get", p.ID}, noEnv, 0, nil, ""},
		{"no key", []string{"project", "get", p.ID}, noEnv, 1, nil, "401 Unauthorized"},
		{"project images filtered", []string{"project", "images", p.ID, "-filter", "repositories.tags.name=in=(1.0,2.0)"}, env, 0, func(t *testing.T, out string) {
			var imgs []map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &imgs))
			require.Len(t, imgs, 2)
			assert.Equal(t, ids[0], imgs[0]["_id"])
			assert.Equal(t, ids[2], imgs[1]["_id"])
			assert.Contains(t, imgs[0], "docker_image_digest")
		}, ""},
		{"image get", []string{"image", "get", ids[1]}, env, 0, func(t *testing.T, out string) {
			assert.Contains(t, out, `"docker_image_digest": "sha256:bbbb`)
		}, ""},
		{"image rpms", []string{"image", "rpms", ids[0]}, env, 0, func(t *testing.T, out string) {
			assert.Contains(t, out, `"nvra": "openssl-libs-3.0.7-18.el9_2.x86_64"`)
		}, ""},
		{"image vulns", []string{"image", "vulns", ids[0]}, env, 0, func(t *testing.T, out string) {
			assert.Contains(t, out, `"cve_id": "CVE-2024-0001"`)
		}, ""},
		{"repo images", []string{"repo", "images", "registry.connect.redhat.com", "acme/widget"}, noEnv, 0, func(t *testing.T, out string) {
			var imgs []map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &imgs))
			assert.Len(t, imgs, 3)
		}, ""},
		{"publish and wait", []string{"publish", p.ID, ids[1], "-wait"}, env, 0, func(t *testing.T, out string) {
			assert.Contains(t, out, `"status": "completed"`)
			assert.Contains(t, out, `"operation": "publish"`)
		}, ""},
		{"publish without wait", []string{"publish", "-wait=false", p.ID, ids[2]}, env, 0, func(t *testing.T, out string) {
			assert.Contains(t, out, `"status": "pending"`)
		}, ""},
		{"publish twice", []string{"publish", p.ID, ids[2]}, env, 1, nil, "409 Conflict"},
		{"not found", []string{"image", "get", "nope"}, env, 1, nil, "404 Not Found"},
		{"unknown command", []string{"image", "delete", ids[0]}, env, 2, nil, "unknown command"},
		{"missing argument", []string{"repo", "images", "registry.connect.redhat.com"}, env, 2, nil, "takes 2 argument(s)"},
		{"no command", nil, env, 2, nil, "no command"},
		{"bad flag", []string{"-nope"}, env, 2, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"-base-url", srv.URL}, tt.args...)
			code := run(t.Context(), args, tt.env, &stdout, &stderr, fast)
			require.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			if tt.check != nil {
				tt.check(t, stdout.String())
			}
			if tt.stderr != "" {
				assert.Contains(t, stderr.String(), tt.stderr)
			}
			assert.NotContains(t, stdout.String()+stderr.String(), srv.APIKey())
		})
	}
	reqs := srv.ImageRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, partnerapi.StatusCompleted, reqs[0].Status)
}
