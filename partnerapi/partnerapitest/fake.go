package partnerapitest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openabs/abs/partnerapi"
)

// BasePath is the path under which the fake serves the API, as the real
// host does; Server.URL already ends with it.
const BasePath = "/api/containers/v1"

// DefaultAPIKey is the key a Fake accepts unless WithAPIKey sets another.
const DefaultAPIKey = "partnerapitest-key"

// The real API's 401 body, word for word.
const unauthorizedDetail = "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required."

// ErrDuplicate is wrapped by the seed methods when an object with the same
// id (or, for images, the same digest, architecture and project) exists.
var ErrDuplicate = errors.New("partnerapitest: duplicate")

// Fake is an in-memory catalog API. It is an http.Handler serving the
// endpoints partnerapi.Client calls, under BasePath. It is safe for
// concurrent use.
//
// What it shares with the real API: the X-API-KEY check and the 401 body;
// RFC 7807 error bodies with a trace_id; pagination ({data, page,
// page_size, total}); filter with ==, !=, =in=, =out=, ';', ',' and
// parentheses over dotted paths; sort_by; 409 on a duplicate open image,
// scan or build request; image requests that go pending, in progress, then
// completed (or the outcome set with SetRequestOutcome) as they are
// polled. Reads of images and repositories work without a key, as on the
// real host; projects and every write need one. include and exclude are
// accepted and ignored.
type Fake struct {
	mu      sync.Mutex
	key     string
	steps   int
	now     func() time.Time
	outcome partnerapi.Status
	message string

	seq      int
	trace    int
	projects map[string]*partnerapi.Project
	images   map[string]*partnerapi.Image
	imageIDs []string // insertion order
	rpms     map[string]*partnerapi.RPMManifest
	vulns    map[string][]partnerapi.Vulnerability
	repos    map[string]*partnerapi.Repository
	repoKeys []string
	requests map[string]*imageRequest
	reqIDs   []string
	scans    []partnerapi.ScanRequest
	builds   []partnerapi.BuildRequest
	faults   []fault
	calls    []Call

	mux *http.ServeMux
}

type imageRequest struct {
	partnerapi.ImageRequest
	polls   int
	outcome partnerapi.Status
	message string
}

type fault struct {
	status     int
	retryAfter string
}

// Call records one request the fake served.
type Call struct {
	Method string
	Path   string // below BasePath
	Query  string
}

// Option configures a Fake.
type Option func(*Fake)

// WithAPIKey sets the key the fake accepts.
func WithAPIKey(key string) Option { return func(f *Fake) { f.key = key } }

// WithPollsPerStep sets how many reads of an image request it takes to
// move it one state forward (pending -> in progress -> final). The
// default is 1: the first read sees in progress, the second the outcome.
func WithPollsPerStep(n int) Option { return func(f *Fake) { f.steps = max(n, 1) } }

// WithClock sets the time source for creation and update dates.
func WithClock(now func() time.Time) Option { return func(f *Fake) { f.now = now } }

// New returns an empty fake.
func New(opts ...Option) *Fake {
	f := &Fake{
		key:      DefaultAPIKey,
		steps:    1,
		now:      func() time.Time { return time.Now().UTC() },
		outcome:  partnerapi.StatusCompleted,
		projects: map[string]*partnerapi.Project{},
		images:   map[string]*partnerapi.Image{},
		rpms:     map[string]*partnerapi.RPMManifest{},
		vulns:    map[string][]partnerapi.Vulnerability{},
		repos:    map[string]*partnerapi.Repository{},
		requests: map[string]*imageRequest{},
	}
	for _, o := range opts {
		o(f)
	}
	f.routes()
	return f
}

// APIKey returns the key the fake accepts.
func (f *Fake) APIKey() string { return f.key }

// newID returns a fresh 24-hex-digit id, shaped like the catalog's.
func (f *Fake) newID() string {
	f.seq++
	return fmt.Sprintf("%024x", f.seq)
}

