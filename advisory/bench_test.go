package advisory

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openabs/abs/rpmscan"
)

// Synthetic corpus the size of Red Hat's: about 30,000 advisories and 2
// million fixed package builds, spread over RHEL 8 and 9 main, EUS, AUS and
// E4S streams and layered products, four arches and four binary packages per
// source package.
const (
	benchAdvisories = 30_000
	benchSources    = 2_500
	benchSubpkgs    = 4
)

var benchArches = []string{"x86_64", "aarch64", "ppc64le", "s390x"}

type benchProduct struct{ id, cpe string }

func benchProducts() []benchProduct {
	var ps []benchProduct
	for _, major := range []string{"8", "9"} {
		for _, ed := range []string{"baseos", "appstream"} {
			ps = append(ps, benchProduct{fmt.Sprintf("%s-%s.Z.MAIN", ed, major), fmt.Sprintf("cpe:/o:redhat:enterprise_linux:%s::%s", major, ed)})
			for _, minor := range []string{"0", "2", "4", "6", "8"} {
				for _, kind := range []string{"eus", "aus", "e4s"} {
					ps = append(ps, benchProduct{fmt.Sprintf("%s-%s.%s.Z.%s", ed, major, minor, kind), fmt.Sprintf("cpe:/o:redhat:rhel_%s:%s.%s::%s", kind, major, minor, ed)})
				}
			}
		}
	}
	for i := range 20 {
		ps = append(ps, benchProduct{fmt.Sprintf("layered-%d", i), fmt.Sprintf("cpe:/a:redhat:layered_%d:1::el9", i)})
	}
	return ps
}

var benchCorpus = sync.OnceValues(func() ([]Advisory, int) {
	rng := rand.New(rand.NewPCG(1, 2))
	products := benchProducts()
	names := make([][]string, benchSources)
	for s := range names {
		for k := range benchSubpkgs {
			n := "pkg" + strconv.Itoa(s)
			if k > 0 {
				n += "-sub" + strconv.Itoa(k)
			}
			names[s] = append(names[s], n)
		}
	}
	builds := make([]int, benchSources)
	advs := make([]Advisory, benchAdvisories)
	total := 0
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range advs {
		src := rng.IntN(benchSources)
		builds[src]++
		a := &advs[i]
		a.ID = fmt.Sprintf("RHSA-%d:%05d", 2015+i/3000, i)
		a.Type = TypeSecurity
		a.Severity = Severity(1 + rng.IntN(4))
		a.Issued = base.Add(time.Duration(i) * 3 * time.Hour)
		a.Updated = a.Issued
		a.CVEs = []string{fmt.Sprintf("CVE-%d-%05d", 2015+i/3000, i)}
		np := 1 + rng.IntN(7)
		if i%6 == 0 {
			np++
		}
		a.Fixes = make([]Fix, 0, np*benchSubpkgs*len(benchArches))
		for range np {
			p := products[rng.IntN(len(products))]
			version := "1." + strconv.Itoa(builds[src]/10) + "." + strconv.Itoa(builds[src]%10)
			release := strconv.Itoa(builds[src]) + ".el9_" + strconv.Itoa(rng.IntN(6))
			for _, n := range names[src] {
				for _, arch := range benchArches {
					a.Fixes = append(a.Fixes, Fix{Product: p.id, CPE: p.cpe, Name: n, Version: version, Release: release, Arch: arch})
				}
			}
		}
		total += len(a.Fixes)
	}
	return advs, total
})

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkIndexBuild builds the Index of the synthetic corpus and reports
// the heap the Index keeps (index-MiB) besides the corpus itself. The
// cpu-ns/op metrics count the process's CPU time (GC included), which a
// busy shared machine inflates less than wall time.
func BenchmarkIndexBuild(b *testing.B) {
	advs, total := benchCorpus()
	b.ReportAllocs()
	var ix *Index
	before := heapInUse()
	start := cpuTime()
	for b.Loop() {
		ix = NewIndex(advs)
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	ix2 := ix
	after := heapInUse()
	b.ReportMetric(float64(after-before)/(1<<20), "index-MiB")
	b.ReportMetric(float64(len(advs)), "advisories")
	b.ReportMetric(float64(total), "fixes")
	runtime.KeepAlive(ix2)
}

var benchIndex = sync.OnceValue(func() *Index {
	advs, _ := benchCorpus()
	return NewIndex(advs, WithRepoCPE(NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-rpms":    {"cpe:/o:redhat:enterprise_linux:9::baseos"},
		"rhel-9-for-x86_64-appstream-rpms": {"cpe:/a:redhat:enterprise_linux:9::appstream"},
	})))
})

