package sign_test

import (
	"encoding/pem"
	"testing"

	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// Key files are outside input: LoadKey returns a key or an error that
// matches ErrKey, never panics.
func FuzzLoadKey(f *testing.F) {
	privPEM, _ := encryptedKey(&testing.T{})
	f.Add(privPEM, password)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}), "")
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte(`{"kdf":{"name":"scrypt","params":{"N":2,"r":1,"p":1}}}`)}), "x")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, pw string) {
		k, err := sign.LoadKey(data, secret.New(pw))
		if err != nil {
			return
		}
		if _, err := k.PublicKeyPEM(); err != nil {
			t.Fatal(err)
		}
	})
}