// AddProject stores p, giving it an id when it has none, and returns the
// stored copy.
func (f *Fake) AddProject(p partnerapi.Project) (partnerapi.Project, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.ID == "" {
		p.ID = f.newID()
	}
	if _, ok := f.projects[p.ID]; ok {
		return partnerapi.Project{}, fmt.Errorf("%w: project %s", ErrDuplicate, p.ID)
	}
	if p.CreationDate.IsZero() {
		p.CreationDate = partnerapi.Time{Time: f.now()}
		p.LastUpdateDate = p.CreationDate
	}
	f.projects[p.ID] = clone(&p)
	return p, nil
}

// AddImage stores img, giving it an id when it has none, and returns the
// stored copy. Set CertProject to list it among a project's images; its
// Repositories list it among those repositories' images, and a repository
// not added yet is created.
func (f *Fake) AddImage(img partnerapi.Image) (partnerapi.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img.ID == "" {
		img.ID = f.newID()
	}
	if _, ok := f.images[img.ID]; ok {
		return partnerapi.Image{}, fmt.Errorf("%w: image %s", ErrDuplicate, img.ID)
	}
	for _, other := range f.images {
		if img.DockerImageDigest != "" && other.DockerImageDigest == img.DockerImageDigest &&
			other.Architecture == img.Architecture && other.CertProject == img.CertProject {
			return partnerapi.Image{}, fmt.Errorf("%w: image %s (%s) in project %q", ErrDuplicate, img.DockerImageDigest, img.Architecture, img.CertProject)
		}
	}
	if img.CreationDate.IsZero() {
		img.CreationDate = partnerapi.Time{Time: f.now()}
		img.LastUpdateDate = img.CreationDate
	}
	if img.ObjectType == "" {
		img.ObjectType = "containerImage"
	}
	for _, r := range img.Repositories {
		k := r.Registry + "/" + r.Repository
		if _, ok := f.repos[k]; !ok {
			f.repos[k] = &partnerapi.Repository{ID: f.newID(), Registry: r.Registry, Repository: r.Repository, ObjectType: "containerRepository"}
			f.repoKeys = append(f.repoKeys, k)
		}
	}
	f.images[img.ID] = clone(&img)
	f.imageIDs = append(f.imageIDs, img.ID)
	return img, nil
}

// AddRepository stores r, keyed by registry and repository.
func (f *Fake) AddRepository(r partnerapi.Repository) (partnerapi.Repository, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := r.Registry + "/" + r.Repository
	if _, ok := f.repos[k]; ok {
		return partnerapi.Repository{}, fmt.Errorf("%w: repository %s", ErrDuplicate, k)
	}
	if r.ID == "" {
		r.ID = f.newID()
	}
	if r.ObjectType == "" {
		r.ObjectType = "containerRepository"
	}
	f.repos[k] = clone(&r)
	f.repoKeys = append(f.repoKeys, k)
	return r, nil
}

// SetRPMManifest sets the RPM manifest of image imageID.
func (f *Fake) SetRPMManifest(imageID string, rpms []partnerapi.RPM) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.images[imageID]; !ok {
		return fmt.Errorf("partnerapitest: no image %s", imageID)
	}
	f.rpms[imageID] = &partnerapi.RPMManifest{
		ID: f.newID(), ImageID: imageID, RPMs: slices.Clone(rpms),
		ObjectType: "containerImageRPMManifest", CreationDate: partnerapi.Time{Time: f.now()}, LastUpdateDate: partnerapi.Time{Time: f.now()},
	}
	return nil
}

// SetVulnerabilities sets the vulnerabilities of image imageID.
func (f *Fake) SetVulnerabilities(imageID string, vulns []partnerapi.Vulnerability) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.images[imageID]; !ok {
		return fmt.Errorf("partnerapitest: no image %s", imageID)
	}
	out := make([]partnerapi.Vulnerability, len(vulns))
	for i, v := range vulns {
		if v.ID == "" {
			v.ID = f.newID()
		}
		if v.ObjectType == "" {
			v.ObjectType = "containerImageVulnerability"
		}
		out[i] = v
	}
	f.vulns[imageID] = out
	return nil
}

// SetRequestOutcome sets how image requests created from now on end:
// partnerapi.StatusCompleted (the default), StatusFailed or StatusAborted,
// with message as their status_message.
func (f *Fake) SetRequestOutcome(status partnerapi.Status, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcome, f.message = status, message
}

