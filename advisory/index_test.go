package advisory

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rpmscan"
)

func fixtureIndex(t testing.TB) *Index {
	t.Helper()
	var advs []Advisory
	var vex []VEX
	for _, name := range []string{"csaf/rhsa-2099_0001.json", "csaf/rhba-2099_0002.json", "csaf/cve-2099-1111.json", "osv/alsa-2099_0003.json"} {
		doc := readDoc(t, name)
		if doc.Advisory != nil {
			advs = append(advs, *doc.Advisory)
		} else {
			vex = append(vex, *doc.VEX)
		}
	}
	repo := NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-rpms":               {"cpe:/o:redhat:enterprise_linux:9::baseos"},
		"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2":  {"cpe:/o:redhat:rhel_eus:9.2::baseos"},
		"rhel-8-for-x86_64-appstream-rpms":            {"cpe:/a:redhat:enterprise_linux:8::appstream"},
		"rhel-8-for-x86_64-baseos-rpms":               {"cpe:/o:redhat:enterprise_linux:8::baseos"},
		"rhel-10-for-x86_64-baseos-rpms":              {"cpe:/o:redhat:enterprise_linux:10::baseos"},
		"some-layered-product-for-rhel-9-x86_64-rpms": {"cpe:/a:redhat:layered:1::el9"},
	})
	return NewIndex(advs, WithRepoCPE(repo), WithVEX(vex))
}

func pkg(name, evr, arch string) rpmscan.Package {
	p := rpmscan.Package{Name: name, Arch: arch}
	if e, rest, ok := cut(evr, ":"); ok {
		p.Epoch = atoi(e)
		evr = rest
	}
	p.Version, p.Release, _ = cutLast(evr, "-")
	return p
}

