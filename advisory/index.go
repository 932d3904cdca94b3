package advisory

import (
	"cmp"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openabs/abs/internal/rpmver"
	"github.com/openabs/abs/rpmscan"
)

// Index answers which advisories an image has not applied. It is built once
// from a set of advisories (and optionally VEX documents and the
// repository-to-CPE map) and is then read-only: Match may be called from
// many goroutines.
type Index struct {
	advs    []advMeta
	byID    map[string]int32
	names   map[string][]*group
	unfixed map[string][]unfixedEntry
	vex     []vexMeta
	// vexFixed holds, per VEX document, the packages and targets its fixed
	// entries name, for the main-stream rule of unfixed entries.
	vexFixed [][]nameTarget
	prods    []prodInfo

	targets []string            // target id -> key ("redhat:enterprise_linux:9" or "eco:AlmaLinux:9")
	exact   map[string]uint32   // key -> target id
	major   map[string][]uint32 // "vendor:product:major" -> targets with that major and a minor
	repo    *RepoCPE
	images  map[string][]imageEntry // repository path -> fixed images
	// unfixedImages: repository path -> VEX entries of unfixed images.
	unfixedImages map[string][]unfixedImage
}

type advMeta struct {
	id       string
	typ      Type
	severity Severity
	issued   time.Time
	cves     []string
	url      string
	names    []string
	repos    []string // repository paths of the images it fixes
}

type vexMeta struct {
	cve      string
	severity Severity
}

type group struct {
	target  uint32
	arch    string // "" = any
	module  string
	entries []entry // ascending EVR
}

type entry struct {
	evr  rpmver.EVR
	adv  int32
	prod uint32 // index into Index.prods
}

type prodInfo struct{ product, cpe string }

type nameTarget struct {
	name   string
	target uint32
}

type unfixedEntry struct {
	target uint32
	arch   string
	module string
	vex    int32
	state  string
	fix    *Fix
}

// IndexOption configures NewIndex.
type IndexOption func(*indexConfig)

type indexConfig struct {
	repo *RepoCPE
	vex  []VEX
}

// WithRepoCPE gives the map used to turn an image's content sets into
// CPEs. Without it, every image is matched by its RHEL major version
// (MatchOSRelease).
func WithRepoCPE(m *RepoCPE) IndexOption { return func(c *indexConfig) { c.repo = m } }

// WithVEX adds VEX documents, whose known_affected and under_investigation
// components Unfixed reports.
func WithVEX(docs []VEX) IndexOption {
	return func(c *indexConfig) { c.vex = append(c.vex, docs...) }
}

