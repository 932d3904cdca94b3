package advisory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rpmscan"
)

// The tests in this file follow Red Hat's "Technical Guidance for
// Vulnerability Scanning Vendors" (security-data-guidelines,
// docs/scanning-vendors.md) rule by rule:
//
//  1. content sets map to CPEs through repository-to-cpe.json;
//  2. CPEs compare on their first five segments, part kept, channel dropped;
//  3. unfixed entries carry the major version only, so an image CPE with a
//     minor is checked against the major-only CPE too;
//  4. an xUS image also checks the main stream, but only for a CVE that is
//     unfixed or has no fix released to its xUS stream;
//  5. container-first content checks the OpenShift CPEs of its version.
//
// Advisory ids other than RHSA-2025:1346 (the guidance's own) are made up,
// with the year 2099.

// guidanceRepo is the part of repository-to-cpe.json the guidance quotes,
// with the x86_64 repositories of the same streams.
func guidanceRepo() *RepoCPE {
	return NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-rpms":                   {"cpe:/o:redhat:enterprise_linux:9::baseos"},
		"rhel-9-for-x86_64-appstream-rpms":                {"cpe:/a:redhat:enterprise_linux:9::appstream"},
		"rhel-9-for-aarch64-baseos-rpms":                  {"cpe:/o:redhat:enterprise_linux:9::baseos"},
		"rhel-9-for-aarch64-appstream-rpms":               {"cpe:/a:redhat:enterprise_linux:9::appstream"},
		"rhel-9-for-x86_64-appstream-eus-rpms__9_DOT_2":   {"cpe:/a:redhat:rhel_eus:9.2::appstream"},
		"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2":      {"cpe:/o:redhat:rhel_eus:9.2::baseos"},
		"rhel-9-for-x86_64-appstream-eus-rpms__9_DOT_0":   {"cpe:/a:redhat:rhel_eus:9.0::appstream"},
		"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_0":      {"cpe:/o:redhat:rhel_eus:9.0::baseos"},
		"rhel-8-for-x86_64-baseos-rpms":                   {"cpe:/o:redhat:enterprise_linux:8::baseos"},
		"rhel-8-for-x86_64-appstream-rpms":                {"cpe:/a:redhat:enterprise_linux:8::appstream"},
		"rhel-8-for-x86_64-appstream-eus-rpms__8_DOT_6":   {"cpe:/a:redhat:rhel_eus:8.6::appstream"},
		"rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6":      {"cpe:/o:redhat:rhel_eus:8.6::baseos"},
		"rhocp-4.16-for-rhel-9-x86_64-rpms":               {"cpe:/a:redhat:openshift:4.16::el9"},
		"rhocp-4.13-for-rhel-8-x86_64-rpms":               {"cpe:/a:redhat:openshift:4.13::el8"},
		"rhel-10-for-x86_64-baseos-rpms":                  {"cpe:/o:redhat:enterprise_linux:10.0::baseos", "cpe:/o:redhat:enterprise_linux:10.1::baseos"},
		"rhel-10-for-x86_64-baseos-eus-rpms__10_DOT_2":    {"cpe:/o:redhat:enterprise_linux_eus:10.2"},
		"rhel-10-for-x86_64-appstream-eus-rpms__10_DOT_2": {"cpe:/o:redhat:enterprise_linux_eus:10.2"},
	})
}

var issued = time.Date(2025, 2, 12, 0, 0, 0, 0, time.UTC)

// rpmFix builds a Fix from a NEVRA-like "name-[epoch:]version-release.arch".
func rpmFix(product, cpe, nevra string) Fix {
	n, ok := parseNEVRA(nevra)
	if !ok {
		panic(nevra)
	}
	return Fix{Product: product, CPE: cpe, Name: n.name, Epoch: n.epoch, Version: n.version, Release: n.release, Arch: n.arch}
}

func sa(id string, cves []string, fixes ...Fix) Advisory {
	return Advisory{ID: id, Type: TypeOf(id), Severity: SeverityImportant, Issued: issued, Updated: issued, CVEs: cves, Fixes: fixes}
}

