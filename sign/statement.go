package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// MaxStatementSize bounds an attested statement (SBOMs of large images
// are a few MiB).
const MaxStatementSize = 32 << 20

// Statement wraps predicate (a JSON object, such as an SPDX or CycloneDX
// document) in an in-toto v1 statement about the image ref
// ("repository@sha256:…") with the given predicate type. The JSON is
// compact with normalized whitespace, so the same input gives the same
// bytes.
func Statement(ref, predicateType string, predicate []byte) ([]byte, error) {
	d, err := parseDigest(ref)
	if err != nil {
		return nil, err
	}
	if predicateType == "" {
		return nil, fmt.Errorf("%w: no predicate type", ErrStatement)
	}
	if len(predicate) > MaxStatementSize {
		return nil, fmt.Errorf("%w: predicate of %d bytes, more than %d", ErrStatement, len(predicate), MaxStatementSize)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(predicate, pred); err != nil {
		return nil, fmt.Errorf("%w: predicate is not a JSON object: %v", ErrStatement, err)
	}
	alg, hex, _ := strings.Cut(d.DigestStr(), ":")
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: d.Context().Name(), Digest: map[string]string{alg: hex}}},
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStatement, err)
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStatement, err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStatement, err)
	}
	return out.Bytes(), nil
}

// statementInfo is what Attest reads of a statement: its type, subjects
// and predicate type.
type statementInfo struct {
	Type    string `json:"_type"`
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
}

// checkStatement returns the predicate type of an in-toto statement
// (v1 or v0.1) whose subjects include digest.
func checkStatement(st []byte, digest string) (string, error) {
	if len(st) > MaxStatementSize {
		return "", fmt.Errorf("%w: %d bytes, more than %d", ErrStatement, len(st), MaxStatementSize)
	}
	var info statementInfo
	if err := json.Unmarshal(st, &info); err != nil {
		return "", fmt.Errorf("%w: %v", ErrStatement, err)
	}
	if info.Type != intoto.StatementTypeUri && info.Type != "https://in-toto.io/Statement/v0.1" {
		return "", fmt.Errorf("%w: _type %q", ErrStatement, info.Type)
	}
	if info.PredicateType == "" {
		return "", fmt.Errorf("%w: no predicateType", ErrStatement)
	}
	alg, hex, _ := strings.Cut(digest, ":")
	for _, s := range info.Subject {
		if s.Digest[alg] == hex {
			return info.PredicateType, nil
		}
	}
	return "", fmt.Errorf("%w: no subject has digest %s", ErrStatement, digest)
}