// NewIndex builds an Index. Fixes for source packages (arch src or nosrc)
// and fixes without a version are left out; when two advisories share an
// id, the one updated last wins.
func NewIndex(advisories []Advisory, opts ...IndexOption) *Index {
	var cfg indexConfig
	for _, o := range opts {
		o(&cfg)
	}
	ix := &Index{
		byID:    make(map[string]int32, len(advisories)),
		names:   map[string][]*group{},
		unfixed: map[string][]unfixedEntry{},
		exact:   map[string]uint32{},
		major:   map[string][]uint32{},
		repo:    cfg.repo,
	}
	// Latest version of each id wins.
	chosen := make([]int, 0, len(advisories))
	pos := map[string]int{}
	for i := range advisories {
		a := &advisories[i]
		if j, ok := pos[a.ID]; ok {
			if !a.Updated.Before(advisories[chosen[j]].Updated) {
				chosen[j] = i
			}
			continue
		}
		pos[a.ID] = len(chosen)
		chosen = append(chosen, i)
	}
	// Two passes: the first assigns every fix to its group and counts, the
	// second fills one shared backing array, so that building allocates
	// little besides the index itself.
	type gkey struct {
		name, target, arch, module uint32
	}
	type prodKey struct{ product, cpe string }
	var (
		groupIDs  = map[gkey]int32{}
		groupList []*group
		counts    []int32
		nameIDs   = map[string]uint32{}
		nameList  []string
		small     = map[string]uint32{} // arch and module strings
		smallList []string
		prodIDs   = map[prodKey]uint32{}
		cpeTarget = map[string]int64{} // raw CPE or ecosystem -> target, -1 unusable
		fixGroup  []int32
	)
	// Consecutive fixes mostly share product, name, arch: remember the last
	// lookups.
	var (
		lastRaw, lastName, lastArch, lastModule string
		lastT                                   int64 = -2
		lastN, lastA, lastM                     uint32
		lastPK                                  prodKey
		lastPID                                 uint32
		havePK                                  bool
	)
	internSmall := func(s string) uint32 {
		if v, ok := small[s]; ok {
			return v
		}
		v := uint32(len(smallList))
		small[s] = v
		smallList = append(smallList, s)
		return v
	}
	internSmall("") // id 0: what lastArch and lastModule start as
	for _, i := range chosen {
		a := &advisories[i]
		for fi := range a.Fixes {
			f := &a.Fixes[fi]
			if f.Arch == "src" || f.Arch == "nosrc" || f.Version == "" || f.Name == "" {
				fixGroup = append(fixGroup, -1)
				continue
			}
			raw := f.CPE
			if raw == "" {
				raw = "eco:" + f.Product
			}
			t := lastT
			if raw != lastRaw || t == -2 {
				var ok bool
				t, ok = cpeTarget[raw]
				if !ok {
					t = -1
					if tt, ok := ix.target(f); ok {
						t = int64(tt)
					}
					cpeTarget[raw] = t
				}
				lastRaw, lastT = raw, t
			}
			if t < 0 {
				fixGroup = append(fixGroup, -1)
				continue
			}
			if f.Name != lastName {
				n, ok := nameIDs[f.Name]
				if !ok {
					n = uint32(len(nameList))
					nameIDs[f.Name] = n
					nameList = append(nameList, f.Name)
				}
				lastName, lastN = f.Name, n
			}
			if f.Arch != lastArch {
				lastArch, lastA = f.Arch, internSmall(f.Arch)
			}
			if f.Module != lastModule {
				lastModule, lastM = f.Module, internSmall(f.Module)
			}
			k := gkey{name: lastN, target: uint32(t), arch: lastA, module: lastM}
			g, ok := groupIDs[k]
			if !ok {
				g = int32(len(groupList))
				groupIDs[k] = g
				gr := &group{target: uint32(t), arch: f.Arch, module: f.Module}
				groupList = append(groupList, gr)
				counts = append(counts, 0)
				ix.names[f.Name] = append(ix.names[f.Name], gr)
			}
			counts[g]++
			fixGroup = append(fixGroup, g)
		}
	}
	backing := make([]entry, len(fixGroup))
	off := 0
	for g, gr := range groupList {
		gr.entries = backing[off : off : off+int(counts[g])]
		off += int(counts[g])
	}
	fi := 0
	for _, i := range chosen {
		a := &advisories[i]
		ai := int32(len(ix.advs))
		ix.byID[a.ID] = ai
		m := advMeta{id: a.ID, typ: a.Type, severity: a.Severity, issued: a.Issued, cves: a.CVEs, url: a.URL}
		if m.typ == "" {
			m.typ = TypeOf(a.ID)
		}
		for j := range a.Fixes {
			g := fixGroup[fi]
			fi++
			if g < 0 {
				continue
			}
			f := &a.Fixes[j]
			pk := prodKey{f.Product, f.CPE}
			if !havePK || pk != lastPK {
				pid, ok := prodIDs[pk]
				if !ok {
					pid = uint32(len(ix.prods))
					prodIDs[pk] = pid
					ix.prods = append(ix.prods, prodInfo{product: f.Product, cpe: f.CPE})
				}
				lastPK, lastPID, havePK = pk, pid, true
			}
			pid := lastPID
			gr := groupList[g]
			gr.entries = append(gr.entries, entry{
				evr: rpmver.EVR{Epoch: f.Epoch, Version: f.Version, Release: f.Release},
				adv: ai, prod: pid,
			})
			if len(m.names) == 0 || m.names[len(m.names)-1] != f.Name {
				m.names = append(m.names, f.Name)
			}
		}
		slices.Sort(m.names)
		m.names = slices.Compact(m.names)
		ix.advs = append(ix.advs, m)
		for _, im := range a.Images {
			p, ok := repoPath(im.Repository)
			if !ok || im.Digest == "" {
				continue
			}
			pk := prodKey{im.Product, im.CPE}
			pid, ok := prodIDs[pk]
			if !ok {
				pid = uint32(len(ix.prods))
				prodIDs[pk] = pid
				ix.prods = append(ix.prods, prodInfo{product: im.Product, cpe: im.CPE})
			}
			key, _ := cpeKey(im.CPE)
			if ix.images == nil {
				ix.images = map[string][]imageEntry{}
			}
			ix.images[p] = append(ix.images[p], imageEntry{adv: ai, prod: pid, key: key, fix: im})
			if m := &ix.advs[ai]; !slices.Contains(m.repos, p) {
				m.repos = append(m.repos, p)
			}
		}
	}
	// Each name's groups are sorted by target, so Match visits only the
	// image's targets.
	for _, gs := range ix.names {
		slices.SortFunc(gs, func(a, b *group) int {
			return cmp.Or(cmp.Compare(a.target, b.target), cmp.Compare(a.arch, b.arch), cmp.Compare(a.module, b.module))
		})
	}
	for _, g := range groupList {
		slices.SortFunc(g.entries, func(a, b entry) int {
			if c := a.evr.Compare(b.evr); c != 0 {
				return c
			}
			return cmp.Compare(a.adv, b.adv)
		})
	}
	for vi := range cfg.vex {
		v := &cfg.vex[vi]
		ix.vex = append(ix.vex, vexMeta{cve: v.CVE, severity: v.Severity})
		add := func(l []Fix, state string) {
			for i := range l {
				f := &l[i]
				if f.Arch == "src" || f.Arch == "nosrc" || f.Name == "" {
					continue
				}
				t, ok := ix.target(f)
				if !ok {
					continue
				}
				ix.unfixed[f.Name] = append(ix.unfixed[f.Name], unfixedEntry{
					target: t, arch: f.Arch, module: f.Module, vex: int32(vi), state: state, fix: f,
				})
			}
		}
		add(v.Affected, StateAffected)
		add(v.UnderInvestigation, StateUnderInvestigation)
		var fixed []nameTarget
		for i := range v.Fixed {
			f := &v.Fixed[i]
			if f.Arch == "src" || f.Arch == "nosrc" || f.Name == "" {
				continue
			}
			if t, ok := ix.target(f); ok && !slices.Contains(fixed, nameTarget{f.Name, t}) {
				fixed = append(fixed, nameTarget{f.Name, t})
			}
		}
		ix.vexFixed = append(ix.vexFixed, fixed)
		for _, ui := range v.UnfixedImages {
			p, ok := repoPath(ui.Repository)
			if !ok {
				continue
			}
			key, _ := cpeKey(ui.CPE)
			if ix.unfixedImages == nil {
				ix.unfixedImages = map[string][]unfixedImage{}
			}
			ix.unfixedImages[p] = append(ix.unfixedImages[p], unfixedImage{vex: int32(vi), key: key, im: ui})
		}
	}
	return ix
}