// guidanceAdvisories are CVE-2020-11023's libgcc fixes as the guidance
// lists them: RHSA-2025:1346 for the RHEL 9 main stream (BaseOS, AppStream
// and CRB 9.5.0.Z.MAIN) and one advisory for the 9.2 EUS stream; the
// firefox and thunderbird advisories of an 8.6 EUS and an 8 main stream
// (the main stream builds el8_8 are newer than the EUS builds el8_6);
// tomcat and ruby fixes in RHEL 8 AppStream; and a libxml2 CVE fixed on the
// RHEL 8 main stream only.
func guidanceAdvisories() []Advisory {
	cve := []string{"CVE-2020-11023"}
	moz := []string{"CVE-2023-4863", "CVE-2023-5217"}
	return []Advisory{
		sa("RHSA-2025:1346", cve,
			rpmFix("BaseOS-9.5.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos", "libgcc-0:11.5.0-5.el9_5.x86_64"),
			rpmFix("AppStream-9.5.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::appstream", "libgcc-0:11.5.0-5.el9_5.x86_64"),
			rpmFix("CRB-9.5.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::crb", "libgcc-0:11.5.0-5.el9_5.x86_64"),
			rpmFix("BaseOS-9.5.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos", "libgcc-0:11.5.0-5.el9_5.aarch64"),
		),
		sa("RHSA-2099:1347", cve,
			rpmFix("BaseOS-9.2.0.Z.EUS", "cpe:/o:redhat:rhel_eus:9.2::baseos", "libgcc-0:11.3.1-4.4.el9_2.x86_64"),
			rpmFix("AppStream-9.2.0.Z.EUS", "cpe:/a:redhat:rhel_eus:9.2::appstream", "libgcc-0:11.3.1-4.4.el9_2.x86_64"),
		),
		sa("RHSA-2099:5201", moz, // main stream
			rpmFix("AppStream-8.8.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:8::appstream", "firefox-102.15.1-1.el8_8.x86_64"),
			rpmFix("AppStream-9.2.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::appstream", "firefox-102.15.1-1.el9_2.x86_64"),
		),
		sa("RHSA-2099:5202", moz, // 8.6 EUS
			rpmFix("AppStream-8.6.0.Z.EUS", "cpe:/a:redhat:rhel_eus:8.6::appstream", "firefox-102.15.1-1.el8_6.x86_64"),
		),
		sa("RHSA-2099:5203", moz, // 9.0 EUS
			rpmFix("AppStream-9.0.0.Z.EUS", "cpe:/a:redhat:rhel_eus:9.0::appstream", "firefox-102.15.1-1.el9_0.x86_64"),
		),
		sa("RHSA-2099:5211", moz, // main stream
			rpmFix("AppStream-8.8.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:8::appstream", "thunderbird-102.15.1-1.el8_8.x86_64"),
		),
		sa("RHSA-2099:5212", moz, // 8.6 EUS
			rpmFix("AppStream-8.6.0.Z.EUS", "cpe:/a:redhat:rhel_eus:8.6::appstream", "thunderbird-102.15.1-1.el8_6.x86_64"),
		),
		sa("RHSA-2099:6001", []string{"CVE-2099-6001"},
			rpmFix("AppStream-8.10.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:8::appstream", "tomcat-1:9.0.87-1.el8_10.1.noarch"),
			rpmFix("AppStream-8.10.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:8::appstream", "ruby-3.3.5-1.el8_10.x86_64"),
		),
		sa("RHSA-2099:7001", []string{"CVE-2099-7001"}, // no 8.6 EUS fix
			rpmFix("BaseOS-8.10.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:8::baseos", "libxml2-2.9.7-18.el8_10.1.x86_64"),
		),
		{ID: "RHBA-2099:7002", Type: TypeBugFix, Issued: issued, Updated: issued, Fixes: []Fix{ // bug fix, main stream only
			rpmFix("BaseOS-8.10.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:8::baseos", "libxml2-2.9.7-19.el8_10.x86_64"),
		}},
		sa("RHSA-2099:8001", []string{"CVE-2099-8001"},
			rpmFix("BaseOS-10.1.Z", "cpe:/o:redhat:enterprise_linux:10.1", "openssl-1:3.2.2-17.el10_1.x86_64"),
			rpmFix("BaseOS-10.2.Z", "cpe:/o:redhat:enterprise_linux:10.2", "openssl-1:3.2.2-18.el10_2.x86_64"),
		),
	}
}

