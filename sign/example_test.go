package sign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openabs/abs/sign"
)

// Sign an image in a registry and attest an SBOM about it.
func ExampleSigner() {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/team/app"
	img, err := random.Image(256, 1)
	if err != nil {
		log.Fatal(err)
	}
	tag, _ := name.NewTag(repo + ":1.2.3-5")
	if err := remote.Write(tag, img); err != nil {
		log.Fatal(err)
	}
	digest, _ := img.Digest()
	ref := repo + "@" + digest.String()

	// A KMS or HSM client is a crypto.Signer too.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, err := sign.NewKey(priv)
	if err != nil {
		log.Fatal(err)
	}
	s := sign.New(key)
	ctx := context.Background()

	sig, err := s.Sign(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	st, err := sign.Statement(ref, "https://spdx.dev/Document", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	if err != nil {
		log.Fatal(err)
	}
	att, err := s.Attest(ctx, ref, st)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimPrefix(sig.Tag, repo+":sha256-"+digest.Hex), sig.Layers, sig.Referrer)
	fmt.Println(strings.TrimPrefix(att.Tag, repo+":sha256-"+digest.Hex), att.Layers, att.Referrer)
	// Output:
	// .sig 1 true
	// .att 1 true
}
