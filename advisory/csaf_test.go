package advisory

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readDoc(t testing.TB, name string) Document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	doc, err := Parse(data)
	require.NoError(t, err, name)
	return doc
}

func TestParseCSAFAdvisory(t *testing.T) {
	doc := readDoc(t, "csaf/rhsa-2099_0001.json")
	require.Nil(t, doc.VEX)
	a := doc.Advisory
	require.NotNil(t, a)
	assert.Equal(t, "RHSA-2099:0001", a.ID)
	assert.Equal(t, TypeSecurity, a.Type)
	assert.Equal(t, SeverityImportant, a.Severity)
	assert.Equal(t, time.Date(2099, 1, 5, 8, 0, 0, 0, time.UTC), a.Issued)
	assert.Equal(t, time.Date(2099, 1, 10, 12, 0, 0, 0, time.UTC), a.Updated)
	assert.Equal(t, []string{"CVE-2099-1111", "CVE-2099-2222"}, a.CVEs)
	assert.Equal(t, "https://access.example.com/errata/RHSA-2099:0001", a.URL)
	assert.Equal(t, []Fix{
		{Product: "BaseOS-9.2.0.Z.EUS", CPE: "cpe:/o:redhat:rhel_eus:9.2::baseos", Name: "libfoo", Epoch: 1, Version: "2.0.1", Release: "3.el9_2.1", Arch: "x86_64", Severity: SeverityImportant},
		{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos", Name: "libfoo", Epoch: 1, Version: "2.0.1", Release: "5.el9_4", Arch: "src", Severity: SeverityImportant},
		{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos", Name: "libfoo", Epoch: 1, Version: "2.0.1", Release: "5.el9_4", Arch: "x86_64", Severity: SeverityImportant},
		{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos", Name: "libfoo-doc", Epoch: 1, Version: "2.0.1", Release: "5.el9_4", Arch: "noarch", Severity: SeverityImportant},
	}, a.Fixes)
}

func TestParseCSAFVexCategoryAdvisoryWithModules(t *testing.T) {
	doc := readDoc(t, "csaf/rhba-2099_0002.json")
	a := doc.Advisory
	require.NotNil(t, a, "an erratum id in a csaf_vex document is an advisory")
	assert.Equal(t, TypeBugFix, a.Type)
	assert.Equal(t, SeverityNone, a.Severity)
	assert.Equal(t, []Fix{
		{Product: "AppStream-8.10.0.Z.MAIN", CPE: "cpe:/a:redhat:enterprise_linux:8::appstream", Name: "nodejs", Epoch: 1, Version: "18.20.2", Release: "1.module+el8.10.0+21500+aaaaaaaa", Arch: "x86_64", Module: "nodejs:18"},
		{Product: "AppStream-8.10.0.Z.MAIN", CPE: "cpe:/a:redhat:enterprise_linux:8::appstream", Name: "nodejs-docs", Epoch: 1, Version: "18.20.2", Release: "1.module+el8.10.0+21500+aaaaaaaa", Arch: "noarch", Module: "nodejs:18"},
	}, a.Fixes)
}

func TestParseVEX(t *testing.T) {
	doc := readDoc(t, "csaf/cve-2099-1111.json")
	v := doc.VEX
	require.NotNil(t, v)
	assert.Equal(t, "CVE-2099-1111", v.CVE)
	assert.Equal(t, SeverityImportant, v.Severity)
	require.Len(t, v.Fixed, 1)
	assert.Equal(t, "RHSA-2099:0001", v.Fixed[0].Advisory)
	assert.Equal(t, "2.0.1", v.Fixed[0].Version)
	assert.Equal(t, []Fix{
		{Product: "red_hat_enterprise_linux_8", CPE: "cpe:/o:redhat:enterprise_linux:8", Name: "libfoo", Severity: SeverityImportant},
		{Product: "red_hat_enterprise_linux_8", CPE: "cpe:/o:redhat:enterprise_linux:8", Name: "libfoo-tools", Severity: SeverityLow},
	}, v.Affected)
	require.Len(t, v.NotAffected, 1)
	assert.Equal(t, "libbar", v.NotAffected[0].Name)
}

func TestParseOSV(t *testing.T) {
	doc := readDoc(t, "osv/alsa-2099_0003.json")
	a := doc.Advisory
	require.NotNil(t, a)
	assert.Equal(t, "ALSA-2099:0003", a.ID)
	assert.Equal(t, TypeSecurity, a.Type)
	assert.Equal(t, SeverityImportant, a.Severity)
	assert.Equal(t, []string{"CVE-2099-1111"}, a.CVEs)
	require.Len(t, a.Fixes, 2)
	assert.Equal(t, Fix{Product: "AlmaLinux:9", Name: "libfoo", Epoch: 1, Version: "2.0.1", Release: "5.el9_4.alma.1"}, a.Fixes[0])
}

func TestParseMalformed(t *testing.T) {
	tests := map[string]string{
		"not json":         `{"document":`,
		"no id":            `{"document": {"category": "csaf_security_advisory", "tracking": {}}}`,
		"bad category":     `{"document": {"category": "csaf_informational_advisory", "tracking": {"id": "RHSA-1:1"}}}`,
		"bad date":         `{"document": {"category": "csaf_security_advisory", "tracking": {"id": "RHSA-1:1", "initial_release_date": "yesterday"}}}`,
		"wrong types":      `{"document": {"category": 7}}`,
		"osv without pkgs": `{"id": "ALSA-1:1"}`,
		"array":            `[]`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(in))
			require.ErrorIs(t, err, ErrMalformed)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
		})
	}
}