// target interns the product a fix applies to.
func (ix *Index) target(f *Fix) (uint32, bool) {
	var key string
	if f.CPE != "" {
		k, ok := cpeKey(f.CPE)
		if !ok {
			return 0, false
		}
		key = k
	} else if f.Product != "" {
		key = "eco:" + f.Product
	} else {
		return 0, false
	}
	if t, ok := ix.exact[key]; ok {
		return t, true
	}
	t := uint32(len(ix.targets))
	ix.targets = append(ix.targets, key)
	ix.exact[key] = t
	if mk := majorKey(key); mk != "" {
		ix.major[mk] = append(ix.major[mk], t)
	}
	return t, true
}

// Len returns the number of advisories indexed.
func (ix *Index) Len() int { return len(ix.advs) }

// PackageNames returns the sorted binary package names an advisory fixes,
// or nil when the advisory is not indexed. With it a caller can keep a
// reverse index from advisories to the images holding those packages.
func (ix *Index) PackageNames(id string) []string {
	i, ok := ix.byID[id]
	if !ok {
		return nil
	}
	return slices.Clone(ix.advs[i].names)
}

// ImageRepositories returns the sorted repositories
// ("registry.redhat.io/openshift4/ose-console-rhel9") of the container
// images an advisory fixes, or nil when it fixes none or is not indexed:
// with it a caller can find the images built on one of them.
func (ix *Index) ImageRepositories(id string) []string {
	i, ok := ix.byID[id]
	if !ok || len(ix.advs[i].repos) == 0 {
		return nil
	}
	out := make([]string, len(ix.advs[i].repos))
	for j, p := range ix.advs[i].repos {
		out[j] = "registry.redhat.io/" + p
	}
	slices.Sort(out)
	return out
}

