package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/openabs/abs"
	"github.com/openabs/abs/secret"
)

// imageBody is an image as a client creates it: every field an owner
// sets, none the orchestrator keeps (version, credential).
type imageBody struct {
	Name           string            `json:"name"`
	Repository     string            `json:"repository"`
	Tag            string            `json:"tag,omitempty"`
	Source         *abs.SourceSpec   `json:"source,omitempty"`
	BuildService   bool              `json:"build_service"`
	AutoRebuild    bool              `json:"auto_rebuild"`
	AutoPublish    bool              `json:"auto_publish"`
	Tags           []string          `json:"tags,omitempty"`
	Owners         []string          `json:"owners,omitempty"`
	Base           string            `json:"base,omitempty"`
	BuildArgs      map[string]string `json:"build_args,omitempty"`
	CatalogImageID string            `json:"catalog_image_id,omitempty"`
}

func (b imageBody) image() abs.Image {
	return abs.Image{Name: b.Name, Repository: b.Repository, Tag: b.Tag, SourceSpec: b.Source, BuildService: b.BuildService,
		AutoRebuild: b.AutoRebuild, AutoPublish: b.AutoPublish, Tags: b.Tags, Owners: b.Owners, Base: b.Base,
		BuildArgs: b.BuildArgs, CatalogImageID: b.CatalogImageID}
}

type projectBody struct {
	ID     string      `json:"id"`
	Name   string      `json:"name"`
	Owners []string    `json:"owners,omitempty"`
	Images []imageBody `json:"images,omitempty"`
}

type projectPatch struct {
	Name    *string   `json:"name"`
	Owners  *[]string `json:"owners"`
	Version int64     `json:"version"`
}

type imagePatch struct {
	BuildService *bool              `json:"build_service"`
	AutoRebuild  *bool              `json:"auto_rebuild"`
	AutoPublish  *bool              `json:"auto_publish"`
	Source       *abs.SourceSpec    `json:"source"`
	Tags         *[]string          `json:"tags"`
	Owners       *[]string          `json:"owners"`
	Base         *string            `json:"base"`
	BuildArgs    *map[string]string `json:"build_args"`
	Version      int64              `json:"version"`
}

// projectAnswer and imageAnswer are a changed object with what the
// change did beyond what was asked.
type projectAnswer struct {
	abs.Project
	Notes []string `json:"notes,omitempty"`
}

type imageAnswer struct {
	abs.Image
	Notes []string `json:"notes,omitempty"`
}

type changeAnswer struct {
	Notes   []string `json:"notes,omitempty"`
	Version int64    `json:"version,omitempty"`
}

type cycleAnswer struct {
	Cycle string `json:"cycle"`
}

// version combines If-Match and a body's version: both given must agree.
func version(w http.ResponseWriter, r *http.Request, body int64) (int64, bool) {
	h, ok := ifVersion(w, r)
	if !ok {
		return 0, false
	}
	if h != 0 && body != 0 && h != body {
		writeProblem(w, r, http.StatusBadRequest, "If-Match and version disagree")
		return 0, false
	}
	return max(h, body), true
}

func (s *server) listProjects(w http.ResponseWriter, r *http.Request, p Principal) {
	pg, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	all, err := s.o.Projects(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all = slices.DeleteFunc(all, func(pr abs.Project) bool { return !p.CanRead(pr.ID) })
	writeJSON(w, http.StatusOK, slice(all, pg, size))
}

func (s *server) createProject(w http.ResponseWriter, r *http.Request, p Principal) {
	if !p.IsAdmin() {
		forbidden(w, r, p, "create projects")
		return
	}
	var b projectBody
	if !decode(w, r, &b, false) {
		return
	}
	if !validName(b.ID) {
		writeProblem(w, r, http.StatusBadRequest, "id must be a catalog project id or a slug")
		return
	}
	pr := abs.Project{ID: b.ID, Name: b.Name, Owners: b.Owners}
	for i, ib := range b.Images {
		if ib.Name != "" && !validName(ib.Name) {
			writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("images[%d].name is not a valid image name", i))
			return
		}
		pr.Images = append(pr.Images, ib.image())
	}
	out, ch, err := s.o.CreateProject(r.Context(), pr)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag(w, out.Version)
	w.Header().Set("Location", Prefix+"/projects/"+escape(out.ID))
	writeJSON(w, http.StatusCreated, projectAnswer{Project: out, Notes: ch.Notes})
}