// guidanceVEX are unfixed entries as VEX documents carry them: major-only
// CPEs, no channel, no versions.
func guidanceVEX() []VEX {
	return []VEX{
		{CVE: "CVE-2099-9001", Severity: SeverityModerate, Affected: []Fix{
			{Product: "red_hat_enterprise_linux_9", CPE: "cpe:/o:redhat:enterprise_linux:9", Name: "libgcc"},
		}},
		{CVE: "CVE-2099-9002", Severity: SeverityModerate, Affected: []Fix{
			{Product: "red_hat_openshift_container_platform_4", CPE: "cpe:/a:redhat:openshift:4", Name: "openshift-clients"},
		}},
		{CVE: "CVE-2099-9003", Severity: SeverityLow, Affected: []Fix{
			{Product: "red_hat_enterprise_linux_10", CPE: "cpe:/o:redhat:enterprise_linux:10", Name: "openssl"},
		}},
		// Unfixed on the 9 main stream, fixed for 9.2 EUS.
		{CVE: "CVE-2099-9004", Severity: SeverityModerate,
			Affected: []Fix{{Product: "red_hat_enterprise_linux_9", CPE: "cpe:/o:redhat:enterprise_linux:9", Name: "bash"}},
			Fixed:    []Fix{rpmFix("BaseOS-9.2.0.Z.EUS", "cpe:/o:redhat:rhel_eus:9.2::baseos", "bash-5.1.8-6.el9_2.1.x86_64")},
		},
	}
}

func guidanceIndex() *Index {
	return NewIndex(guidanceAdvisories(), WithRepoCPE(guidanceRepo()), WithVEX(guidanceVEX()))
}

var (
	// rhel9/python-312 1-25 (the guidance's first image).
	python312 = []string{"rhel-9-for-x86_64-baseos-rpms", "rhel-9-for-x86_64-appstream-rpms"}
	// openshift4/ose-console-rhel9 v4.16.0 (the second): 9.2 EUS.
	oseConsole = []string{"rhel-9-for-x86_64-appstream-eus-rpms__9_DOT_2", "rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"}
	eus86      = []string{"rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6", "rhel-8-for-x86_64-appstream-eus-rpms__8_DOT_6"}
	eus90      = []string{"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_0", "rhel-9-for-x86_64-appstream-eus-rpms__9_DOT_0"}
)