// applicable is the set of targets an image's packages are matched
// against, how the image's CPEs were found (rule), and by which rule each
// target was reached.
type applicable struct {
	rule MatchRule
	cpes []string
	ids  []uint32
	via  []via
}

// via says how a target was reached: the rule, the image CPE and the
// content set it came from.
type via struct {
	rule MatchRule
	cpe  string
	repo string
}

func (v via) main() bool { return v.rule == MatchMainStream }

// rank orders rules from the most direct: a target reached by several
// rules keeps the best.
func rank(r MatchRule) int {
	switch r {
	case MatchMajorVersion:
		return 1
	case MatchMainStream:
		return 2
	}
	return 0
}

func (a *applicable) add(t uint32, v via) {
	for i, x := range a.ids {
		if x == t {
			if rank(v.rule) < rank(a.via[i].rule) {
				a.via[i] = v
			}
			return
		}
	}
	a.ids = append(a.ids, t)
	a.via = append(a.via, v)
}

func (a *applicable) lookup(t uint32) (via, bool) {
	for i, x := range a.ids {
		if x == t {
			return a.via[i], true
		}
	}
	return via{}, false
}

// addKey adds the target of key; with minors, a major-only key also adds
// the targets of its minors (the OS-release fallback of RHEL 10 on, whose
// main stream CPEs carry minors).
func (ix *Index) addKey(a *applicable, key string, v via, minors bool) {
	if t, ok := ix.exact[key]; ok {
		a.add(t, v)
	}
	if minors && majorKey(key) == "" {
		for _, t := range ix.major[key] {
			a.add(t, v)
		}
	}
}

var elRe = regexp.MustCompile(`\.el(\d+)`)

// applicableTo decides which products apply to an image, following Red
// Hat's guidance: each CPE its content sets map to is checked on its first
// five segments (part kept, channel dropped), then in its major-only form,
// then, for extended-support streams, as its main stream (see imageKeys).
// Without content sets the map knows, the RHEL major version (or the
// distribution's OSV ecosystem) from os-release and the packages' .elN
// release suffixes decides.
func (ix *Index) applicableTo(inv *rpmscan.Inventory) *applicable {
	a := &applicable{rule: MatchContentSet}
	for _, cs := range inv.ContentSets {
		for _, c := range ix.repo.CPEs(cs) {
			k, ok := cpeKey(c)
			if !ok {
				continue
			}
			if !slices.Contains(a.cpes, c) {
				a.cpes = append(a.cpes, c)
			}
			for _, r := range imageKeys(k) {
				ix.addKey(a, r.key, via{rule: r.rule, cpe: c, repo: cs}, false)
			}
		}
	}
	if len(a.cpes) > 0 {
		return a
	}
	a.rule = MatchOSRelease
	id := strings.ToLower(inv.OS.ID)
	major, _, _ := strings.Cut(inv.OS.VersionID, ".")
	if _, err := strconv.Atoi(major); err != nil {
		major = ""
	}
	eco := func(name string) *applicable {
		if major != "" {
			ix.addKey(a, "eco:"+name+":"+major, via{rule: MatchOSRelease}, false)
		}
		return a
	}
	switch id {
	case "almalinux":
		return eco("AlmaLinux")
	case "rocky":
		return eco("Rocky Linux")
	case "ol":
		return eco("Oracle Linux")
	case "rhel", "":
	default:
		if !strings.Contains(inv.OS.CPEName, ":redhat:enterprise_linux:") {
			return a
		}
	}
	if major == "" {
		major = elMajor(inv.Packages)
	}
	if major == "" {
		return a
	}
	// RHEL 9 and earlier use /o for BaseOS and /a for AppStream; RHEL 10
	// uses /o for everything, with minors in its main stream CPEs.
	parts := []string{"o", "a"}
	n, _ := strconv.Atoi(major)
	if n >= 10 {
		parts = parts[:1]
	}
	for _, part := range parts {
		key := part + ":redhat:enterprise_linux:" + major
		c := keyString(key)
		a.cpes = append(a.cpes, c)
		ix.addKey(a, key, via{rule: MatchOSRelease, cpe: c}, n >= 10)
	}
	return a
}

