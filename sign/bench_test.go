package sign_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/openabs/abs/internal/regtest"
	"github.com/openabs/abs/provenance"
	"github.com/openabs/abs/rpmscan"
	"github.com/openabs/abs/sbom"
	"github.com/openabs/abs/sign"
)

// BenchmarkSignAndAttest measures what the orchestrator adds after a
// publish: one signature and two attestations (a 400-package SPDX SBOM
// and the provenance) pushed to a registry on loopback.
//
//	go test ./sign/ -run XXX -bench SignAndAttest -benchtime 20x
func BenchmarkSignAndAttest(b *testing.B) {
	for regName, start := range map[string]func(testing.TB, ...regtest.Option) *regtest.Registry{
		"go-containerregistry": regtest.InProcess,
		"distribution":         regtest.Distribution,
	} {
		b.Run(regName, func(b *testing.B) {
			reg := start(b)
			ref := pushImage(b, reg.Repo("bench/app"), "v1")
			d, _ := name.NewDigest(ref)
			inv := &rpmscan.Inventory{OS: rpmscan.OS{ID: "rhel"}}
			for i := range 400 {
				inv.Packages = append(inv.Packages, rpmscan.Package{
					Name: fmt.Sprintf("pkg-%03d", i), Version: "1.0", Release: "1.el9", Arch: "x86_64", Vendor: "Red Hat, Inc.",
					SourceRPM: fmt.Sprintf("pkg-%03d-1.0-1.el9.src.rpm", i),
				})
			}
			doc, err := sbom.New(inv, sbom.Image{Repository: d.Context().Name(), Digest: d.DigestStr()})
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			if err := doc.WriteSPDX(&buf); err != nil {
				b.Fatal(err)
			}
			spdx, err := sign.Statement(ref, sbom.PredicateSPDX, buf.Bytes())
			if err != nil {
				b.Fatal(err)
			}
			st, err := provenance.New(provenance.Build{
				Subject: provenance.Image{Repository: d.Context().Name(), Digest: d.DigestStr()}, BuilderID: "https://openabs.dev/builders/buildah",
				Rescan: &provenance.Rescan{Grade: "A"},
			})
			if err != nil {
				b.Fatal(err)
			}
			prov, err := provenance.Marshal(st)
			if err != nil {
				b.Fatal(err)
			}
			key, _ := newKey(b)
			s := sign.New(key)
			b.ReportAllocs()
			b.SetBytes(int64(len(spdx) + len(prov)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Sign(b.Context(), ref); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Attest(b.Context(), ref, spdx, prov); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
