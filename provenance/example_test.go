package provenance_test

import (
	"fmt"
	"log"

	"github.com/openabs/abs/provenance"
)

// Record a rebuild, then read the statement back as a verifier would.
func ExampleNew() {
	st, err := provenance.New(provenance.Build{
		Subject:    provenance.Image{Repository: "registry.example.com/team/app", Digest: "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"},
		Source:     &provenance.Source{URL: "https://git.example.com/team/app.git", Commit: "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
		Base:       &provenance.Image{Repository: "registry.access.redhat.com/ubi9/ubi", Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
		BuilderID:  "https://openabs.dev/builders/buildah",
		BuildArgs:  map[string]string{"RELEASE": "5"},
		Advisories: []string{"RHSA-2026:1000"},
		Rescan:     &provenance.Rescan{Grade: "A", PreviousGrade: "C", Fixed: []string{"RHSA-2026:1000"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	payload, err := provenance.Marshal(st)
	if err != nil {
		log.Fatal(err)
	}
	st, prov, err := provenance.Parse(payload)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.GetPredicateType())
	fmt.Println(st.GetSubject()[0].GetName(), st.GetSubject()[0].GetDigest()["sha256"][:12])
	for _, dep := range prov.GetBuildDefinition().GetResolvedDependencies() {
		fmt.Println(dep.GetUri()[:40])
	}
	fmt.Println("grade", provenance.Grade(prov))
	// Output:
	// https://slsa.dev/provenance/v1
	// registry.example.com/team/app 0f1e2d3c4b5a
	// git+https://git.example.com/team/app.git
	// oci://registry.access.redhat.com/ubi9/ub
	// grade A
}