// elMajor returns the RHEL major most packages' releases name (".el9…").
func elMajor(pkgs []rpmscan.Package) string {
	counts := map[string]int{}
	best, n := "", 0
	for _, p := range pkgs {
		m := elRe.FindStringSubmatch(p.Release)
		if m == nil {
			continue
		}
		counts[m[1]]++
		if c := counts[m[1]]; c > n || (c == n && m[1] < best) {
			best, n = m[1], c
		}
	}
	return best
}

func archCompatible(fixArch, pkgArch string) bool {
	return fixArch == "" || fixArch == pkgArch || fixArch == "noarch" || pkgArch == "noarch"
}

// Match returns a finding for every advisory not applied to an installed
// package: same name, compatible arch (equal, or either side noarch),
// same module name:stream (modular fixes never match non-modular packages
// and the other way round), a product that applies to the image, and an
// installed EVR older than a build of the advisory for the image's own
// streams (an extended-support image holding its stream's build has
// applied an advisory whose main-stream build is newer; see the package
// documentation). Each finding's Match, ContentSet and ImageCPE say which
// of Red Hat's product rules made the product apply (see MatchRule). RPM
// findings are sorted by package name, arch, installed EVR (RPM order),
// issue date and advisory id; findings of the image's Red Hat base
// (MatchBaseImage: a container-image advisory fixes the base) follow, by
// issue date and id.
func (ix *Index) Match(inv *rpmscan.Inventory) []Finding {
	if inv == nil {
		return nil
	}
	return append(ix.match(inv, ix.applicableTo(inv)), ix.baseFindings(inv)...)
}

type candidate struct {
	e     *entry
	arch  string
	main  bool
	via   int32 // index into applicable.via
	exact bool  // the fix's CPE is one of the image's, verbatim
}

