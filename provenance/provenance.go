package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// PredicateType is the SLSA provenance v1 predicate type, what
// `cosign verify-attestation --type slsaprovenance1` looks for.
const PredicateType = "https://slsa.dev/provenance/v1"

// BuildType identifies the schema of this package's external and internal
// parameters.
const BuildType = "https://openabs.dev/rebuild/v1"

// RescanName is the name of the byproduct that holds the re-scan.
const RescanName = "rescan"

// ErrInvalid is matched (errors.Is) by every [*InputError].
var ErrInvalid = errors.New("provenance: invalid input")

// InputError reports a Build that cannot be recorded, or a statement that
// Parse refuses.
type InputError struct {
	Field string // "subject.digest", "builderId", "predicateType"…
	Value string
	Err   error
}

// Error names the field and the value.
func (e *InputError) Error() string {
	msg := "provenance: invalid " + e.Field
	if e.Value != "" {
		msg += " " + strconv.Quote(e.Value)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is [ErrInvalid].
func (e *InputError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// Image is an image at a digest.
type Image struct {
	// Repository is the registry host and path ("registry.example.com/team/app").
	Repository string
	// Digest is "sha256:…".
	Digest string
	// Tag is the tag the build referred to, if any.
	Tag string
}

// Source is the git source the image was built from.
type Source struct {
	// URL is the repository URL ("https://git.example.com/team/app.git").
	URL string
	// Ref is the branch or tag that was asked for, if any ("main").
	Ref string
	// Commit is the full commit id that was built (hex).
	Commit string
	// Containerfile is the build file's path in the repository, if not
	// the default.
	Containerfile string
}

// Rescan is the re-scan of the rebuilt image that allowed publishing it.
type Rescan struct {
	// Grade is the rebuilt image's Container Health Index grade, as
	// healthindex.Grade prints it ("A").
	Grade string
	// PreviousGrade is the grade of the image it replaces.
	PreviousGrade string
	// Fixed are the advisories the previous image carried and the rebuilt
	// one does not.
	Fixed []string
	// ScannedAt is when the rebuilt image was graded.
	ScannedAt time.Time
}

// Build is one rebuild to record.
type Build struct {
	// Subject is the published image. Required.
	Subject Image
	// Source is where the image was built from; nil for a rebuild that
	// only swapped the base layers.
	Source *Source
	// Base is the base image at the digest the rebuild used.
	Base *Image
	// BuilderID is the URI of the builder (e.g.
	// "https://openabs.dev/builders/buildah"). Required.
	BuilderID string
	// BuilderVersion maps components of the builder to their versions
	// ("openabs": "v0.4.0", "buildah": "1.28.2").
	BuilderVersion map[string]string
	// BuildArgs are the build arguments (ARG values) passed to the build.
	BuildArgs map[string]string
	// NoCache records that build caches were disabled.
	NoCache bool
	// Advisories are the advisories the rebuild was requested for.
	Advisories []string
	// Reason is the human-readable reason for the rebuild.
	Reason string
	// InvocationID identifies the run (for example the job id).
	InvocationID string
	// StartedOn and FinishedOn bound the build; zero values are left out.
	StartedOn, FinishedOn time.Time
	// Rescan is the re-scan that allowed publishing; nil if none.
	Rescan *Rescan
}

func digestSet(field, d string) (map[string]string, error) {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || alg == "" || hex == "" {
		return nil, &InputError{Field: field, Value: d}
	}
	ds := map[string]string{alg: hex}
	rd := &intoto.ResourceDescriptor{Name: "x", Digest: ds}
	if err := rd.Validate(); err != nil {
		return nil, &InputError{Field: field, Value: d, Err: err}
	}
	return ds, nil
}

// New builds the in-toto statement of b, with b.Subject as its only
// subject and SLSA provenance v1 as its predicate. It returns an
// [*InputError] when a required field is missing or a digest is
// malformed.
func New(b Build) (*intoto.Statement, error) {
	if b.Subject.Repository == "" {
		return nil, &InputError{Field: "subject.repository"}
	}
	subj, err := digestSet("subject.digest", b.Subject.Digest)
	if err != nil {
		return nil, err
	}
	if b.BuilderID == "" {
		return nil, &InputError{Field: "builderId"}
	}

	ext := map[string]any{}
	var deps []*intoto.ResourceDescriptor
	if s := b.Source; s != nil {
		if s.URL == "" {
			return nil, &InputError{Field: "source.url"}
		}
		src := map[string]any{"url": s.URL}
		if s.Ref != "" {
			src["ref"] = s.Ref
		}
		if s.Commit != "" {
			src["commit"] = s.Commit
		}
		ext["source"] = src
		if s.Containerfile != "" {
			ext["containerfile"] = s.Containerfile
		}
		dep := &intoto.ResourceDescriptor{Uri: "git+" + s.URL}
		if s.Commit != "" {
			dep.Uri += "@" + s.Commit
			dep.Digest = map[string]string{"gitCommit": s.Commit}
			if err := dep.Validate(); err != nil {
				return nil, &InputError{Field: "source.commit", Value: s.Commit, Err: err}
			}
		}
		deps = append(deps, dep)
	}
	if bi := b.Base; bi != nil {
		ds, err := digestSet("base.digest", bi.Digest)
		if err != nil {
			return nil, err
		}
		ref := bi.Repository
		if bi.Tag != "" {
			ref += ":" + bi.Tag
		}
		ext["base"] = ref
		deps = append(deps, &intoto.ResourceDescriptor{
			Name:   "base",
			Uri:    "oci://" + bi.Repository + "@" + bi.Digest,
			Digest: ds,
		})
	}
	if len(b.BuildArgs) > 0 {
		args := map[string]any{}
		for k, v := range b.BuildArgs {
			args[k] = v
		}
		ext["buildArgs"] = args
	}
	if len(b.Advisories) > 0 {
		ext["advisories"] = strings_(sorted(b.Advisories))
	}
	if b.Reason != "" {
		ext["reason"] = b.Reason
	}
	ext["image"] = b.Subject.Repository
	extS, err := structpb.NewStruct(ext)
	if err != nil {
		return nil, &InputError{Field: "externalParameters", Err: err}
	}
	def := &slsa.BuildDefinition{
		BuildType:            BuildType,
		ExternalParameters:   extS,
		ResolvedDependencies: deps,
	}
	if b.NoCache {
		def.InternalParameters, _ = structpb.NewStruct(map[string]any{"noCache": true})
	}

	run := &slsa.RunDetails{Builder: &slsa.Builder{Id: b.BuilderID}}
	if len(b.BuilderVersion) > 0 {
		run.Builder.Version = maps.Clone(b.BuilderVersion)
	}
	if b.InvocationID != "" || !b.StartedOn.IsZero() || !b.FinishedOn.IsZero() {
		md := &slsa.BuildMetadata{InvocationId: b.InvocationID}
		if !b.StartedOn.IsZero() {
			md.StartedOn = timestamppb.New(b.StartedOn)
		}
		if !b.FinishedOn.IsZero() {
			md.FinishedOn = timestamppb.New(b.FinishedOn)
		}
		run.Metadata = md
	}
	if r := b.Rescan; r != nil {
		ann := map[string]any{"grade": r.Grade}
		if r.PreviousGrade != "" {
			ann["previousGrade"] = r.PreviousGrade
		}
		if len(r.Fixed) > 0 {
			ann["advisoriesFixed"] = strings_(sorted(r.Fixed))
		}
		if !r.ScannedAt.IsZero() {
			ann["scannedAt"] = r.ScannedAt.UTC().Format(time.RFC3339)
		}
		annS, err := structpb.NewStruct(ann)
		if err != nil {
			return nil, &InputError{Field: "rescan", Err: err}
		}
		run.Byproducts = append(run.Byproducts, &intoto.ResourceDescriptor{Name: RescanName, Annotations: annS})
	}

	prov := &slsa.Provenance{BuildDefinition: def, RunDetails: run}
	if err := prov.Validate(); err != nil {
		return nil, &InputError{Field: "predicate", Err: err}
	}
	pred, err := toStruct(prov)
	if err != nil {
		return nil, err
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: b.Subject.Repository, Digest: subj}},
		PredicateType: PredicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, &InputError{Field: "statement", Err: err}
	}
	return st, nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// strings_ converts to the []any structpb accepts.
func strings_(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func toStruct(m *slsa.Provenance) (*structpb.Struct, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode predicate: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("provenance: encode predicate: %w", err)
	}
	return s, nil
}

// Marshal returns the statement's JSON: protojson's field names (as the
// in-toto and SLSA specifications spell them), compact, with the
// whitespace protojson randomizes removed, so equal statements give equal
// bytes.
func Marshal(st *intoto.Statement) ([]byte, error) {
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode statement: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("provenance: encode statement: %w", err)
	}
	return out.Bytes(), nil
}

// MaxSize bounds the statements Parse reads.
const MaxSize = 16 << 20

// Parse reads an in-toto statement carrying SLSA provenance v1 (as
// Marshal writes it, or as another builder does) and validates both. It
// returns an [*InputError] for anything else.
func Parse(data []byte) (*intoto.Statement, *slsa.Provenance, error) {
	if len(data) > MaxSize {
		return nil, nil, &InputError{Field: "statement", Err: fmt.Errorf("%d bytes, more than %d", len(data), MaxSize)}
	}
	st := &intoto.Statement{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, st); err != nil {
		return nil, nil, &InputError{Field: "statement", Err: err}
	}
	if err := st.Validate(); err != nil {
		return nil, nil, &InputError{Field: "statement", Err: err}
	}
	if st.GetPredicateType() != PredicateType {
		return nil, nil, &InputError{Field: "predicateType", Value: st.GetPredicateType()}
	}
	pb, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, nil, &InputError{Field: "predicate", Err: err}
	}
	prov := &slsa.Provenance{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(pb, prov); err != nil {
		return nil, nil, &InputError{Field: "predicate", Err: err}
	}
	if err := prov.Validate(); err != nil {
		return nil, nil, &InputError{Field: "predicate", Err: err}
	}
	return st, prov, nil
}

// Grade returns the re-scan grade recorded in prov's byproducts, or ""
// when it has none.
func Grade(prov *slsa.Provenance) string {
	for _, bp := range prov.GetRunDetails().GetByproducts() {
		if bp.GetName() == RescanName {
			return bp.GetAnnotations().GetFields()["grade"].GetStringValue()
		}
	}
	return ""
}
