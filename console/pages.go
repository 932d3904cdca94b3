package console

import (
	"cmp"
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/advisory"
)

func gradeClass(g string) string {
	if g == "" || !strings.Contains(grades, g) {
		return "grade grade-none"
	}
	return "grade grade-" + strings.ToLower(g)
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

// fleetRow is one image on the fleet page.
type fleetRow struct {
	Name, Project, Grade string
	Platforms            []string
	NextDrop             *time.Time
	DropDays             int // days until NextDrop (0: today)
	Urgent               []string
	LastState            string
	LastDetail           string
}

type fleetData struct {
	Rows     []fleetRow
	Projects []string
	Grades   []string
	Project  string
	Grade    string
	Sort     string
	Desc     bool
	Columns  []column
	// Cycles are the newest cycles.
	Cycles []abs.CycleInfo
}

type column struct {
	Key, Label string
	Sorted     string // "ascending", "descending" or "" (aria-sort)
	Href       string
}

// urgent returns the Critical and Important advisories of findings, once
// each.
func urgent(findings []advisory.Finding) []string {
	var ids []string
	for _, f := range findings {
		if f.Severity >= advisory.SeverityImportant && !slices.Contains(ids, f.Advisory) {
			ids = append(ids, f.Advisory)
		}
	}
	slices.Sort(ids)
	return ids
}

// worse orders grades worst first; never graded images come last.
func gradeRank(g string) int {
	if g == "" {
		return -1
	}
	return strings.Index(grades, g)
}

func (c *Console) fleetPage(w http.ResponseWriter, r request) {
	sts, err := c.svc.Statuses(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "cannot read the fleet", err)
		return
	}
	q := r.URL.Query()
	d := fleetData{Project: q.Get("project"), Grade: q.Get("grade"), Sort: q.Get("sort"), Desc: q.Get("order") == "desc"}
	if d.Sort == "" {
		d.Sort = "grade"
	}
	now := c.now()
	for _, st := range sts {
		if !r.canRead(st.Image) {
			continue
		}
		p := st.Image.Project()
		if !slices.Contains(d.Projects, p) {
			d.Projects = append(d.Projects, p)
		}
		if (d.Project != "" && p != d.Project) || (d.Grade != "" && st.Grade != d.Grade) {
			continue
		}
		row := fleetRow{Name: st.Image.Name, Project: p, Grade: st.Grade, NextDrop: st.NextDrop, Urgent: urgent(st.Findings)}
		for _, pl := range st.Platforms {
			row.Platforms = append(row.Platforms, pl.Platform)
		}
		if st.NextDrop != nil {
			row.DropDays = max(int(st.NextDrop.Sub(now).Hours()/24), 0)
		}
		if lr := st.LastRebuild; lr != nil {
			row.LastState, row.LastDetail = string(lr.State), lr.Detail
		}
		d.Rows = append(d.Rows, row)
	}
	slices.Sort(d.Projects)
	d.Grades = strings.Split(grades, "")
	sortRows(d.Rows, d.Sort, d.Desc)
	for _, col := range []column{{Key: "name", Label: "Image"}, {Key: "project", Label: "Project"}, {Key: "grade", Label: "Grade"},
		{Key: "platforms", Label: "Platforms"}, {Key: "drop", Label: "Next drop"},
		{Key: "urgent", Label: "Critical/Important advisories"}, {Key: "state", Label: "Last rebuild"}} {
		v := url.Values{"sort": {col.Key}}
		if d.Project != "" {
			v.Set("project", d.Project)
		}
		if d.Grade != "" {
			v.Set("grade", d.Grade)
		}
		if col.Key == d.Sort {
			col.Sorted = "ascending"
			if d.Desc {
				col.Sorted = "descending"
			} else {
				v.Set("order", "desc")
			}
		}
		col.Href = c.prefix + "/?" + v.Encode()
		d.Columns = append(d.Columns, col)
	}
	if d.Cycles, _, err = c.svc.Cycles(r.Context(), 0, 10); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "cannot read the cycles", err)
		return
	}
	c.render(w, r, http.StatusOK, "fleet.html", "Fleet", d)
}