func TestMatchRules(t *testing.T) {
	ix := guidanceIndex()
	type want struct {
		adv, fixed string
		rule       MatchRule
		imageCPE   string
		contentSet string
	}
	tests := []struct {
		name  string
		rule  string // which of the guidance's rules the case shows
		inv   rpmscan.Inventory
		wants []want
	}{
		{name: "python-312: libgcc older than the 9.5 main stream fix", rule: "1,2",
			inv: rpmscan.Inventory{ContentSets: python312, Packages: []rpmscan.Package{pkg("libgcc", "11.3.1-4.3.el9", "x86_64")}},
			wants: []want{{"RHSA-2025:1346", "0:11.5.0-5.el9_5.x86_64", MatchContentSet,
				"cpe:/o:redhat:enterprise_linux:9::baseos", "rhel-9-for-x86_64-baseos-rpms"}}},
		{name: "python-312: libgcc at the fix", rule: "2",
			inv: rpmscan.Inventory{ContentSets: python312, Packages: []rpmscan.Package{pkg("libgcc", "11.5.0-5.el9_5", "x86_64")}}},
		{name: "python-312 on aarch64: the aarch64 build", rule: "1,2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-9-for-aarch64-baseos-rpms", "rhel-9-for-aarch64-appstream-rpms"},
				Packages: []rpmscan.Package{pkg("libgcc", "11.3.1-4.3.el9", "aarch64")}},
			wants: []want{{"RHSA-2025:1346", "0:11.5.0-5.el9_5.aarch64", MatchContentSet,
				"cpe:/o:redhat:enterprise_linux:9::baseos", "rhel-9-for-aarch64-baseos-rpms"}}},
		{name: "ose-console (9.2 EUS): the 9.2 EUS build, not the main stream's", rule: "4",
			inv: rpmscan.Inventory{ContentSets: oseConsole, Packages: []rpmscan.Package{pkg("libgcc", "11.3.1-4.3.el9", "x86_64")}},
			wants: []want{{"RHSA-2099:1347", "0:11.3.1-4.4.el9_2.x86_64", MatchContentSet,
				"cpe:/o:redhat:rhel_eus:9.2::baseos", "rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"}}},
		{name: "ose-console holding the 9.2 EUS fix: no main stream finding", rule: "4",
			inv: rpmscan.Inventory{ContentSets: oseConsole, Packages: []rpmscan.Package{pkg("libgcc", "11.3.1-4.4.el9_2", "x86_64")}}},
		{name: "8.6 EUS firefox holding the EUS fix: main stream el8_8 build not reported", rule: "4",
			inv: rpmscan.Inventory{ContentSets: eus86, Packages: []rpmscan.Package{pkg("firefox", "102.15.1-1.el8_6", "x86_64")}}},
		{name: "8.6 EUS thunderbird holding the EUS fix: not reported", rule: "4",
			inv: rpmscan.Inventory{ContentSets: eus86, Packages: []rpmscan.Package{pkg("thunderbird", "102.15.1-1.el8_6", "x86_64")}}},
		{name: "8.6 EUS firefox older than the EUS fix: the EUS advisory only", rule: "4",
			inv: rpmscan.Inventory{ContentSets: eus86, Packages: []rpmscan.Package{pkg("firefox", "102.15.0-1.el8_6", "x86_64")}},
			wants: []want{{"RHSA-2099:5202", "0:102.15.1-1.el8_6.x86_64", MatchContentSet,
				"cpe:/a:redhat:rhel_eus:8.6::appstream", "rhel-8-for-x86_64-appstream-eus-rpms__8_DOT_6"}}},
		{name: "9.0 EUS firefox holding the EUS fix: main stream el9_2 build not reported", rule: "4",
			inv: rpmscan.Inventory{ContentSets: eus90, Packages: []rpmscan.Package{pkg("firefox", "102.15.1-1.el9_0", "x86_64")}}},
		{name: "8 main stream firefox with the EUS build: the main stream fix", rule: "2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"},
				Packages: []rpmscan.Package{pkg("firefox", "102.15.1-1.el8_6", "x86_64")}},
			wants: []want{{"RHSA-2099:5201", "0:102.15.1-1.el8_8.x86_64", MatchContentSet,
				"cpe:/a:redhat:enterprise_linux:8::appstream", "rhel-8-for-x86_64-appstream-rpms"}}},
		{name: "8.6 EUS libxml2: CVE fixed on the main stream only", rule: "4",
			inv: rpmscan.Inventory{ContentSets: eus86, Packages: []rpmscan.Package{pkg("libxml2", "2.9.7-13.el8_6.1", "x86_64")}},
			wants: []want{{"RHSA-2099:7001", "0:2.9.7-18.el8_10.1.x86_64", MatchMainStream,
				"cpe:/o:redhat:rhel_eus:8.6::baseos", "rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_6"}}},
		{name: "BaseOS-only 8.10 image: no AppStream tomcat or ruby advisories", rule: "2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms"},
				Packages: []rpmscan.Package{pkg("tomcat", "1:9.0.87-1.el8_10", "noarch"), pkg("ruby", "3.3.0-1.el8_10", "x86_64")}}},
		{name: "BaseOS and AppStream 8.10 image: both", rule: "2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"},
				Packages: []rpmscan.Package{pkg("tomcat", "1:9.0.87-1.el8_10", "noarch")}},
			wants: []want{{"RHSA-2099:6001", "1:9.0.87-1.el8_10.1.noarch", MatchContentSet,
				"cpe:/a:redhat:enterprise_linux:8::appstream", "rhel-8-for-x86_64-appstream-rpms"}}},
		{name: "RHEL 10 main stream: minor CPEs from the repository", rule: "1,2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-10-for-x86_64-baseos-rpms"}, Packages: []rpmscan.Package{pkg("openssl", "1:3.2.2-16.el10", "x86_64")}},
			wants: []want{{"RHSA-2099:8001", "1:3.2.2-17.el10_1.x86_64", MatchContentSet,
				"cpe:/o:redhat:enterprise_linux:10.1::baseos", "rhel-10-for-x86_64-baseos-rpms"}}},
		{name: "RHEL 10.2 EUS: its own minor", rule: "2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-10-for-x86_64-baseos-eus-rpms__10_DOT_2"}, Packages: []rpmscan.Package{pkg("openssl", "1:3.2.2-16.el10", "x86_64")}},
			wants: []want{{"RHSA-2099:8001", "1:3.2.2-18.el10_2.x86_64", MatchMainStream,
				"cpe:/o:redhat:enterprise_linux_eus:10.2", "rhel-10-for-x86_64-baseos-eus-rpms__10_DOT_2"}}},
		{name: "no content sets: os-release RHEL 8 checks /o and /a", rule: "fallback",
			inv:   rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel", VersionID: "8.10"}, Packages: []rpmscan.Package{pkg("tomcat", "1:9.0.87-1.el8_10", "noarch")}},
			wants: []want{{"RHSA-2099:6001", "1:9.0.87-1.el8_10.1.noarch", MatchOSRelease, "cpe:/a:redhat:enterprise_linux:8", ""}}},
		{name: "no content sets: os-release RHEL 10 covers its minors", rule: "fallback",
			inv:   rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel", VersionID: "10.0"}, Packages: []rpmscan.Package{pkg("openssl", "1:3.2.2-16.el10", "x86_64")}},
			wants: []want{{"RHSA-2099:8001", "1:3.2.2-18.el10_2.x86_64", MatchOSRelease, "cpe:/o:redhat:enterprise_linux:10", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Match(&tt.inv)
			require.Len(t, got, len(tt.wants), "%+v", got)
			for i, w := range tt.wants {
				f := got[i]
				assert.Equal(t, w.adv, f.Advisory)
				assert.Equal(t, w.fixed, f.Fixed)
				assert.Equal(t, w.rule, f.Match)
				assert.Equal(t, w.rule == MatchMainStream, f.MainStream)
				assert.Equal(t, w.imageCPE, f.ImageCPE)
				assert.Equal(t, w.contentSet, f.ContentSet)
			}
		})
	}
}

