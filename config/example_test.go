package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openabs/abs/config"
)

// A file with a typo fails with the key and line at fault; the value is
// never repeated.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "config-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "openabs.yaml")
	_ = os.WriteFile(path, []byte("poll_interval: 30m\nprojects:\n  - name: web\n    images: [{repository: registry.example.com/web}]\n"), 0o600)
	f, err := config.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.PollInterval(), len(f.Projects))

	_ = os.WriteFile(path, []byte("projects: [{name: web}]\nregistries:\n  - host: registry.example.com\n    pasword_env: S3CRET\n"), 0o600)
	_, err = config.Load(path)
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Println(ce.Line, ce.Key, ce.Reason)
	}
	// Output:
	// 30m0s 1
	// 4 registries[0].pasword_env unknown key
}