func (ix *Index) match(inv *rpmscan.Inventory, app *applicable) []Finding {
	var hits, best []hit
	var applied, checked []int32
	var cands []candidate
	var groups []appGroup
	for pi := range inv.Packages {
		p := &inv.Packages[pi]
		gs := ix.names[p.Name]
		if len(gs) == 0 || p.Arch == "src" {
			continue
		}
		inst := rpmver.EVR{Epoch: p.Epoch, Version: p.Version, Release: p.Release}
		mod := p.ModuleStream()
		cands, groups = cands[:0], groups[:0]
		for ti, t := range app.ids {
			v := app.via[ti]
			main := v.main()
			k, _ := slices.BinarySearchFunc(gs, t, func(g *group, t uint32) int { return cmp.Compare(g.target, t) })
			for ; k < len(gs) && gs[k].target == t; k++ {
				g := gs[k]
				if g.module != mod || !archCompatible(g.arch, p.Arch) {
					continue
				}
				groups = append(groups, appGroup{g: g, main: main})
				es := g.entries
				if es[len(es)-1].evr.Compare(inst) <= 0 {
					continue // the common case: installed is at least the newest fix
				}
				// First entry newer than the installed package.
				i := sort.Search(len(es), func(i int) bool { return es[i].evr.Compare(inst) > 0 })
				for j := i; j < len(es); j++ {
					cands = append(cands, candidate{e: &es[j], arch: g.arch, main: main, via: int32(ti)})
				}
			}
		}
		if len(cands) == 0 {
			continue
		}
		// Decide once per advisory whether the package has applied it (see
		// appliedBy); applied and checked hold the advisories decided.
		applied, checked = applied[:0], checked[:0]
		instStream := minorStream(inst.Release)
		best = best[:0]
	cand:
		for _, c := range cands {
			if !slices.Contains(checked, c.e.adv) {
				checked = append(checked, c.e.adv)
				ok, own := appliedBy(c.e.adv, inst, instStream, groups)
				// Rule 4: the main stream counts only for CVEs without a
				// fix for the image's own streams.
				if ok || (!own && ix.ownStreamFixed(c.e.adv, app)) {
					applied = append(applied, c.e.adv)
				}
			}
			if slices.Contains(applied, c.e.adv) {
				continue
			}
			c.exact = slices.Contains(app.cpes, ix.prods[c.e.prod].cpe)
			for i := range best {
				if best[i].adv == c.e.adv {
					if better(c, best[i].c) {
						best[i].c = c
					}
					continue cand
				}
			}
			best = append(best, hit{pkg: pi, adv: c.e.adv, c: c})
		}
		hits = append(hits, best...)
	}
	// Sort the small hits, then build the (large) findings once, in order.
	slices.SortFunc(hits, func(a, b hit) int {
		pa, pb := &inv.Packages[a.pkg], &inv.Packages[b.pkg]
		if c := cmp.Or(cmp.Compare(pa.Name, pb.Name), cmp.Compare(pa.Arch, pb.Arch)); c != 0 {
			return c
		}
		if a.pkg != b.pkg {
			ea := rpmver.EVR{Epoch: pa.Epoch, Version: pa.Version, Release: pa.Release}
			eb := rpmver.EVR{Epoch: pb.Epoch, Version: pb.Version, Release: pb.Release}
			return cmp.Or(ea.Compare(eb), cmp.Compare(a.pkg, b.pkg))
		}
		ma, mb := &ix.advs[a.adv], &ix.advs[b.adv]
		return cmp.Or(ma.issued.Compare(mb.issued), cmp.Compare(ma.id, mb.id))
	})
	out := make([]Finding, 0, len(hits))
	installed, last := "", -1
	for _, h := range hits {
		p := &inv.Packages[h.pkg]
		if h.pkg != last {
			installed, last = p.EVR()+"."+p.Arch, h.pkg
		}
		c, m := h.c, &ix.advs[h.adv]
		v := &app.via[c.via]
		arch := c.arch
		if arch == "" {
			arch = p.Arch
		}
		fixedArch := c.e.evr.String() + "." + arch
		fixed := fixedArch[:len(fixedArch)-len(arch)-1]
		out = append(out, Finding{
			Advisory: m.id, Severity: m.severity, Issued: m.issued, CVEs: slices.Clone(m.cves),
			Package: p.Name, Installed: installed, Fixed: fixedArch,
			ProductCPE: ix.prods[c.e.prod].cpe, Match: v.rule,
			Arch: p.Arch, Module: p.ModuleStream(), FixedEVR: fixed, Product: ix.prods[c.e.prod].product,
			MainStream: c.main, Type: m.typ, URL: m.url,
			ContentSet: v.repo, ImageCPE: v.cpe,
		})
	}
	return out
}

// appGroup is a group that applies to an installed package; main is true
// when the group was reached only through the main stream of an
// extended-support image.
type appGroup struct {
	g    *group
	main bool
}