// FailNext makes the next n requests, whatever they are, answer status
// with an RFC 7807 body, and a Retry-After header when retryAfter is not
// empty. It lets tests drive the client's retries.
func (f *Fake) FailNext(n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults = append(f.faults, fault{status, retryAfter})
	}
}

// Project returns the stored project id.
func (f *Fake) Project(id string) (partnerapi.Project, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.projects[id]
	if !ok {
		return partnerapi.Project{}, false
	}
	return *clone(p), true
}

// Image returns the stored image id, with the effect of completed publish
// and unpublish requests on its repositories.
func (f *Fake) Image(id string) (partnerapi.Image, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[id]
	if !ok {
		return partnerapi.Image{}, false
	}
	return *clone(img), true
}

// ImageRequests returns the image requests created so far, oldest first,
// in their current state.
func (f *Fake) ImageRequests() []partnerapi.ImageRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]partnerapi.ImageRequest, 0, len(f.reqIDs))
	for _, id := range f.reqIDs {
		out = append(out, f.requests[id].ImageRequest)
	}
	return out
}

// ScanRequests returns the scan requests created so far, oldest first.
func (f *Fake) ScanRequests() []partnerapi.ScanRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.scans)
}

// BuildRequests returns the build requests created so far, oldest first.
func (f *Fake) BuildRequests() []partnerapi.BuildRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.builds)
}

// Calls returns the requests served so far, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// clone deep-copies a JSON-shaped value.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the API types always marshal
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return &out
}

// ServeHTTP serves the API under BasePath.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		f.problem(w, http.StatusNotFound, "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: r.Method, Path: path, Query: r.URL.RawQuery})
	var flt *fault
	if len(f.faults) > 0 {
		flt = &f.faults[0]
		f.faults = f.faults[1:]
	}
	f.mu.Unlock()
	if flt != nil {
		if flt.retryAfter != "" {
			w.Header().Set("Retry-After", flt.retryAfter)
		}
		f.problem(w, flt.status, "Injected failure.")
		return
	}
	if key := r.Header.Get("X-API-KEY"); key != f.key {
		public := r.Method == http.MethodGet && key == "" &&
			(strings.HasPrefix(path, "/images") || strings.HasPrefix(path, "/repositories/"))
		if !public {
			f.problem(w, http.StatusUnauthorized, unauthorizedDetail)
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	r2.URL.RawPath = ""
	f.mux.ServeHTTP(w, r2)
}

var _ http.Handler = (*Fake)(nil)

func (f *Fake) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /projects/certification/id/{id}", f.getProject)
	m.HandleFunc("PATCH /projects/certification/id/{id}", f.patchProject)
	m.HandleFunc("GET /projects/certification/id/{id}/images", f.projectImages)
	m.HandleFunc("POST /projects/certification/id/{id}/requests/images", f.createImageRequest)
	m.HandleFunc("GET /projects/certification/id/{id}/requests/images", f.listImageRequests)
	m.HandleFunc("GET /projects/certification/requests/images/id/{id}", f.getImageRequest)
	m.HandleFunc("POST /projects/certification/id/{id}/requests/scans", f.createScanRequest)
	m.HandleFunc("POST /projects/certification/id/{id}/requests/builds", f.createBuildRequest)
	m.HandleFunc("GET /images", f.listImages)
	m.HandleFunc("GET /images/id/{id}", f.getImage)
	m.HandleFunc("GET /images/id/{id}/rpm-manifest", f.getRPMManifest)
	m.HandleFunc("GET /images/id/{id}/vulnerabilities", f.listVulnerabilities)
	m.HandleFunc("GET /repositories/registry/{registry}/repository/{repo...}", f.repository)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.problem(w, http.StatusNotFound, "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
	})
	f.mux = m
}