func TestMatch(t *testing.T) {
	ix := fixtureIndex(t)
	main9 := []string{"rhel-9-for-x86_64-baseos-rpms"}
	eus92 := []string{"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"}
	modular := func(p rpmscan.Package, m string) rpmscan.Package { p.Module = m; return p }
	type want struct{ adv, fixed string }
	tests := []struct {
		name  string
		inv   rpmscan.Inventory
		want  []want
		rule  MatchRule
		main  bool
		empty bool
	}{
		{name: "older package on the main stream", rule: MatchContentSet,
			inv:  rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-5.el9_4.x86_64"}}},
		{name: "package at the fixed EVR", empty: true,
			inv: rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-5.el9_4", "x86_64")}}},
		{name: "newer package", empty: true,
			inv: rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.2-1.el9", "x86_64")}}},
		{name: "lower epoch is older", rule: MatchContentSet,
			inv:  rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo", "0:9.9-9.el9", "x86_64")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-5.el9_4.x86_64"}}},
		{name: "other arch has no fix", empty: true,
			inv: rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "s390x")}}},
		{name: "noarch matches noarch", rule: MatchContentSet,
			inv:  rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo-doc", "1:2.0.1-4.el9", "noarch")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-5.el9_4.noarch"}}},
		{name: "source package never matches", empty: true,
			inv: rpmscan.Inventory{ContentSets: main9, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "src")}}},
		{name: "EUS image gets the EUS fix", rule: MatchContentSet,
			inv:  rpmscan.Inventory{ContentSets: eus92, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-3.el9_2", "x86_64")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-3.el9_2.1.x86_64"}}},
		{name: "EUS image with the EUS fix applied", empty: true,
			inv: rpmscan.Inventory{ContentSets: eus92, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-3.el9_2.1", "x86_64")}}},
		// The advisory released its CVE's fix to the 9.2 EUS stream (libfoo),
		// so the EUS image does not check the main stream for it (Red Hat's
		// rule 4); see TestMatchRules for a CVE fixed on the main stream only.
		{name: "EUS image skips the main stream of a CVE fixed for its stream", empty: true,
			inv: rpmscan.Inventory{ContentSets: eus92, Packages: []rpmscan.Package{pkg("libfoo-doc", "1:2.0.1-3.el9_2", "noarch")}}},
		{name: "other product", empty: true,
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}}},
		{name: "modular fix matches the same stream", rule: MatchContentSet,
			inv:  rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-appstream-rpms"}, Packages: []rpmscan.Package{modular(pkg("nodejs", "1:18.19.0-1.module+el8.9.0+20000+bbbbbbbb", "x86_64"), "nodejs:18:8090020240101000000:abcdef12")}},
			want: []want{{"RHBA-2099:0002", "1:18.20.2-1.module+el8.10.0+21500+aaaaaaaa.x86_64"}}},
		{name: "modular fix never matches another stream", empty: true,
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-appstream-rpms"}, Packages: []rpmscan.Package{modular(pkg("nodejs", "1:18.19.0-1.module+el8.9.0+20000+bbbbbbbb", "x86_64"), "nodejs:20:8090020240101000000:abcdef12")}}},
		{name: "modular fix never matches a non-modular package", empty: true,
			inv: rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-appstream-rpms"}, Packages: []rpmscan.Package{pkg("nodejs", "1:18.19.0-1.el8", "x86_64")}}},
		{name: "no content sets: os-release", rule: MatchOSRelease,
			inv:  rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-5.el9_4.x86_64"}}},
		{name: "no content sets and no os-release: .elN", rule: MatchOSRelease,
			inv:  rpmscan.Inventory{Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64"), pkg("bash", "5.1.8-6.el9", "x86_64")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-5.el9_4.x86_64"}}},
		{name: "unknown content sets fall back to os-release", rule: MatchOSRelease,
			inv:  rpmscan.Inventory{ContentSets: []string{"nobody-knows-this-repo"}, OS: rpmscan.OS{ID: "rhel", VersionID: "9.4"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}},
			want: []want{{"RHSA-2099:0001", "1:2.0.1-5.el9_4.x86_64"}}},
		{name: "AlmaLinux through OSV", rule: MatchOSRelease,
			inv:  rpmscan.Inventory{OS: rpmscan.OS{ID: "almalinux", VersionID: "9.4"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}},
			want: []want{{"ALSA-2099:0003", "1:2.0.1-5.el9_4.alma.1.x86_64"}}},
		{name: "Debian matches nothing", empty: true,
			inv: rpmscan.Inventory{OS: rpmscan.OS{ID: "debian", VersionID: "12"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-4.el9", "x86_64")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Match(&tt.inv)
			if tt.empty {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, len(tt.want), "%+v", got)
			for i, w := range tt.want {
				assert.Equal(t, w.adv, got[i].Advisory)
				assert.Equal(t, w.fixed, got[i].Fixed)
				assert.Equal(t, tt.rule, got[i].Match)
				assert.Equal(t, tt.main, got[i].MainStream)
				assert.Equal(t, tt.inv.Packages[0].NEVRA()[len(tt.inv.Packages[0].Name)+1:], got[i].Installed)
			}
		})
	}
}

func TestReportAndUnfixed(t *testing.T) {
	ix := fixtureIndex(t)
	inv := &rpmscan.Inventory{
		ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"},
		Packages: []rpmscan.Package{
			pkg("libfoo", "1:2.0.0-1.el8", "x86_64"),
			pkg("libfoo-tools", "1:2.0.0-1.el8", "x86_64"),
			pkg("libbar", "1.0-1.el8", "x86_64"),
		},
	}
	r := ix.Report(inv)
	assert.Equal(t, MatchContentSet, r.Match)
	assert.Empty(t, r.Findings)
	require.Len(t, r.Unfixed, 2)
	assert.Equal(t, Unfixed{CVE: "CVE-2099-1111", Severity: SeverityImportant, State: StateAffected, Package: "libfoo",
		Installed: "1:2.0.0-1.el8.x86_64", Product: "red_hat_enterprise_linux_8", ProductCPE: "cpe:/o:redhat:enterprise_linux:8", Match: MatchContentSet,
		ContentSet: "rhel-8-for-x86_64-baseos-rpms", ImageCPE: "cpe:/o:redhat:enterprise_linux:8::baseos"}, r.Unfixed[0])
	assert.Equal(t, SeverityLow, r.Unfixed[1].Severity)
	assert.Equal(t, r.Unfixed, ix.Unfixed(inv))
}

func TestUpdatesAndReverseIndex(t *testing.T) {
	ix := fixtureIndex(t)
	assert.Equal(t, []string{"libfoo", "libfoo-doc"}, ix.PackageNames("RHSA-2099:0001"))
	assert.Equal(t, []string{"libfoo", "libfoo-doc"}, readDoc(t, "csaf/rhsa-2099_0001.json").Advisory.PackageNames())
	assert.Nil(t, ix.PackageNames("RHSA-1999:0001"))
	assert.Equal(t, 3, ix.Len())

	// Two advisories fix one package: both are findings, the newest fix wins.
	later := readDoc(t, "csaf/rhsa-2099_0001.json").Advisory
	later.ID, later.Issued = "RHSA-2099:0100", later.Issued.AddDate(0, 1, 0)
	later.Fixes = []Fix{{Product: "BaseOS-9.4.0.Z.MAIN", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos", Name: "libfoo", Epoch: 1, Version: "2.0.2", Release: "1.el9_4", Arch: "x86_64"}}
	first := readDoc(t, "csaf/rhsa-2099_0001.json").Advisory
	ix = NewIndex([]Advisory{*later, *first}, WithRepoCPE(NewRepoCPE(map[string][]string{"r": {"cpe:/o:redhat:enterprise_linux:9::baseos"}})))
	inv := &rpmscan.Inventory{ContentSets: []string{"r"}, Packages: []rpmscan.Package{pkg("libfoo", "1:2.0.1-1.el9", "x86_64")}}
	r := ix.Report(inv)
	require.Len(t, r.Findings, 2)
	assert.Equal(t, "RHSA-2099:0001", r.Findings[0].Advisory, "oldest first")
	assert.Equal(t, "RHSA-2099:0100", r.Findings[1].Advisory)
	require.Len(t, r.Updates, 1)
	assert.Equal(t, Update{Package: "libfoo", Arch: "x86_64", Installed: "1:2.0.1-1.el9.x86_64", Fixed: "1:2.0.2-1.el9_4.x86_64",
		FixedEVR: "1:2.0.2-1.el9_4", Severity: SeverityImportant, Advisories: []string{"RHSA-2099:0001", "RHSA-2099:0100"}}, r.Updates[0])
	assert.Equal(t, r.Findings, ix.Match(inv), "deterministic")
}

func TestCPEMatch(t *testing.T) {
	// Symmetric rows hold both ways round; the others from image to product
	// only. Red Hat compares the first five segments, so the part (/o, /a)
	// counts; a major-only product covers the image's minors, not the other
	// way round.
	tests := []struct {
		image, product  string
		want, symmetric bool
	}{
		{"cpe:/a:redhat:enterprise_linux:9::appstream", "cpe:/a:redhat:enterprise_linux:9::appstream", true, true},
		{"cpe:/o:redhat:enterprise_linux:9", "cpe:/a:redhat:enterprise_linux:9::appstream", false, true},
		{"cpe:/o:redhat:enterprise_linux:8", "cpe:/o:redhat:enterprise_linux:9::baseos", false, true},
		{"cpe:/o:redhat:enterprise_linux:10.0", "cpe:/o:redhat:enterprise_linux:10", true, false},
		{"cpe:/o:redhat:enterprise_linux:10", "cpe:/o:redhat:enterprise_linux:10.0", false, false},
		{"cpe:/a:redhat:openshift:4.13::el8", "cpe:/a:redhat:openshift:4", true, false},
		{"cpe:/a:redhat:rhel_eus:9.2::appstream", "cpe:/a:redhat:rhel_eus:9.4::appstream", false, true},
		{"cpe:/a:redhat:rhel_eus:9.2::appstream", "cpe:/a:redhat:enterprise_linux:9::appstream", false, true},
		{"cpe:2.3:o:redhat:enterprise_linux:9:*:*:*:*:*:*:*", "cpe:/o:redhat:enterprise_linux:9::baseos", true, true},
		{"not a cpe", "cpe:/o:redhat:enterprise_linux:9", false, true},
		{"cpe:/o:redhat:enterprise_linux", "cpe:/o:redhat:enterprise_linux", false, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, CPEMatch(tt.image, tt.product), "%s vs %s", tt.image, tt.product)
		if tt.symmetric {
			assert.Equal(t, tt.want, CPEMatch(tt.product, tt.image), "%s vs %s", tt.product, tt.image)
		}
	}
}

func TestRealDataMatch(t *testing.T) {
	dir := realData(t)
	var advs []Advisory
	var vex []VEX
	files, err := filepath.Glob(filepath.Join(dir, "csaf", "*", "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		doc, err := Parse(data)
		require.NoError(t, err)
		if doc.Advisory != nil {
			advs = append(advs, *doc.Advisory)
		} else {
			vex = append(vex, *doc.VEX)
		}
	}
	repo, err := LoadRepoCPE(t.Context(), filepath.Join(dir, "repository-to-cpe", "repository-to-cpe.json"))
	require.NoError(t, err)
	require.Greater(t, repo.Len(), 1000)
	ix := NewIndex(advs, WithRepoCPE(repo), WithVEX(vex))

	appstream9 := []string{"rhel-9-for-x86_64-baseos-rpms", "rhel-9-for-x86_64-appstream-rpms"}
	t.Run("older tigervnc on RHEL 9.3 AppStream", func(t *testing.T) {
		got := ix.Match(&rpmscan.Inventory{ContentSets: appstream9, Packages: []rpmscan.Package{pkg("tigervnc-server", "1.13.1-3.el9_3.2", "x86_64")}})
		require.Len(t, got, 1)
		f := got[0]
		assert.Equal(t, "RHSA-2024:0010", f.Advisory)
		assert.Equal(t, SeverityImportant, f.Severity)
		assert.Equal(t, "0:1.13.1-3.el9_3.3.x86_64", f.Fixed)
		assert.Equal(t, "cpe:/a:redhat:enterprise_linux:9::appstream", f.ProductCPE)
		assert.Equal(t, MatchContentSet, f.Match)
		assert.Equal(t, "2024-01-02T08:58:34Z", f.Issued.Format("2006-01-02T15:04:05Z07:00"))
		assert.ElementsMatch(t, []string{"CVE-2023-5367", "CVE-2023-6377", "CVE-2023-6478"}, f.CVEs)
	})
	t.Run("tigervnc at the fixed EVR", func(t *testing.T) {
		got := ix.Match(&rpmscan.Inventory{ContentSets: appstream9, Packages: []rpmscan.Package{pkg("tigervnc-server", "1.13.1-3.el9_3.3", "x86_64")}})
		require.Empty(t, got)
	})
	t.Run("EUS image gets the EUS sudo fix", func(t *testing.T) {
		inv := &rpmscan.Inventory{ContentSets: []string{"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"}, Packages: []rpmscan.Package{pkg("sudo", "1.9.5p2-9.el9_2", "x86_64")}}
		got := ix.Match(inv)
		require.Len(t, got, 1)
		assert.Equal(t, "RHSA-2024:0811", got[0].Advisory)
		assert.Equal(t, "0:1.9.5p2-9.el9_2.2.x86_64", got[0].Fixed)
		assert.Equal(t, "cpe:/o:redhat:rhel_eus:9.2::baseos", got[0].ProductCPE)
		assert.False(t, got[0].MainStream)
		inv.Packages[0] = pkg("sudo", "1.9.5p2-9.el9_2.2", "x86_64")
		assert.Empty(t, ix.Match(inv), "the EUS build applies the advisory")
	})
	t.Run("unpatched 9.2 sudo behind the generic EUS repository", func(t *testing.T) {
		// The repository names the 9.0, 9.2 and 9.4 EUS streams; the 9.0
		// build is older than the installed package but does not fix it.
		inv := &rpmscan.Inventory{ContentSets: []string{"rhel-9-for-x86_64-baseos-eus-rpms"}, Packages: []rpmscan.Package{pkg("sudo", "1.9.5p2-9.el9_2", "x86_64")}}
		got := ix.Match(inv)
		require.Len(t, got, 1)
		assert.Equal(t, "RHSA-2024:0811", got[0].Advisory)
		assert.Equal(t, "0:1.9.5p2-9.el9_2.2.x86_64", got[0].Fixed)
		inv.Packages[0] = pkg("sudo", "1.9.5p2-7.el9_0.4", "x86_64")
		assert.Empty(t, ix.Match(inv), "the 9.0 EUS build applies the advisory to a 9.0 package")
	})
	t.Run("main stream image gets the main stream sudo fix", func(t *testing.T) {
		got := ix.Match(&rpmscan.Inventory{ContentSets: appstream9, Packages: []rpmscan.Package{pkg("sudo", "1.9.5p2-9.el9_2.2", "x86_64")}})
		require.Len(t, got, 1)
		assert.Equal(t, "0:1.9.5p2-10.el9_3.x86_64", got[0].Fixed)
	})
	t.Run("ruby:2.7 modular", func(t *testing.T) {
		ruby := pkg("ruby", "2.7.6-138.module+el8.6.0+17540+9b2d9e2a", "x86_64")
		ruby.Module = "ruby:2.7:8060020220527104407:ad008a3a"
		inv := &rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-appstream-eus-rpms__8_DOT_8"}, Packages: []rpmscan.Package{ruby}}
		got := ix.Match(inv)
		require.Len(t, got, 1)
		assert.Equal(t, "RHSA-2023:3821", got[0].Advisory)
		assert.Equal(t, "ruby:2.7", got[0].Module)
		assert.Equal(t, "0:2.7.8-139.module+el8.8.0+18745+f1bef313.x86_64", got[0].Fixed)
		inv.Packages[0].Module = "ruby:3.1:8080020230427102918:63b34585"
		assert.Empty(t, ix.Match(inv), "another stream")
		inv.Packages[0].Module = ""
		assert.Empty(t, ix.Match(inv), "non-modular")
	})
	t.Run("curl on RHEL 8 is not affected by CVE-2023-38545", func(t *testing.T) {
		inv := &rpmscan.Inventory{ContentSets: []string{"rhel-8-for-x86_64-baseos-rpms"}, Packages: []rpmscan.Package{pkg("curl", "7.61.1-30.el8", "x86_64")}}
		assert.Empty(t, ix.Unfixed(inv))
	})
}

// TestMatchSeveralStreams covers advisories that ship one build per stream
// to an image whose content sets name several streams: a package between
// two streams' builds is only applied when its release names the older
// stream.
func TestMatchSeveralStreams(t *testing.T) {
	fix := func(product, cpe, evr, arch string) Fix {
		p := pkg("sudo", evr, arch)
		return Fix{Product: product, CPE: cpe, Name: "sudo", Epoch: p.Epoch, Version: p.Version, Release: p.Release, Arch: arch}
	}
	adv := Advisory{ID: "RHSA-2099:0811", Severity: SeverityImportant, Fixes: []Fix{
		fix("BaseOS-9.0.0.Z.EUS", "cpe:/o:redhat:rhel_eus:9.0::baseos", "1.9.5p2-7.el9_0.4", "x86_64"),
		fix("BaseOS-9.2.0.Z.EUS", "cpe:/o:redhat:rhel_eus:9.2::baseos", "1.9.5p2-9.el9_2.2", "x86_64"),
		fix("BaseOS-9.3.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos", "1.9.5p2-10.el9_3", "x86_64"),
		fix("BaseOS-9.3.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos", "1.9.5p2-10.el9_3", "i686"),
	}}
	repo := NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-rpms":              {"cpe:/o:redhat:enterprise_linux:9::baseos"},
		"rhel-9-for-x86_64-baseos-eus-rpms":          {"cpe:/o:redhat:rhel_eus:9.0::baseos", "cpe:/o:redhat:rhel_eus:9.2::baseos", "cpe:/o:redhat:rhel_eus:9.4::baseos"},
		"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2": {"cpe:/o:redhat:rhel_eus:9.2::baseos"},
	})
	ix := NewIndex([]Advisory{adv}, WithRepoCPE(repo))
	tests := []struct {
		name, repo, evr, arch string
		fixed                 string // "" = no finding
	}{
		{"all EUS streams, unpatched 9.2 build", "rhel-9-for-x86_64-baseos-eus-rpms", "1.9.5p2-9.el9_2", "x86_64", "0:1.9.5p2-9.el9_2.2.x86_64"},
		{"all EUS streams, patched 9.0 build", "rhel-9-for-x86_64-baseos-eus-rpms", "1.9.5p2-7.el9_0.4", "x86_64", ""},
		{"all EUS streams, patched 9.2 build", "rhel-9-for-x86_64-baseos-eus-rpms", "1.9.5p2-9.el9_2.2", "x86_64", ""},
		{"all EUS streams, no stream tag", "rhel-9-for-x86_64-baseos-eus-rpms", "1.9.5p2-8.el9", "x86_64", "0:1.9.5p2-9.el9_2.2.x86_64"},
		{"all EUS streams, older than every build", "rhel-9-for-x86_64-baseos-eus-rpms", "1.9.5p2-7.el9_0.3", "x86_64", "0:1.9.5p2-9.el9_2.2.x86_64"},
		{"EUS 9.2, patched", "rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2", "1.9.5p2-9.el9_2.2", "x86_64", ""},
		{"EUS 9.2, unpatched", "rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2", "1.9.5p2-9.el9_2.1", "x86_64", "0:1.9.5p2-9.el9_2.2.x86_64"},
		{"main stream, EUS build installed", "rhel-9-for-x86_64-baseos-rpms", "1.9.5p2-9.el9_2.2", "x86_64", "0:1.9.5p2-10.el9_3.x86_64"},
		{"main stream, patched", "rhel-9-for-x86_64-baseos-rpms", "1.9.5p2-10.el9_3", "x86_64", ""},
		{"main stream, i686 fixed only by its own build", "rhel-9-for-x86_64-baseos-rpms", "1.9.5p2-9.el9_2", "i686", "0:1.9.5p2-10.el9_3.i686"},
		{"main stream, x86_64 fix never applies to i686", "rhel-9-for-x86_64-baseos-rpms", "1.9.5p2-9.el9_2", "aarch64", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Match(&rpmscan.Inventory{ContentSets: []string{tt.repo}, Packages: []rpmscan.Package{pkg("sudo", tt.evr, tt.arch)}})
			if tt.fixed == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1, "%+v", got)
			assert.Equal(t, tt.fixed, got[0].Fixed)
			assert.False(t, got[0].MainStream)
		})
	}
}

func TestMinorStream(t *testing.T) {
	for rel, want := range map[string]string{
		"9.el9_2.2": "9.2", "10.el9_3": "9.3", "7.el9_0.4": "9.0", "6.el9": "", "1.el8": "",
		"139.module+el8.8.0+18745+f1bef313": "8.8", "1.fc40": "", "": "", "el9_2": "", "1.el9_": "", "1.el_2": "",
	} {
		assert.Equal(t, want, minorStream(rel), rel)
	}
}