// benchInventory returns 200 x86_64 packages of 50 source packages on the
// RHEL 9 main stream; one source package in ten is one build behind its
// newest fix, the rest are current (or never fixed).
func benchInventory(ix *Index, outdated int) *rpmscan.Inventory {
	inv := &rpmscan.Inventory{ContentSets: []string{"rhel-9-for-x86_64-baseos-rpms", "rhel-9-for-x86_64-appstream-rpms"}}
	for s := 0; s < 50; s++ {
		src := s * 37 % benchSources
		newest := rpmscan.Package{Version: "1.0.0", Release: "0.el9"}
		for _, g := range ix.names["pkg"+strconv.Itoa(src)] {
			if g.arch == "x86_64" && ix.targets[g.target] == "o:redhat:enterprise_linux:9" {
				e := g.entries[len(g.entries)-1].evr
				newest.Version, newest.Release = e.Version, e.Release
			}
		}
		if s%10 < outdated {
			newest.Release = "0.el9" // older than every fix of this version
			newest.Version = "1.0.0"
		}
		for k := range benchSubpkgs {
			p := newest
			p.Name = "pkg" + strconv.Itoa(src)
			if k > 0 {
				p.Name += "-sub" + strconv.Itoa(k)
			}
			p.Arch = "x86_64"
			inv.Packages = append(inv.Packages, p)
		}
	}
	return inv
}

// BenchmarkMatch matches a 200-package inventory, one package in ten
// outdated, against the synthetic corpus.
func BenchmarkMatch(b *testing.B) { benchMatch(b, 1) }

// BenchmarkMatchCurrent matches a 200-package inventory with every package
// current.
func BenchmarkMatchCurrent(b *testing.B) { benchMatch(b, 0) }

// BenchmarkMatchOutdated matches a 200-package inventory older than every
// fix, the worst case: every advisory of every package is a finding.
func BenchmarkMatchOutdated(b *testing.B) { benchMatch(b, 10) }

// benchMatch matches an inventory made by benchInventory(ix, outdated)
// and reports CPU time, findings and packages besides the usual figures.
func benchMatch(b *testing.B, outdated int) {
	ix := benchIndex()
	inv := benchInventory(ix, outdated)
	b.ReportAllocs()
	var n int
	start := cpuTime()
	for b.Loop() {
		n = len(ix.Match(inv))
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n), "findings")
	b.ReportMetric(float64(len(inv.Packages)), "packages")
}

// BenchmarkMatchEUS matches the outdated inventory as a 9.2 EUS image: every
// main-stream candidate goes through the rule that an xUS image checks the
// main stream only for CVEs without a fix for its own stream.
func BenchmarkMatchEUS(b *testing.B) {
	advs, _ := benchCorpus()
	ix := NewIndex(advs, WithRepoCPE(NewRepoCPE(map[string][]string{
		"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2":    {"cpe:/o:redhat:rhel_eus:9.2::baseos"},
		"rhel-9-for-x86_64-appstream-eus-rpms__9_DOT_2": {"cpe:/o:redhat:rhel_eus:9.2::appstream"},
	})))
	inv := benchInventory(ix, 10)
	inv.ContentSets = []string{"rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_2", "rhel-9-for-x86_64-appstream-eus-rpms__9_DOT_2"}
	b.ReportAllocs()
	var n, mainStream int
	start := cpuTime()
	for b.Loop() {
		fs := ix.Match(inv)
		n, mainStream = len(fs), 0
		for _, f := range fs {
			if f.MainStream {
				mainStream++
			}
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(n), "findings")
	b.ReportMetric(float64(mainStream), "main-stream")
}