func TestParseNEVRAAndPURL(t *testing.T) {
	n, ok := parseNEVRA("tigervnc-0:1.13.1-3.el9_3.3.x86_64")
	require.True(t, ok)
	assert.Equal(t, nevra{name: "tigervnc", version: "1.13.1", release: "3.el9_3.3", arch: "x86_64"}, n)
	for in, want := range map[string]nevra{
		"libcurl-devel":                {name: "libcurl-devel"},
		"curl.src":                     {name: "curl", arch: "src"},
		"python3-foo-bar":              {name: "python3-foo-bar"},
		"openssl-1:3.0.7-18.el9_2.src": {name: "openssl", epoch: 1, version: "3.0.7", release: "18.el9_2", arch: "src"},
	} {
		got, ok := parseNEVRA(in)
		require.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "a b", "x-1:-1", "x-y:1-2"} {
		_, ok := parseNEVRA(in)
		assert.False(t, ok, in)
	}
	nv, mod := splitModule("ruby-2.7.8-139.module+el8.8.0+18745+f1bef313.aarch64.rpm-ruby:2.7")
	assert.Equal(t, "ruby:2.7", mod)
	n, ok = parseNEVRA(nv)
	require.True(t, ok)
	assert.Equal(t, nevra{name: "ruby", version: "2.7.8", release: "139.module+el8.8.0+18745+f1bef313", arch: "aarch64"}, n)
	nv, mod = splitModule("nodejs:18/nodejs")
	assert.Equal(t, "nodejs", nv)
	assert.Equal(t, "nodejs:18", mod)
	p, ok := parsePURL("pkg:rpm/redhat/ruby@2.7.8-139.module%2Bel8.8.0%2B18745%2Bf1bef313?arch=aarch64&rpmmod=ruby:2.7:8080020230427102918:63b34585&epoch=2")
	require.True(t, ok)
	assert.Equal(t, nevra{name: "ruby", version: "2.7.8", release: "139.module+el8.8.0+18745+f1bef313", arch: "aarch64", module: "ruby:2.7", epoch: 2}, p)
	_, ok = parsePURL("pkg:oci/ubi9@sha256:abc")
	assert.False(t, ok)
}