func (f *Fake) problem(w http.ResponseWriter, status int, detail string) {
	f.mu.Lock()
	f.trace++
	trace := fmt.Sprintf("0x%032x", f.trace)
	f.mu.Unlock()
	writeJSON(w, status, map[string]any{
		"detail": detail, "status": status, "title": http.StatusText(status),
		"type": "about:blank", "trace_id": trace,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Fake) getProject(w http.ResponseWriter, r *http.Request) {
	p, ok := f.Project(r.PathValue("id"))
	if !ok {
		f.notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (f *Fake) notFound(w http.ResponseWriter) {
	f.problem(w, http.StatusNotFound, "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
}

func (f *Fake) patchProject(w http.ResponseWriter, r *http.Request) {
	var patch map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&patch); err != nil {
		f.problem(w, http.StatusBadRequest, "Validation error: body is not a JSON object")
		return
	}
	delete(patch, "_id")
	f.mu.Lock()
	p, ok := f.projects[r.PathValue("id")]
	if !ok {
		f.mu.Unlock()
		f.notFound(w)
		return
	}
	var cur map[string]any
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &cur)
	merge(cur, patch)
	b, _ = json.Marshal(cur)
	var next partnerapi.Project
	if err := json.Unmarshal(b, &next); err != nil {
		f.mu.Unlock()
		f.problem(w, http.StatusBadRequest, "Validation error: "+err.Error())
		return
	}
	if err := next.Container.Validate(); err != nil {
		f.mu.Unlock()
		f.problem(w, http.StatusBadRequest, "Validation error: container.auto_rebuild requires container.auto_publish")
		return
	}
	next.LastUpdateDate = partnerapi.Time{Time: f.now()}
	f.projects[next.ID] = &next
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, next)
}

// merge applies a JSON merge patch (RFC 7386) to dst.
func merge(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, pm)
				continue
			}
		}
		dst[k] = v
	}
}

// paginate filters, sorts and pages items as the real API does.
func paginate[T any](f *Fake, w http.ResponseWriter, r *http.Request, items []T) {
	q := r.URL.Query()
	page, size := 0, 100
	var err error
	if s := q.Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 0 {
			f.problem(w, http.StatusBadRequest, "Validation error: page must be a non-negative integer")
			return
		}
	}
	if s := q.Get("page_size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > 500 {
			f.problem(w, http.StatusBadRequest, "Validation error: page_size must be between 1 and 500")
			return
		}
	}
	generic := make([]any, len(items))
	for i := range items {
		b, _ := json.Marshal(items[i])
		_ = json.Unmarshal(b, &generic[i])
	}
	keep := make([]int, 0, len(items))
	var filter node
	if s := q.Get("filter"); s != "" {
		if filter, err = parseRSQL(s); err != nil {
			f.problem(w, http.StatusBadRequest, "Validation error: "+err.Error())
			return
		}
	}
	for i := range items {
		if filter == nil || filter.match(generic[i]) {
			keep = append(keep, i)
		}
	}
	if s := q.Get("sort_by"); s != "" {
		for _, spec := range slices.Backward(strings.Split(s, ",")) {
			field, order, ok := strings.Cut(strings.TrimSuffix(spec, "]"), "[")
			if !ok || (order != "asc" && order != "desc") || field == "" {
				f.problem(w, http.StatusBadRequest, "Validation error: sort_by must be field[asc] or field[desc]")
				return
			}
			path := strings.Split(field, ".")
			slices.SortStableFunc(keep, func(a, b int) int {
				c := cmp.Compare(first(lookup(generic[a], path)), first(lookup(generic[b], path)))
				if order == "desc" {
					return -c
				}
				return c
			})
		}
	}
	data := make([]T, 0, size)
	for i := page * size; i < len(keep) && i < (page+1)*size; i++ {
		data = append(data, items[keep[i]])
	}
	writeJSON(w, http.StatusOK, partnerapi.Page[T]{Data: data, Page: page, PageSize: size, Total: len(keep)})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (f *Fake) imagesWhere(keep func(*partnerapi.Image) bool) []partnerapi.Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []partnerapi.Image
	for _, id := range f.imageIDs {
		if img := f.images[id]; keep(img) {
			out = append(out, *clone(img))
		}
	}
	return out
}