func (s *server) getProject(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := pathName(w, r, "id")
	if !ok {
		return
	}
	if !p.CanRead(id) {
		forbidden(w, r, p, "read project "+id)
		return
	}
	pr, err := s.o.Project(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag(w, pr.Version)
	writeJSON(w, http.StatusOK, pr)
}

func (s *server) updateProject(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := editableProject(w, r, p)
	if !ok {
		return
	}
	var b projectPatch
	if !decode(w, r, &b, false) {
		return
	}
	v, ok := version(w, r, b.Version)
	if !ok {
		return
	}
	pr, ch, err := s.o.UpdateProject(r.Context(), id, abs.ProjectUpdate{Name: b.Name, Owners: b.Owners, IfVersion: v})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag(w, pr.Version)
	writeJSON(w, http.StatusOK, projectAnswer{Project: pr, Notes: ch.Notes})
}

func (s *server) deleteProject(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := pathName(w, r, "id")
	if !ok {
		return
	}
	if !p.IsAdmin() {
		forbidden(w, r, p, "delete projects")
		return
	}
	if _, err := s.o.DeleteProject(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) listImages(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := pathName(w, r, "id")
	if !ok {
		return
	}
	if !p.CanRead(id) {
		forbidden(w, r, p, "read project "+id)
		return
	}
	pg, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	pr, err := s.o.Project(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, slice(pr.Images, pg, size))
}

func (s *server) createImage(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := editableProject(w, r, p)
	if !ok {
		return
	}
	var b imageBody
	if !decode(w, r, &b, false) {
		return
	}
	if b.Name != "" && !validName(b.Name) {
		writeProblem(w, r, http.StatusBadRequest, "name is not a valid image name")
		return
	}
	img, ch, err := s.o.CreateImage(r.Context(), id, b.image())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag(w, img.Version)
	w.Header().Set("Location", Prefix+"/images/"+escape(img.Name))
	writeJSON(w, http.StatusCreated, imageAnswer{Image: img, Notes: ch.Notes})
}

// image reads the {name} of the path and the image it names, and checks
// that p may read it (edit, when edit is set). It answers the problem
// itself when not.
func (s *server) image(w http.ResponseWriter, r *http.Request, p Principal, edit bool) (abs.Image, bool) {
	name, ok := pathName(w, r, "name")
	if !ok {
		return abs.Image{}, false
	}
	img, err := s.o.GetImage(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return abs.Image{}, false
	}
	switch pk := projectKey(img); {
	case !p.CanRead(pk):
		// Out of scope looks the same as absent to a scoped token.
		forbidden(w, r, p, "read image "+name)
		return abs.Image{}, false
	case edit && !p.CanEdit(pk):
		forbidden(w, r, p, "change image "+name)
		return abs.Image{}, false
	}
	return img, true
}

func (s *server) getImage(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, false)
	if !ok {
		return
	}
	st, err := s.o.ImageStatus(r.Context(), img.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag(w, st.Image.Version)
	writeJSON(w, http.StatusOK, st)
}

func (s *server) updateImage(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, true)
	if !ok {
		return
	}
	var b imagePatch
	if !decode(w, r, &b, false) {
		return
	}
	v, ok := version(w, r, b.Version)
	if !ok {
		return
	}
	out, ch, err := s.o.UpdateImage(r.Context(), img.Name, abs.ImageUpdate{BuildService: b.BuildService, AutoRebuild: b.AutoRebuild,
		AutoPublish: b.AutoPublish, Source: b.Source, Tags: b.Tags, Owners: b.Owners, Base: b.Base, BuildArgs: b.BuildArgs, IfVersion: v})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag(w, out.Version)
	writeJSON(w, http.StatusOK, imageAnswer{Image: out, Notes: ch.Notes})
}

func (s *server) deleteImage(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, true)
	if !ok {
		return
	}
	if _, err := s.o.DeleteImage(r.Context(), img.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type sshKeyBody struct {
	PrivateKey secret.Value `json:"private_key"`
	Passphrase secret.Value `json:"passphrase"`
}

type tokenBody struct {
	Token secret.Value `json:"token"`
}

// putSSHKey stores an image source's SSH private key. The answer is the
// credential's fingerprint; the key is in no answer, and an error that
// quotes it is scrubbed.
func (s *server) putSSHKey(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, true)
	if !ok {
		return
	}
	var b sshKeyBody
	if !decode(w, r, &b, false) {
		return
	}
	if b.PrivateKey.IsZero() {
		writeProblem(w, r, http.StatusBadRequest, "private_key is required")
		return
	}
	c, err := s.o.SetSSHKey(r.Context(), img.Name, b.PrivateKey, b.Passphrase)
	if err != nil {
		sc := secret.NewScrubber(b.PrivateKey.Reveal(), b.Passphrase.Reveal())
		s.fail(w, r, scrubbed(sc, err))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *server) putToken(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, true)
	if !ok {
		return
	}
	var b tokenBody
	if !decode(w, r, &b, false) {
		return
	}
	if b.Token.IsZero() {
		writeProblem(w, r, http.StatusBadRequest, "token is required")
		return
	}
	c, err := s.o.SetToken(r.Context(), img.Name, b.Token)
	if err != nil {
		s.fail(w, r, scrubbed(secret.NewScrubber(b.Token.Reveal()), err))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// scrubbed is err with sc's secrets removed from its message; errors.Is
// still sees what err wraps.
func scrubbed(sc *secret.Scrubber, err error) error {
	return &scrubError{msg: sc.Scrub(err.Error()), err: err}
}

type scrubError struct {
	msg string
	err error
}

func (e *scrubError) Error() string { return e.msg }
func (e *scrubError) Unwrap() error { return e.err }

func (s *server) rebuilds(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, false)
	if !ok {
		return
	}
	pg, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	rs, total, err := s.o.RebuildHistory(r.Context(), img.Name, pg, size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rs == nil {
		rs = []abs.RebuildReport{}
	}
	writeJSON(w, http.StatusOK, page[abs.RebuildReport]{Data: rs, Page: pg, PageSize: size, Total: total})
}

func (s *server) rebuildNow(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, true)
	if !ok {
		return
	}
	id, err := s.o.RebuildNow(r.Context(), img.Name)
	s.accepted(w, r, id, err)
}

func (s *server) retry(w http.ResponseWriter, r *http.Request, p Principal) {
	img, ok := s.image(w, r, p, true)
	if !ok {
		return
	}
	id, err := s.o.Retry(r.Context(), img.Name)
	s.accepted(w, r, id, err)
}

func (s *server) accepted(w http.ResponseWriter, r *http.Request, cycle string, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/cycles/"+escape(cycle))
	writeJSON(w, http.StatusAccepted, cycleAnswer{Cycle: cycle})
}

// everything reports whether p may act on every project (admin, or an
// unscoped editor).
func everything(p Principal) bool { return p.IsAdmin() || (p.Role == Editor && len(p.Projects) == 0) }

// scope keeps of a report what p may read: for a scoped token only the
// images of its projects.
func (s *server) scope(rep *abs.Report, p Principal) {
	if len(p.Projects) == 0 {
		return
	}
	ok := map[string]bool{}
	for _, img := range s.o.Images() {
		if p.CanRead(projectKey(img)) {
			ok[img.Name] = true
		}
	}
	rep.Images = slices.DeleteFunc(rep.Images, func(i abs.ImageReport) bool { return !ok[i.Name] })
	rep.Plan = slices.DeleteFunc(rep.Plan, func(i abs.PlanStep) bool { return !ok[i.Image] })
	rep.Rebuilds = slices.DeleteFunc(rep.Rebuilds, func(i abs.RebuildReport) bool { return !ok[i.Image] })
	rep.Warnings = slices.DeleteFunc(rep.Warnings, func(i abs.Warning) bool { return !ok[i.Image] })
	for adv, names := range rep.Affected {
		rep.Affected[adv] = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !ok[n] })
	}
	rep.Notifications = nil // owners of other projects
}