// sortRows sorts by key; ascending "grade" is worst first, ascending
// "drop" soonest first, ascending "urgent" most first.
func sortRows(rows []fleetRow, key string, desc bool) {
	byName := func(a, b fleetRow) int { return cmp.Compare(a.Name, b.Name) }
	byGrade := func(a, b fleetRow) int { return cmp.Compare(gradeRank(b.Grade), gradeRank(a.Grade)) }
	byDrop := func(a, b fleetRow) int {
		switch {
		case a.NextDrop == nil && b.NextDrop == nil:
			return 0
		case a.NextDrop == nil:
			return 1
		case b.NextDrop == nil:
			return -1
		}
		return a.NextDrop.Compare(*b.NextDrop)
	}
	byUrgent := func(a, b fleetRow) int { return cmp.Compare(len(b.Urgent), len(a.Urgent)) }
	var f func(a, b fleetRow) int
	switch key {
	case "name":
		f = byName
	case "project":
		f = func(a, b fleetRow) int { return cmp.Or(cmp.Compare(a.Project, b.Project), byGrade(a, b), byName(a, b)) }
	case "platforms":
		f = func(a, b fleetRow) int { return cmp.Or(cmp.Compare(len(b.Platforms), len(a.Platforms)), byName(a, b)) }
	case "drop":
		f = func(a, b fleetRow) int { return cmp.Or(byDrop(a, b), byGrade(a, b), byName(a, b)) }
	case "urgent":
		f = func(a, b fleetRow) int { return cmp.Or(byUrgent(a, b), byGrade(a, b), byName(a, b)) }
	case "state":
		f = func(a, b fleetRow) int { return cmp.Or(cmp.Compare(a.LastState, b.LastState), byName(a, b)) }
	default: // grade: worst first, then the soonest drop, then the most urgent advisories
		f = func(a, b fleetRow) int { return cmp.Or(byGrade(a, b), byDrop(a, b), byUrgent(a, b), byName(a, b)) }
	}
	slices.SortStableFunc(rows, func(a, b fleetRow) int {
		if desc {
			return f(b, a)
		}
		return f(a, b)
	})
}

// findingRow is a finding with its match path.
type findingRow struct {
	advisory.Finding
	Path []string
}

// matchPath is how a finding matched, step by step: content set → CPE →
// product → fixed build (base-image and os-release matches say so).
func matchPath(f advisory.Finding) []string {
	var p []string
	switch f.Match {
	case advisory.MatchBaseImage:
		p = append(p, "base image")
	case advisory.MatchOSRelease:
		p = append(p, "os-release (no known content set)")
	}
	if f.ContentSet != "" {
		p = append(p, "content set "+f.ContentSet)
	}
	if f.ImageCPE != "" {
		p = append(p, "CPE "+f.ImageCPE)
	}
	if f.ProductCPE != "" && f.ProductCPE != f.ImageCPE {
		p = append(p, "product CPE "+f.ProductCPE)
	}
	if f.Product != "" {
		p = append(p, "product "+f.Product)
	}
	fixed := f.Fixed
	if f.FixedTag != "" {
		fixed = f.FixedTag + " (" + shortDigest(f.Fixed) + ")"
	}
	if fixed != "" {
		p = append(p, "fixed in "+fixed)
	}
	if f.Match != "" {
		p = append(p, "rule "+string(f.Match))
	}
	return p
}

type imageData struct {
	Status   status
	CanEdit  bool
	Chart    template.HTML
	Findings []findingRow
	History  []abs.RebuildReport
	Total    int
	Plan     *abs.Report
	Steps    []abs.PlanStep
	Now      time.Time
}

func (c *Console) readable(w http.ResponseWriter, r request) (abs.Image, bool) {
	img, ok := c.findImage(r.PathValue("name"))
	if !ok || !r.canRead(img) {
		c.fail(w, r, http.StatusNotFound, "no such image", nil)
		return abs.Image{}, false
	}
	return img, true
}