func TestSeverityJSON(t *testing.T) {
	b, err := json.Marshal(Finding{Severity: SeverityImportant})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"severity":"Important"`)
	var f Finding
	require.NoError(t, json.Unmarshal([]byte(`{"severity":"critical"}`), &f))
	assert.Equal(t, SeverityCritical, f.Severity)
	require.NoError(t, json.Unmarshal([]byte(`{"severity":2}`), &f))
	assert.Equal(t, SeverityModerate, f.Severity)
	require.Error(t, json.Unmarshal([]byte(`{"severity":"severe"}`), &f))
	require.Error(t, json.Unmarshal([]byte(`{"severity":9}`), &f))
	assert.Equal(t, "None", SeverityNone.String())
}

// FuzzParse checks that no input makes the parsers panic, and that every
// error is a ParseError.
func FuzzParse(f *testing.F) {
	globs := []string{"testdata/*/*.json"}
	if dir := os.Getenv("ABS_REALDATA"); dir != "" {
		globs = append(globs, filepath.Join(dir, "csaf", "*", "*.json"))
	}
	for _, glob := range globs {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(`{"document":{"category":"csaf_vex","tracking":{"id":"RHSA-2024:0010"}},"product_tree":{"relationships":[{"full_product_name":{"product_id":"A:ruby-2.7.8-1.x86_64.rpm-ruby:2.7"},"product_reference":"ruby-2.7.8-1.x86_64.rpm-ruby:2.7","relates_to_product_reference":"A"}]},"vulnerabilities":[{"product_status":{"fixed":["A:ruby-2.7.8-1.x86_64.rpm-ruby:2.7","x:y::z:1","AppStream-9.3.0.Z.MAIN:tigervnc-0:1.13.1-3.el9_3.3.x86_64"]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errorsAs(err, &pe) {
				t.Fatalf("error is not a ParseError: %v", err)
			}
			return
		}
		if doc.Advisory == nil && doc.VEX == nil {
			t.Fatal("no error and no document")
		}
		if doc.Advisory != nil {
			NewIndex([]Advisory{*doc.Advisory}) // must not panic either
		}
		// Under a tiny product limit, the limit errors are ParseErrors too.
		if _, err := Parse(data, WithMaxProducts(2)); err != nil {
			var pe *ParseError
			if !errorsAs(err, &pe) {
				t.Fatalf("error under a product limit is not a ParseError: %v", err)
			}
		}
	})
}

func errorsAs(err error, target **ParseError) bool { return errors.As(err, target) }

// FuzzComponentID checks the readers of CSAF component ids and purls,
// seeded with real ids.
func FuzzComponentID(f *testing.F) {
	for _, s := range []string{
		"tigervnc-0:1.13.1-3.el9_3.3.x86_64",
		"ruby-2.7.8-139.module+el8.8.0+18745+f1bef313.aarch64.rpm-ruby:2.7",
		"ruby-0:3.1.4-143.module+el8.10.0+21000+abcdef01.x86_64::ruby:3.1",
		"sudo-0:1.9.5p2-7.el9_0.4.src",
		"curl.src", "libcurl", "nodejs:18/nodejs",
		"pkg:rpm/redhat/ruby@2.7.8-139.module%2Bel8.8.0%2B18745%2Bf1bef313?arch=aarch64&rpmmod=ruby:2.7:8080020230427102918:63b34585",
		"pkg:rpm/redhat/openssl@3.0.7-18.el9_2?arch=x86_64&epoch=1",
		"pkg:rpm/redhat/curl",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nv, mod := splitModule(s)
		if n, ok := parseNEVRA(nv); ok {
			if n.name == "" {
				t.Fatalf("parseNEVRA(%q) accepted an empty name", nv)
			}
			if (n.version == "") != (n.release == "") {
				t.Fatalf("parseNEVRA(%q) gave half an EVR: %+v", nv, n)
			}
		}
		_ = mod
		if p, ok := parsePURL(s); ok && p.name == "" {
			t.Fatalf("parsePURL(%q) accepted an empty name", s)
		}
	})
}
