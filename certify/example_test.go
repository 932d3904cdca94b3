package certify_test

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/openabs/abs/certify"
)

// ExamplePolicy_Certify certifies a scratch image, then gates a rebuild
// that forgot its USER.
func ExamplePolicy_Certify() {
	ctx := context.Background()
	img, _ := crane.Image(map[string][]byte{"licenses/LICENSE": []byte("Apache-2.0"), "widget": []byte("ELF")})
	cfg, _ := img.ConfigFile()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.User = "1001"
	cfg.Config.Labels = map[string]string{
		"name": "acme/widget", "vendor": "Acme", "version": "1.2", "release": "3",
		"summary": "Widget", "description": "Serves widgets", "maintainer": "widgets@acme.example",
	}
	current, _ := mutate.ConfigFile(img, cfg)

	policy, _ := certify.New(certify.ScratchNonRoot)
	subject := certify.Subject{Repository: "quay.io/acme/widget", Tags: []string{"1.2-3"}}
	before, _ := policy.Certify(ctx, current, subject)
	for _, r := range before.Platforms[0].Results {
		fmt.Printf("%-26s %s\n", r.Check, r.Status)
	}

	cfg = cfg.DeepCopy()
	cfg.Config.User = ""
	rebuild, _ := mutate.ConfigFile(img, cfg)
	after, _ := policy.Certify(ctx, rebuild, subject)
	d := certify.Gate(before, after)
	fmt.Println("publish:", d.Allowed)
	for _, b := range d.Blocks {
		fmt.Println("blocked by", b.Check, "on", b.Platform)
	}
	// Output:
	// HasLicense                 passed
	// HasUniqueTag               passed
	// LayerCountAcceptable       passed
	// HasRequiredLabel           passed
	// HasNoProhibitedLabels      passed
	// RunAsNonRoot               passed
	// HasProhibitedContainerName passed
	// publish: false
	// blocked by RunAsNonRoot on linux/amd64
}

// noShell is a rule of one's own: the image must not ship a shell.
type noShell struct{}

func (noShell) Name() string        { return "HasNoShell" }
func (noShell) Description() string { return "No /bin/sh or /usr/bin/bash in the image." }

func (c noShell) Validate(ctx context.Context, t *certify.Target) certify.Result {
	fsys, err := t.FS(ctx)
	if err != nil {
		return certify.Result{Status: certify.Error, Reason: err.Error(), Err: err}
	}
	for _, p := range []string{"bin/sh", "usr/bin/bash"} {
		if _, err := fsys.Stat(p); err == nil {
			return certify.Result{Status: certify.Failed, Reason: "/" + p + " is present"}
		}
	}
	return certify.Result{Status: certify.Passed, Reason: "no shell"}
}

// ExampleCheck adds a check of one's own to a policy.
func ExampleCheck() {
	img, _ := crane.Image(map[string][]byte{"usr/bin/bash": []byte("ELF"), "licenses/L": []byte("MIT")})
	base, _ := certify.New(certify.ScratchRoot)
	policy := base.With(noShell{})
	rep, _ := policy.Certify(context.Background(), img, certify.Subject{Repository: "quay.io/acme/tool", Tags: []string{"1.0"}})
	for _, r := range rep.Platforms[0].Results {
		if r.Check == "HasNoShell" || r.Status != certify.Passed {
			fmt.Printf("%s: %s (%s)\n", r.Check, r.Status, r.Reason)
		}
	}
	fmt.Println(policy.Name())
	// Output:
	// HasRequiredLabel: failed (missing labels: name, vendor, version, release, summary, description, maintainer)
	// HasNoShell: failed (/usr/bin/bash is present)
	// scratch-root+HasNoShell
}
