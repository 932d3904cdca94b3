package provenance_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/provenance"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	digest     = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	baseDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	commit     = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
)

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func build() provenance.Build {
	return provenance.Build{
		Subject:        provenance.Image{Repository: "registry.example.com/team/app", Digest: digest},
		Source:         &provenance.Source{URL: "https://git.example.com/team/app.git", Ref: "main", Commit: commit, Containerfile: "Containerfile"},
		Base:           &provenance.Image{Repository: "registry.access.redhat.com/ubi9/ubi", Digest: baseDigest, Tag: "9.4"},
		BuilderID:      "https://openabs.dev/builders/buildah",
		BuilderVersion: map[string]string{"buildah": "1.28.2", "openabs": "v0.4.0"},
		BuildArgs:      map[string]string{"VERSION": "1.2.3", "RELEASE": "5"},
		NoCache:        true,
		Advisories:     []string{"RHSA-2026:2000", "RHSA-2026:1000", "RHSA-2026:1000"},
		Reason:         "RHSA-2026:1000 (openssl), RHSA-2026:2000 (glibc)",
		InvocationID:   "job-42",
		StartedOn:      start,
		FinishedOn:     start.Add(90 * time.Second),
		Rescan:         &provenance.Rescan{Grade: "A", PreviousGrade: "C", Fixed: []string{"RHSA-2026:2000", "RHSA-2026:1000"}, ScannedAt: start.Add(2 * time.Minute)},
	}
}

func TestGolden(t *testing.T) {
	st, err := provenance.New(build())
	require.NoError(t, err)
	got, err := provenance.Marshal(st)
	require.NoError(t, err)
	again, err := provenance.Marshal(st)
	require.NoError(t, err)
	require.Equal(t, got, again)

	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, got, "", "  "))
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "app.provenance.json")
	if *update {
		require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./provenance/ -update")
	assert.Equal(t, string(want), pretty.String())

	// The fields a verifier reads, by their specification names.
	var raw struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			BuildDefinition struct {
				BuildType            string         `json:"buildType"`
				ExternalParameters   map[string]any `json:"externalParameters"`
				InternalParameters   map[string]any `json:"internalParameters"`
				ResolvedDependencies []struct {
					URI    string            `json:"uri"`
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
				Byproducts []struct {
					Name        string         `json:"name"`
					Annotations map[string]any `json:"annotations"`
				} `json:"byproducts"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	require.NoError(t, json.Unmarshal(got, &raw))
	assert.Equal(t, "https://in-toto.io/Statement/v1", raw.Type)
	assert.Equal(t, "https://slsa.dev/provenance/v1", raw.PredicateType)
	require.Len(t, raw.Subject, 1)
	assert.Equal(t, strings.TrimPrefix(digest, "sha256:"), raw.Subject[0].Digest["sha256"])
	bd := raw.Predicate.BuildDefinition
	assert.Equal(t, provenance.BuildType, bd.BuildType)
	assert.Equal(t, map[string]any{"url": "https://git.example.com/team/app.git", "ref": "main", "commit": commit}, bd.ExternalParameters["source"])
	assert.Equal(t, map[string]any{"VERSION": "1.2.3", "RELEASE": "5"}, bd.ExternalParameters["buildArgs"])
	assert.Equal(t, []any{"RHSA-2026:1000", "RHSA-2026:2000"}, bd.ExternalParameters["advisories"])
	assert.Equal(t, map[string]any{"noCache": true}, bd.InternalParameters)
	require.Len(t, bd.ResolvedDependencies, 2)
	assert.Equal(t, commit, bd.ResolvedDependencies[0].Digest["gitCommit"])
	assert.Equal(t, strings.TrimPrefix(baseDigest, "sha256:"), bd.ResolvedDependencies[1].Digest["sha256"])
	assert.Equal(t, "https://openabs.dev/builders/buildah", raw.Predicate.RunDetails.Builder.ID)
	require.Len(t, raw.Predicate.RunDetails.Byproducts, 1)
	bp := raw.Predicate.RunDetails.Byproducts[0]
	assert.Equal(t, provenance.RescanName, bp.Name)
	assert.Equal(t, "A", bp.Annotations["grade"])
	assert.Equal(t, "C", bp.Annotations["previousGrade"])
	assert.Equal(t, []any{"RHSA-2026:1000", "RHSA-2026:2000"}, bp.Annotations["advisoriesFixed"])
}

func TestParseRoundTrip(t *testing.T) {
	st, err := provenance.New(build())
	require.NoError(t, err)
	b, err := provenance.Marshal(st)
	require.NoError(t, err)
	st2, prov, err := provenance.Parse(b)
	require.NoError(t, err)
	assert.Equal(t, st.GetSubject()[0].GetDigest(), st2.GetSubject()[0].GetDigest())
	assert.Equal(t, "A", provenance.Grade(prov))
	assert.Equal(t, "job-42", prov.GetRunDetails().GetMetadata().GetInvocationId())
	assert.Equal(t, start, prov.GetRunDetails().GetMetadata().GetStartedOn().AsTime())

	// A rebase without source or re-scan is still valid provenance.
	minimal := provenance.Build{Subject: build().Subject, Base: build().Base, BuilderID: "https://openabs.dev/builders/rebase"}
	st, err = provenance.New(minimal)
	require.NoError(t, err)
	b, err = provenance.Marshal(st)
	require.NoError(t, err)
	_, prov, err = provenance.Parse(b)
	require.NoError(t, err)
	assert.Empty(t, provenance.Grade(prov))
}

func TestNewInvalid(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*provenance.Build)
		field  string
	}{
		"no repository": {func(b *provenance.Build) { b.Subject.Repository = "" }, "subject.repository"},
		"no digest":     {func(b *provenance.Build) { b.Subject.Digest = "" }, "subject.digest"},
		"short digest":  {func(b *provenance.Build) { b.Subject.Digest = "sha256:abcd" }, "subject.digest"},
		"no builder":    {func(b *provenance.Build) { b.BuilderID = "" }, "builderId"},
		"no source url": {func(b *provenance.Build) { b.Source.URL = "" }, "source.url"},
		"bad commit":    {func(b *provenance.Build) { b.Source.Commit = "not-hex" }, "source.commit"},
		"bad base":      {func(b *provenance.Build) { b.Base.Digest = "sha256:zz" }, "base.digest"},
	} {
		t.Run(name, func(t *testing.T) {
			b := build()
			tc.mutate(&b)
			_, err := provenance.New(b)
			require.ErrorIs(t, err, provenance.ErrInvalid)
			var ie *provenance.InputError
			require.True(t, errors.As(err, &ie))
			assert.Equal(t, tc.field, ie.Field)
		})
	}
}

func TestParseRefuses(t *testing.T) {
	st, err := provenance.New(build())
	require.NoError(t, err)
	good, err := provenance.Marshal(st)
	require.NoError(t, err)
	for name, data := range map[string]string{
		"not json":        "{",
		"empty":           "{}",
		"other predicate": strings.Replace(string(good), provenance.PredicateType, "https://spdx.dev/Document", 1),
		"other statement": strings.Replace(string(good), "https://in-toto.io/Statement/v1", "https://example.com/Statement", 1),
		"no build type":   strings.Replace(string(good), `"buildType":"`+provenance.BuildType+`"`, `"buildType":""`, 1),
		"too large":       strings.Repeat(" ", provenance.MaxSize+1),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := provenance.Parse([]byte(data))
			require.ErrorIs(t, err, provenance.ErrInvalid)
		})
	}
}
