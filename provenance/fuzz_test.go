package provenance_test

import (
	"testing"

	"github.com/openabs/abs/provenance"
)

// Parse reads statements fetched from registries: outside input. It must
// return a statement or an error, never panic, and what it accepts must
// marshal again.
func FuzzParse(f *testing.F) {
	st, err := provenance.New(build())
	if err != nil {
		f.Fatal(err)
	}
	good, err := provenance.Marshal(st)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"x","digest":{"sha256":"00"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	f.Add([]byte(`{"predicate":{"buildDefinition":{"externalParameters":[]}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, prov, err := provenance.Parse(data)
		if err != nil {
			return
		}
		if prov == nil || st == nil {
			t.Fatal("nil result without error")
		}
		if _, err := provenance.Marshal(st); err != nil {
			t.Fatal(err)
		}
		_ = provenance.Grade(prov)
	})
}
