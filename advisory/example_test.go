package advisory_test

import (
	"context"
	"fmt"

	"github.com/openabs/abs/advisory"
	"github.com/openabs/abs/rpmscan"
)

func ExampleIndex_Match() {
	ctx := context.Background()
	st, _, err := advisory.Load(ctx, []string{"testdata/csaf"})
	if err != nil {
		panic(err)
	}
	repo := advisory.NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-rpms": {"cpe:/o:redhat:enterprise_linux:9::baseos"},
	})
	ix := st.Index(advisory.WithRepoCPE(repo))
	inv := &rpmscan.Inventory{
		ContentSets: []string{"rhel-9-for-x86_64-baseos-rpms"},
		Packages: []rpmscan.Package{
			{Name: "libfoo", Epoch: 1, Version: "2.0.1", Release: "4.el9", Arch: "x86_64"},
			{Name: "bash", Version: "5.1.8", Release: "9.el9", Arch: "x86_64"},
		},
	}
	for _, f := range ix.Match(inv) {
		fmt.Println(f.Advisory, f.Severity, f.Package, f.Installed, "->", f.Fixed, f.Match)
	}
	// Output:
	// RHSA-2099:0001 Important libfoo 1:2.0.1-4.el9.x86_64 -> 1:2.0.1-5.el9_4.x86_64 content_set
}

func ExampleParseCSAF() {
	doc, err := advisory.ParseCSAF([]byte(`{
	  "document": {"category": "csaf_security_advisory", "aggregate_severity": {"text": "Moderate"},
	    "tracking": {"id": "RHSA-2099:0005", "initial_release_date": "2099-01-01T00:00:00Z"}},
	  "product_tree": {"branches": [{"category": "product_name", "name": "RHEL 9",
	    "product": {"name": "RHEL 9", "product_id": "BaseOS-9", "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:9::baseos"}}}]},
	  "vulnerabilities": [{"cve": "CVE-2099-0005", "product_status": {"fixed": ["BaseOS-9:zlib-0:1.2.11-40.el9.x86_64"]}}]
	}`))
	if err != nil {
		panic(err)
	}
	a := doc.Advisory
	f := a.Fixes[0]
	fmt.Println(a.ID, a.Type, a.Severity, a.CVEs)
	fmt.Println(f.Name, f.Epoch, f.Version, f.Release, f.Arch, f.CPE)
	// Output:
	// RHSA-2099:0005 RHSA Moderate [CVE-2099-0005]
	// zlib 0 1.2.11 40.el9 x86_64 cpe:/o:redhat:enterprise_linux:9::baseos
}

func ExampleCPEMatch() {
	fmt.Println(advisory.CPEMatch("cpe:/a:redhat:enterprise_linux:9::appstream", "cpe:/a:redhat:enterprise_linux:9"))
	fmt.Println(advisory.CPEMatch("cpe:/o:redhat:enterprise_linux:9::baseos", "cpe:/a:redhat:enterprise_linux:9::appstream"))
	fmt.Println(advisory.CPEMatch("cpe:/a:redhat:openshift:4.16::el9", "cpe:/a:redhat:openshift:4"))
	fmt.Println(advisory.CPEMatch("cpe:/a:redhat:rhel_eus:9.2::appstream", "cpe:/a:redhat:rhel_eus:9.4::appstream"))
	// Output:
	// true
	// false
	// true
	// false
}

func ExampleIndex_Report() {
	st, _, err := advisory.Load(context.Background(), []string{"testdata/csaf"})
	if err != nil {
		panic(err)
	}
	ix := st.Index() // no repository map: images are matched by their RHEL major
	r := ix.Report(&rpmscan.Inventory{
		OS: rpmscan.OS{ID: "rhel", VersionID: "8.10"},
		Packages: []rpmscan.Package{
			{Name: "nodejs", Epoch: 1, Version: "18.19.0", Release: "1.module+el8.9.0+20000+bbbbbbbb", Arch: "x86_64", Module: "nodejs:18:8090020240101000000:abcdef12"},
			{Name: "libfoo", Epoch: 1, Version: "2.0.0", Release: "1.el8", Arch: "x86_64"},
		},
	})
	fmt.Println(r.Match, r.CPEs)
	for _, f := range r.Findings {
		fmt.Println("finding:", f.Advisory, f.Package, f.Installed, "->", f.Fixed, f.Module)
	}
	for _, u := range r.Updates {
		fmt.Println("update:", u.Package, "to", u.FixedEVR, u.Advisories)
	}
	for _, u := range r.Unfixed {
		fmt.Println("unfixed:", u.CVE, u.Severity, u.State, u.Package)
	}
	// Output:
	// os_release [cpe:/o:redhat:enterprise_linux:8 cpe:/a:redhat:enterprise_linux:8]
	// finding: RHBA-2099:0002 nodejs 1:18.19.0-1.module+el8.9.0+20000+bbbbbbbb.x86_64 -> 1:18.20.2-1.module+el8.10.0+21500+aaaaaaaa.x86_64 nodejs:18
	// update: nodejs to 1:18.20.2-1.module+el8.10.0+21500+aaaaaaaa [RHBA-2099:0002]
	// unfixed: CVE-2099-1111 Important known_affected libfoo
}

func ExampleLoadIndex() {
	ix, skipped, err := advisory.LoadIndex(context.Background(), []string{"testdata/csaf", "osv:testdata/osv"}, "testdata/repository-to-cpe.json")
	if err != nil {
		panic(err)
	}
	fmt.Println(ix.Len(), "advisories,", len(skipped), "skipped")
	inv := &rpmscan.Inventory{
		ContentSets: []string{"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2"},
		Packages:    []rpmscan.Package{{Name: "libfoo", Epoch: 1, Version: "2.0.1", Release: "3.el9_2", Arch: "x86_64"}},
	}
	for _, f := range ix.Match(inv) {
		fmt.Println(f.Advisory, f.Package, f.Installed, "->", f.Fixed, f.ProductCPE)
	}
	// Output:
	// 3 advisories, 0 skipped
	// RHSA-2099:0001 libfoo 1:2.0.1-3.el9_2.x86_64 -> 1:2.0.1-3.el9_2.1.x86_64 cpe:/o:redhat:rhel_eus:9.2::baseos
}