// appliedBy reports whether an installed package has applied advisory adv,
// given the advisory's builds that apply to it (at least one of them newer
// than inst).
//
// The builds of the image's own streams decide: the advisory is applied
// when none of them is newer than inst. When the image's own streams have
// several builds and inst lies between them (an image whose content sets
// name the 9.0, 9.2 and 9.4 EUS streams, holding a package newer than the
// 9.0 build but older than the 9.2 one), the package counts as applied only
// when its release names the minor stream of an older build (".el9_0") and
// of no newer one; otherwise it may be the unpatched build of the newer
// stream, and the advisory is a finding. Main-stream builds reached from an
// extended-support stream decide only when the advisory has no build for
// the image's own streams: then any of them not newer than inst applies it
// (an EUS image holding the EUS build has applied the advisory, though the
// main stream shipped a newer build).
//
// own reports whether the advisory has a build for the image's own streams.
func appliedBy(adv int32, inst rpmver.EVR, instStream string, groups []appGroup) (applied, own bool) {
	var ownNewer, ownOlderSame, ownNewerSame, mainOlder bool
	for _, ag := range groups {
		for k := range ag.g.entries {
			e := &ag.g.entries[k]
			if e.adv != adv {
				continue
			}
			newer := e.evr.Compare(inst) > 0
			if ag.main {
				mainOlder = mainOlder || !newer
				continue
			}
			own = true
			same := instStream != "" && minorStream(e.evr.Release) == instStream
			if newer {
				ownNewer = true
				ownNewerSame = ownNewerSame || same
			} else {
				ownOlderSame = ownOlderSame || same
			}
		}
	}
	if !own {
		return mainOlder, false
	}
	if !ownNewer {
		return true, true
	}
	return ownOlderSame && !ownNewerSame, true
}

// ownStreamFixed reports whether advisory adv, reached only through the
// main stream of an extended-support image, is covered by the image's own
// streams (Red Hat's rule: an xUS image checks the main stream only for a
// CVE that is unfixed or has no fix released to its xUS stream). It is
// when every CVE of adv has a build for one of the image's own streams, in
// an advisory that fixes one of adv's packages; an advisory without CVEs
// (a bug fix or enhancement) never applies to an xUS image through the main
// stream.
func (ix *Index) ownStreamFixed(adv int32, app *applicable) bool {
	m := &ix.advs[adv]
	if len(m.cves) == 0 {
		return true
	}
	var covered []string
	var seen []int32
	for _, name := range m.names {
		gs := ix.names[name]
		for ti, t := range app.ids {
			if app.via[ti].main() {
				continue
			}
			k, _ := slices.BinarySearchFunc(gs, t, func(g *group, t uint32) int { return cmp.Compare(g.target, t) })
			for ; k < len(gs) && gs[k].target == t; k++ {
				for _, e := range gs[k].entries {
					if slices.Contains(seen, e.adv) {
						continue
					}
					seen = append(seen, e.adv)
					for _, cve := range ix.advs[e.adv].cves {
						if slices.Contains(m.cves, cve) && !slices.Contains(covered, cve) {
							covered = append(covered, cve)
						}
					}
				}
			}
		}
	}
	for _, cve := range m.cves {
		if !slices.Contains(covered, cve) {
			return false
		}
	}
	return true
}

// minorStream returns the RHEL minor stream a release was built for,
// "9.2" for "9.el9_2.2" or "2.module+el8.8.0+18745+f1bef313", and "" when
// the release names no minor (".el9").
func minorStream(release string) string {
	for i := 0; i+2 < len(release); i++ {
		if release[i] != 'e' || release[i+1] != 'l' || i == 0 || (release[i-1] != '.' && release[i-1] != '+') {
			continue
		}
		j := i + 2
		for j < len(release) && isDigit(release[j]) {
			j++
		}
		if j == i+2 || j+1 >= len(release) || (release[j] != '_' && release[j] != '.') || !isDigit(release[j+1]) {
			continue
		}
		k := j + 1
		for k < len(release) && isDigit(release[k]) {
			k++
		}
		return release[i+2:j] + "." + release[j+1:k]
	}
	return ""
}

type hit struct {
	pkg int
	adv int32
	c   candidate
}

// better prefers a build of the image's own stream over a main-stream one,
// then the newer build, then a fix whose CPE the image names verbatim.
func better(a, b candidate) bool {
	if a.main != b.main {
		return !a.main
	}
	if c := a.e.evr.Compare(b.e.evr); c != 0 {
		return c > 0
	}
	if a.exact != b.exact {
		return a.exact
	}
	return a.e.prod < b.e.prod
}