func TestUnfixedRules(t *testing.T) {
	ix := guidanceIndex()
	tests := []struct {
		name     string
		inv      rpmscan.Inventory
		cve      string // "" = nothing reported
		rule     MatchRule
		imageCPE string
	}{
		{name: "python-312: unfixed on RHEL 9 (direct)", cve: "CVE-2099-9001", rule: MatchContentSet, imageCPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
			inv: rpmscan.Inventory{ContentSets: python312, Packages: []rpmscan.Package{pkg("libgcc", "11.5.0-5.el9_5", "x86_64")}}},
		{name: "AppStream-only RHEL 9: the /o unfixed entry is another part",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-9-for-x86_64-appstream-rpms"}, Packages: []rpmscan.Package{pkg("libgcc", "11.5.0-5.el9_5", "x86_64")}}},
		{name: "ose-console: unfixed on the main stream (rule 4)", cve: "CVE-2099-9001", rule: MatchMainStream, imageCPE: "cpe:/o:redhat:rhel_eus:9.2::baseos",
			inv: rpmscan.Inventory{ContentSets: oseConsole, Packages: []rpmscan.Package{pkg("libgcc", "11.3.1-4.4.el9_2", "x86_64")}}},
		{name: "ose-console: unfixed on main, fixed for 9.2 EUS: not reported",
			inv: rpmscan.Inventory{ContentSets: oseConsole, Packages: []rpmscan.Package{pkg("bash", "5.1.8-6.el9_2.1", "x86_64")}}},
		{name: "main stream: unfixed bash reported", cve: "CVE-2099-9004", rule: MatchContentSet, imageCPE: "cpe:/o:redhat:enterprise_linux:9::baseos",
			inv: rpmscan.Inventory{ContentSets: python312, Packages: []rpmscan.Package{pkg("bash", "5.1.8-6.el9", "x86_64")}}},
		{name: "OpenShift 4.13 on RHEL 8: major-only openshift:4 (rule 3)", cve: "CVE-2099-9002", rule: MatchMajorVersion, imageCPE: "cpe:/a:redhat:openshift:4.13::el8",
			inv: rpmscan.Inventory{ContentSets: []string{"rhocp-4.13-for-rhel-8-x86_64-rpms"}, Packages: []rpmscan.Package{pkg("openshift-clients", "4.13.0-1.el8", "x86_64")}}},
		{name: "OpenShift 4.16 on RHEL 9: major-only openshift:4 (rule 3)", cve: "CVE-2099-9002", rule: MatchMajorVersion, imageCPE: "cpe:/a:redhat:openshift:4.16::el9",
			inv: rpmscan.Inventory{ContentSets: []string{"rhocp-4.16-for-rhel-9-x86_64-rpms"}, Packages: []rpmscan.Package{pkg("openshift-clients", "4.16.0-1.el9", "x86_64")}}},
		{name: "RHEL 10.0 main stream: major-only enterprise_linux:10 (rule 3)", cve: "CVE-2099-9003", rule: MatchMajorVersion, imageCPE: "cpe:/o:redhat:enterprise_linux:10.0::baseos",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-10-for-x86_64-baseos-rpms"}, Packages: []rpmscan.Package{pkg("openssl", "1:3.2.2-18.el10_2", "x86_64")}}},
		{name: "RHEL 10.2 EUS: major-only main stream (rules 3 and 4)", cve: "CVE-2099-9003", rule: MatchMainStream, imageCPE: "cpe:/o:redhat:enterprise_linux_eus:10.2",
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-10-for-x86_64-baseos-eus-rpms__10_DOT_2"}, Packages: []rpmscan.Package{pkg("openssl", "1:3.2.2-18.el10_2", "x86_64")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Unfixed(&tt.inv)
			if tt.cve == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1, "%+v", got)
			assert.Equal(t, tt.cve, got[0].CVE)
			assert.Equal(t, tt.rule, got[0].Match)
			assert.Equal(t, tt.imageCPE, got[0].ImageCPE)
		})
	}
}