func (s *server) plan(w http.ResponseWriter, r *http.Request, p Principal) {
	select {
	case s.planSlot <- struct{}{}:
		defer func() { <-s.planSlot }()
	default:
		w.Header().Set("Retry-After", "10")
		writeProblem(w, r, http.StatusServiceUnavailable, "a dry run is in progress; try again shortly")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.planTimeout)
	defer cancel()
	rep, err := s.o.Plan(ctx, abs.CycleOptions{Cause: "api"})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.scope(rep, p)
	writeJSON(w, http.StatusOK, rep)
}

func (s *server) listCycles(w http.ResponseWriter, r *http.Request, p Principal) {
	pg, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	cs, total, err := s.o.Cycles(r.Context(), pg, size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page[abs.CycleInfo]{Data: cs, Page: pg, PageSize: size, Total: total})
}

type cycleBody struct {
	Advisory string `json:"advisory,omitempty"`
}

func (s *server) startCycle(w http.ResponseWriter, r *http.Request, p Principal) {
	if !everything(p) {
		forbidden(w, r, p, "start a cycle over every project")
		return
	}
	var b cycleBody
	if !decode(w, r, &b, true) {
		return
	}
	if b.Advisory != "" && !validName(b.Advisory) {
		writeProblem(w, r, http.StatusBadRequest, "advisory is not a valid advisory id")
		return
	}
	cause := "api"
	if b.Advisory != "" {
		cause = "trigger"
	}
	id, err := s.o.StartCycle(r.Context(), abs.CycleOptions{Cause: cause, Advisory: b.Advisory})
	s.accepted(w, r, id, err)
}

func (s *server) getCycle(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := pathName(w, r, "id")
	if !ok {
		return
	}
	if _, err := s.o.Cycle(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.o.Report(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.scope(rep, p)
	writeJSON(w, http.StatusOK, rep)
}

func (s *server) audit(w http.ResponseWriter, r *http.Request, p Principal) {
	if !p.IsAdmin() {
		forbidden(w, r, p, "read the audit log")
		return
	}
	pg, size, ok := pageParams(w, r)
	if !ok {
		return
	}
	// The API's pages count from 0, as the catalog's do; Audit's from 1.
	es, total, err := s.o.Audit(r.Context(), pg+1, size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if es == nil {
		es = []abs.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, page[abs.AuditEntry]{Data: es, Page: pg, PageSize: size, Total: total})
}

// escape is a path segment for Location headers.
func escape(s string) string { return url.PathEscape(s) }

// editableProject reads the {id} of the path and answers 403 when p may
// not change that project; ok is false when an answer was written.
func editableProject(w http.ResponseWriter, r *http.Request, p Principal) (id string, ok bool) {
	if id, ok = pathName(w, r, "id"); !ok {
		return "", false
	}
	if !p.CanEdit(id) {
		forbidden(w, r, p, "change project "+id)
		return "", false
	}
	return id, true
}