func (c *Console) imagePage(w http.ResponseWriter, r request) {
	img, ok := c.readable(w, r)
	if !ok {
		return
	}
	st, err := c.svc.Status(r.Context(), img.Name)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "cannot read the image's status", err)
		return
	}
	d := imageData{Status: st, CanEdit: r.canEdit(img), Now: c.now()}
	if d.Chart, err = timelineSVG(st.Timeline); err != nil {
		c.log.Error("console: chart", "image", img.Name, "error", err)
	}
	for _, f := range st.Findings {
		d.Findings = append(d.Findings, findingRow{Finding: f, Path: matchPath(f)})
	}
	if d.History, d.Total, err = c.svc.RebuildHistory(r.Context(), img.Name, 0, 20); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "cannot read the rebuild history", err)
		return
	}
	if id := r.URL.Query().Get("plan"); id != "" {
		if rep, err := c.svc.Report(r.Context(), id); err == nil && rep.DryRun {
			d.Plan = rep
			for _, s := range rep.Plan {
				if s.Image == img.Name {
					d.Steps = append(d.Steps, s)
				}
			}
		}
	}
	c.render(w, r, http.StatusOK, "image.html", img.Name, d)
}

type configureData struct {
	Image   abs.Image
	Source  abs.SourceSpec
	RefKind string
	Ref     string
	Owners  string
	Tags    string
	CanEdit bool
}

func refOf(s abs.SourceSpec) (kind, ref string) {
	switch {
	case s.Commit != "":
		return "commit", s.Commit
	case s.Tag != "":
		return "tag", s.Tag
	}
	return "branch", s.Branch
}

func (c *Console) configurePage(w http.ResponseWriter, r request) {
	found, ok := c.readable(w, r)
	if !ok {
		return
	}
	img, err := c.svc.GetImage(r.Context(), found.Name)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "cannot read the image", err)
		return
	}
	d := configureData{Image: img, CanEdit: r.canEdit(img), Owners: strings.Join(img.Owners, "\n"), Tags: strings.Join(img.Tags, "\n")}
	if img.SourceSpec != nil {
		d.Source = *img.SourceSpec
	}
	d.RefKind, d.Ref = refOf(d.Source)
	c.render(w, r, http.StatusOK, "configure.html", "Configure build service: "+img.Name, d)
}

// lines splits a text area into its non-empty lines (commas separate
// too).
func lines(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *Console) saveSettings(w http.ResponseWriter, r request, found abs.Image) {
	ctx := r.actorContext()
	img, err := c.svc.GetImage(ctx, found.Name)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "cannot read the image", err)
		return
	}
	f := r.Request
	on := func(k string) bool { return f.PostFormValue(k) == "on" }
	var u abs.ImageUpdate
	u.IfVersion = img.Version
	if v := f.PostFormValue("version"); v != "" {
		var n int64
		for _, ch := range v {
			if ch < '0' || ch > '9' {
				n = -1
				break
			}
			n = n*10 + int64(ch-'0')
		}
		u.IfVersion = n
	}
	if b := on("build_service"); b != img.BuildService {
		u.BuildService = &b
	}
	if b := on("auto_rebuild"); b != img.AutoRebuild {
		u.AutoRebuild = &b
	}
	if b := on("auto_publish"); b != img.AutoPublish {
		u.AutoPublish = &b
	}
	var old abs.SourceSpec
	if img.SourceSpec != nil {
		old = *img.SourceSpec
	}
	src := old
	src.URL = strings.TrimSpace(f.PostFormValue("url"))
	src.Branch, src.Tag, src.Commit = "", "", ""
	ref := strings.TrimSpace(f.PostFormValue("ref"))
	switch f.PostFormValue("ref_kind") {
	case "tag":
		src.Tag = ref
	case "commit":
		src.Commit = ref
	default:
		src.Branch = ref
	}
	src.Containerfile = strings.TrimSpace(f.PostFormValue("containerfile"))
	src.ContextDir = strings.TrimSpace(f.PostFormValue("context_dir"))
	src.Username = strings.TrimSpace(f.PostFormValue("username"))
	src.KnownHosts = strings.TrimSpace(strings.ReplaceAll(f.PostFormValue("known_hosts"), "\r\n", "\n"))
	src.TrustOnFirstUse = on("tofu")
	if src.URL == "" {
		src = abs.SourceSpec{}
	}
	if src != old {
		u.Source = &src
	}
	if owners := lines(f.PostFormValue("owners")); !slices.Equal(owners, img.Owners) {
		u.Owners = &owners
	}
	if tags := lines(f.PostFormValue("tags")); !slices.Equal(tags, img.Tags) {
		u.Tags = &tags
	}
	path := "/configure/" + img.Name
	_, ch, err := c.svc.UpdateImage(ctx, img.Name, u)
	switch {
	case errors.Is(err, abs.ErrConflict):
		c.back(w, r, path, flash{Kind: "error", Text: "Someone changed this image since you opened the page; review it and save again."})
		return
	case errors.Is(err, abs.ErrConfig):
		c.back(w, r, path, flash{Kind: "error", Text: "Not saved: " + err.Error()})
		return
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "cannot save the settings", err)
		return
	}
	msgs := []flash{{Kind: "ok", Text: "Settings saved."}}
	for _, n := range ch.Notes {
		msgs = append(msgs, flash{Kind: "ok", Text: "Note: " + n + "."})
	}
	c.back(w, r, path, msgs...)
}

