package abs_test

import (
	"context"
	"fmt"
	"os"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// Certify every rebuild before it is published, and sign what is
// published with a cosign key, attesting its SPDX SBOM and its SLSA
// provenance.
func ExampleWithSigner() {
	key, err := sign.LoadKeyFile("cosign.key", secret.New(os.Getenv("COSIGN_PASSWORD")))
	if err != nil {
		fmt.Println(err)
		return
	}
	policy, err := certify.New(certify.Container)
	if err != nil {
		fmt.Println(err)
		return
	}
	db, err := abs.OpenSQLite(context.Background(), "abs.db")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	_, err = abs.New(context.Background(), db, nil,
		abs.WithCertification(policy, nil),
		abs.WithSigner(sign.New(key), abs.WithSBOM(abs.SBOMSPDX)))
	fmt.Println(err)
}