// TestCPEMatchAgreesWithIndex checks that CPEMatch and the Index decide
// alike: for every pair of an image CPE (through a content set) and a
// product CPE, a fixed and an unfixed entry of that product match the image
// under a non-main-stream rule exactly when CPEMatch says so.
func TestCPEMatchAgreesWithIndex(t *testing.T) {
	cpes := []string{
		"cpe:/o:redhat:enterprise_linux:9::baseos", "cpe:/a:redhat:enterprise_linux:9::appstream",
		"cpe:/o:redhat:enterprise_linux:9", "cpe:/a:redhat:enterprise_linux:9", "cpe:/o:redhat:enterprise_linux:8",
		"cpe:/o:redhat:rhel_eus:9.2::baseos", "cpe:/a:redhat:rhel_eus:9.2::appstream", "cpe:/o:redhat:rhel_eus:9.4::baseos",
		"cpe:/a:redhat:openshift:4", "cpe:/a:redhat:openshift:4.13::el8", "cpe:/a:redhat:openshift:4.16::el9", "cpe:/a:redhat:openshift:4.16",
		"cpe:/o:redhat:enterprise_linux:10", "cpe:/o:redhat:enterprise_linux:10.0", "cpe:/o:redhat:enterprise_linux_eus:10.2",
		"cpe:2.3:o:redhat:enterprise_linux:9:*:*:*:*:*:*:*",
	}
	matched := 0
	for _, image := range cpes {
		repo := NewRepoCPE(map[string][]string{"r": {image}})
		inv := &rpmscan.Inventory{ContentSets: []string{"r"}, Packages: []rpmscan.Package{pkg("p", "1.0-1", "x86_64")}}
		for _, product := range cpes {
			want := CPEMatch(image, product)
			adv := sa("RHSA-2099:0042", []string{"CVE-2099-0042"}, Fix{Product: "P", CPE: product, Name: "p", Version: "1.0", Release: "2", Arch: "x86_64"})
			vex := VEX{CVE: "CVE-2099-0043", Affected: []Fix{{Product: "P", CPE: product, Name: "p"}}}
			ix := NewIndex([]Advisory{adv}, WithRepoCPE(repo), WithVEX([]VEX{vex}))
			direct := func(r MatchRule) bool { return r == MatchContentSet || r == MatchMajorVersion }
			fs := ix.Match(inv)
			assert.Equal(t, want, len(fs) == 1 && direct(fs[0].Match), "fixed: image %s, product %s: %+v", image, product, fs)
			us := ix.Unfixed(inv)
			assert.Equal(t, want, len(us) == 1 && direct(us[0].Match), "unfixed: image %s, product %s: %+v", image, product, us)
			if want {
				matched++
			}
		}
	}
	assert.Greater(t, matched, len(cpes), "the grid has matches besides the diagonal")
}