// maxKey bounds an uploaded SSH private key.
const maxKey = 64 << 10

func (c *Console) uploadKey(w http.ResponseWriter, r request, img abs.Image) {
	path := "/configure/" + img.Name
	var key []byte
	if file, _, err := r.FormFile("key"); err == nil {
		buf := make([]byte, maxKey+1)
		n, _ := readFull(file, buf)
		_ = file.Close()
		if n > maxKey {
			c.back(w, r, path, flash{Kind: "error", Text: "That key file is too large."})
			return
		}
		key = buf[:n]
	}
	if len(strings.TrimSpace(string(key))) == 0 {
		key = []byte(r.PostFormValue("key_text"))
	}
	if len(strings.TrimSpace(string(key))) == 0 {
		c.back(w, r, path, flash{Kind: "error", Text: "Choose a private key file or paste a key."})
		return
	}
	cred, err := c.svc.SetSSHKey(r.actorContext(), img.Name, secretOf(key), secretOf([]byte(r.PostFormValue("passphrase"))))
	clear(key)
	if err != nil {
		// The error names what is wrong with the key, never the key.
		c.back(w, r, path, flash{Kind: "error", Text: "SSH key not stored: " + err.Error()})
		return
	}
	c.back(w, r, path, flash{Kind: "ok", Text: "SSH key stored; its fingerprint is " + cred.Fingerprint + "."})
}

func (c *Console) uploadToken(w http.ResponseWriter, r request, img abs.Image) {
	path := "/configure/" + img.Name
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		c.back(w, r, path, flash{Kind: "error", Text: "Paste an access token."})
		return
	}
	cred, err := c.svc.SetToken(r.actorContext(), img.Name, secretOf([]byte(token)))
	if err != nil {
		c.back(w, r, path, flash{Kind: "error", Text: "Token not stored: " + err.Error()})
		return
	}
	c.back(w, r, path, flash{Kind: "ok", Text: "HTTPS token stored; its fingerprint is " + cred.Fingerprint + "."})
}

// testAccessTimeout bounds the "Test access" button: a git server that
// does not answer makes the test fail, not the page hang.
const testAccessTimeout = 30 * time.Second

func (c *Console) testAccess(w http.ResponseWriter, r request, img abs.Image) {
	path := "/configure/" + img.Name
	ctx, cancel := context.WithTimeout(r.actorContext(), testAccessTimeout)
	defer cancel()
	if err := c.svc.TestAccess(ctx, img.Name); err != nil {
		c.back(w, r, path, flash{Kind: "error", Text: "Access test failed: " + err.Error()})
		return
	}
	c.back(w, r, path, flash{Kind: "ok", Text: "Access test passed: the repository listed its references with the stored credentials and known hosts."})
}