func (f *Fake) projectImages(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := f.Project(id); !ok {
		f.notFound(w)
		return
	}
	paginate(f, w, r, f.imagesWhere(func(img *partnerapi.Image) bool { return img.CertProject == id }))
}

func (f *Fake) listImages(w http.ResponseWriter, r *http.Request) {
	paginate(f, w, r, f.imagesWhere(func(*partnerapi.Image) bool { return true }))
}

func (f *Fake) getImage(w http.ResponseWriter, r *http.Request) {
	img, ok := f.Image(r.PathValue("id"))
	if !ok {
		f.notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, img)
}

func (f *Fake) getRPMManifest(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	m, ok := f.rpms[r.PathValue("id")]
	if ok {
		m = clone(m)
	}
	f.mu.Unlock()
	if !ok {
		f.notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (f *Fake) listVulnerabilities(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	_, ok := f.images[id]
	vulns := slices.Clone(f.vulns[id])
	f.mu.Unlock()
	if !ok {
		f.notFound(w)
		return
	}
	paginate(f, w, r, vulns)
}

func (f *Fake) repository(w http.ResponseWriter, r *http.Request) {
	registry, repo := r.PathValue("registry"), r.PathValue("repo")
	images := false
	f.mu.Lock()
	_, exact := f.repos[registry+"/"+repo]
	f.mu.Unlock()
	if trimmed, ok := strings.CutSuffix(repo, "/images"); ok && !exact {
		repo, images = trimmed, true
	}
	f.mu.Lock()
	rep, ok := f.repos[registry+"/"+repo]
	if ok {
		rep = clone(rep)
	}
	f.mu.Unlock()
	if !ok {
		f.notFound(w)
		return
	}
	if !images {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	paginate(f, w, r, f.imagesWhere(func(img *partnerapi.Image) bool {
		return slices.ContainsFunc(img.Repositories, func(ir partnerapi.ImageRepository) bool {
			return ir.Registry == registry && ir.Repository == repo
		})
	}))
}

func (f *Fake) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		f.problem(w, http.StatusBadRequest, "Validation error: "+err.Error())
		return false
	}
	return true
}

func (f *Fake) createImageRequest(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("id")
	var in partnerapi.ImageRequest
	if !f.decode(w, r, &in) {
		return
	}
	switch in.Operation {
	case partnerapi.OperationPublish, partnerapi.OperationUnpublish, partnerapi.OperationSyncTags:
	default:
		f.problem(w, http.StatusBadRequest, fmt.Sprintf("Validation error: operation %q is not one of publish, unpublish, sync-tags", in.Operation))
		return
	}
	f.mu.Lock()
	_, okProject := f.projects[project]
	img, okImage := f.images[in.ImageID]
	dup := false
	for _, id := range f.reqIDs {
		q := f.requests[id]
		if q.CertProject == project && q.ImageID == in.ImageID && q.Operation == in.Operation && !q.Status.Done() {
			dup = true
		}
	}
	if !okProject || !okImage || img.CertProject != project || dup {
		f.mu.Unlock()
		switch {
		case !okProject:
			f.notFound(w)
		case !okImage || img.CertProject != project:
			f.problem(w, http.StatusBadRequest, fmt.Sprintf("Validation error: image %q does not belong to project %q", in.ImageID, project))
		default:
			f.problem(w, http.StatusConflict, fmt.Sprintf("An open %s request for image %s already exists.", in.Operation, in.ImageID))
		}
		return
	}
	now := f.now()
	q := &imageRequest{
		ImageRequest: partnerapi.ImageRequest{
			ID: f.newID(), CertProject: project, ImageID: in.ImageID, Operation: in.Operation,
			Status: partnerapi.StatusPending, CreationDate: partnerapi.Time{Time: now}, LastUpdateDate: partnerapi.Time{Time: now},
		},
		outcome: f.outcome,
		message: f.message,
	}
	f.requests[q.ID] = q
	f.reqIDs = append(f.reqIDs, q.ID)
	out := q.ImageRequest
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (f *Fake) listImageRequests(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("id")
	if _, ok := f.Project(project); !ok {
		f.notFound(w)
		return
	}
	var out []partnerapi.ImageRequest
	for _, q := range f.ImageRequests() {
		if q.CertProject == project {
			out = append(out, q)
		}
	}
	paginate(f, w, r, out)
}

// getImageRequest moves the request forward by one poll and answers its
// state.
func (f *Fake) getImageRequest(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	q, ok := f.requests[r.PathValue("id")]
	if !ok {
		f.mu.Unlock()
		f.notFound(w)
		return
	}
	if !q.Status.Done() {
		q.polls++
		next := partnerapi.StatusPending
		switch {
		case q.polls >= 2*f.steps:
			next = q.outcome
		case q.polls >= f.steps:
			next = partnerapi.StatusInProgress
		}
		if next != q.Status {
			q.Status = next
			q.LastUpdateDate = partnerapi.Time{Time: f.now()}
			switch next {
			case partnerapi.StatusCompleted:
				q.StatusMessage = "Request completed."
				f.apply(q)
			case partnerapi.StatusFailed, partnerapi.StatusAborted:
				q.StatusMessage = q.message
			}
		}
	}
	out := q.ImageRequest
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// apply carries out a completed request; f.mu is held.
func (f *Fake) apply(q *imageRequest) {
	img, ok := f.images[q.ImageID]
	if !ok {
		return
	}
	switch q.Operation {
	case partnerapi.OperationPublish:
		for i := range img.Repositories {
			img.Repositories[i].Published = true
			img.Repositories[i].PublishedDate = partnerapi.Time{Time: f.now()}
		}
	case partnerapi.OperationUnpublish:
		for i := range img.Repositories {
			img.Repositories[i].Published = false
		}
	}
	img.LastUpdateDate = partnerapi.Time{Time: f.now()}
}

func (f *Fake) createScanRequest(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("id")
	var in partnerapi.ScanRequest
	if !f.decode(w, r, &in) {
		return
	}
	if in.PullSpec == "" {
		f.problem(w, http.StatusBadRequest, "Validation error: pull_spec is required")
		return
	}
	f.mu.Lock()
	_, ok := f.projects[project]
	dup := slices.ContainsFunc(f.scans, func(s partnerapi.ScanRequest) bool {
		return s.CertProject == project && s.PullSpec == in.PullSpec && !s.Status.Done()
	})
	if !ok || dup {
		f.mu.Unlock()
		if !ok {
			f.notFound(w)
		} else {
			f.problem(w, http.StatusConflict, "An open scan request for "+in.PullSpec+" already exists.")
		}
		return
	}
	now := f.now()
	out := partnerapi.ScanRequest{ID: f.newID(), CertProject: project, PullSpec: in.PullSpec, Tag: in.Tag,
		Status: partnerapi.StatusPending, CreationDate: partnerapi.Time{Time: now}, LastUpdateDate: partnerapi.Time{Time: now}}
	f.scans = append(f.scans, out)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (f *Fake) createBuildRequest(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("id")
	var in partnerapi.BuildRequest
	if !f.decode(w, r, &in) {
		return
	}
	if in.Tag == "" {
		f.problem(w, http.StatusBadRequest, "Validation error: tag is required")
		return
	}
	f.mu.Lock()
	p, ok := f.projects[project]
	dup := slices.ContainsFunc(f.builds, func(b partnerapi.BuildRequest) bool {
		return b.CertProject == project && b.Tag == in.Tag && !b.Status.Done()
	})
	switch {
	case !ok:
		f.mu.Unlock()
		f.notFound(w)
		return
	case !p.Container.BuildService:
		f.mu.Unlock()
		f.problem(w, http.StatusBadRequest, "Validation error: the build service is not enabled for this project")
		return
	case dup:
		f.mu.Unlock()
		f.problem(w, http.StatusConflict, "An open build request for tag "+in.Tag+" already exists.")
		return
	}
	now := f.now()
	out := partnerapi.BuildRequest{ID: f.newID(), CertProject: project, Tag: in.Tag, SourceRef: in.SourceRef,
		Status: partnerapi.StatusPending, CreationDate: partnerapi.Time{Time: now}, LastUpdateDate: partnerapi.Time{Time: now}}
	f.builds = append(f.builds, out)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}