func (c *Console) rebuildNow(w http.ResponseWriter, r request, img abs.Image) {
	id, err := c.svc.RebuildNow(r.actorContext(), img.Name)
	if err != nil {
		c.back(w, r, "/images/"+img.Name, flash{Kind: "error", Text: "Rebuild not started: " + err.Error()})
		return
	}
	c.back(w, r, "/cycles/"+url.PathEscape(id)+"?image="+url.QueryEscape(img.Name), flash{Kind: "ok", Text: "Rebuild of " + img.Name + " started."})
}

func (c *Console) retry(w http.ResponseWriter, r request, img abs.Image) {
	id, err := c.svc.Retry(r.actorContext(), img.Name)
	if err != nil {
		c.back(w, r, "/images/"+img.Name, flash{Kind: "error", Text: "Retry not started: " + err.Error()})
		return
	}
	c.back(w, r, "/cycles/"+url.PathEscape(id)+"?image="+url.QueryEscape(img.Name), flash{Kind: "ok", Text: "Retry of " + img.Name + "'s failed rebuilds started."})
}

func (c *Console) dryRun(w http.ResponseWriter, r request, img abs.Image) {
	select {
	case c.planSlot <- struct{}{}:
		defer func() { <-c.planSlot }()
	default:
		c.back(w, r, "/images/"+img.Name, flash{Kind: "error", Text: "Another dry run is running; try again in a moment."})
		return
	}
	ctx, cancel := context.WithTimeout(r.actorContext(), c.planTimeout)
	defer cancel()
	rep, err := c.svc.Plan(ctx, abs.CycleOptions{Cause: "console dry run"})
	if err != nil {
		c.back(w, r, "/images/"+img.Name, flash{Kind: "error", Text: "Dry run failed: " + err.Error()})
		return
	}
	c.back(w, r, "/images/"+img.Name+"?plan="+url.QueryEscape(rep.Cycle)+"#plan", flash{Kind: "ok", Text: "Dry run done: nothing was built, pushed or mailed."})
}

type cycleData struct {
	Report *abs.Report
	Image  string
	Done   bool
}

func (d cycleData) refresh() int {
	if d.Done {
		return 0
	}
	return 2
}

// cycleDone reports whether a cycle's work is over.
func cycleDone(rep *abs.Report) bool {
	switch rep.State {
	case abs.CycleDryRun, abs.CycleFailed:
		return true
	case abs.CyclePlanned:
	default:
		return false
	}
	for _, rb := range rep.Rebuilds {
		if !rb.State.Final() {
			return false
		}
	}
	for _, n := range rep.Notifications {
		if n.State == abs.NotificationPending || n.State == abs.NotificationSending {
			return false
		}
	}
	return true
}

func (c *Console) cyclePage(w http.ResponseWriter, r request) {
	rep, err := c.svc.Report(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "no such cycle", err)
		return
	}
	// Show only the images the principal may read.
	readable := map[string]bool{}
	for _, img := range c.svc.Images() {
		readable[img.Name] = r.canRead(img)
	}
	var imgs []abs.ImageReport
	for _, i := range rep.Images {
		if readable[i.Name] {
			imgs = append(imgs, i)
		}
	}
	rep.Images = imgs
	rep.Plan = slices.DeleteFunc(rep.Plan, func(s abs.PlanStep) bool { return !readable[s.Image] })
	rep.Rebuilds = slices.DeleteFunc(rep.Rebuilds, func(s abs.RebuildReport) bool { return !readable[s.Image] })
	d := cycleData{Report: rep, Image: r.URL.Query().Get("image"), Done: cycleDone(rep)}
	c.render(w, r, http.StatusOK, "cycle.html", "Cycle "+rep.Cycle, d)
}
