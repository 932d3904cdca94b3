package abs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/secret"
)

// ExampleOrchestrator_CreateProject manages a project at runtime, as a
// portal does: it creates the project, turns auto-rebuild on (which turns
// the build service and auto-publish on, and says so), stores the
// source's token encrypted, and reads the audit log.
func ExampleOrchestrator_CreateProject() {
	dir, err := os.MkdirTemp("", "abs-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := abs.WithActor(context.Background(), "portal")
	db, err := abs.OpenSQLite(ctx, filepath.Join(dir, "abs.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	key, _ := secret.GenerateKey() // in production: secret.LoadKey(file, env)
	o, err := abs.New(ctx, db, nil, abs.WithSecretKey(key))
	if err != nil {
		fmt.Println(err)
		return
	}

	_, _, err = o.CreateProject(ctx, abs.Project{ID: "p-1234", Name: "Widget", Owners: []string{"team@example.com"},
		Images: []abs.Image{{Repository: "registry.example.com/acme/widget",
			SourceSpec: &abs.SourceSpec{URL: "https://git.example.com/acme/widget.git", Branch: "main"}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	on := true
	img, change, err := o.UpdateImage(ctx, "registry.example.com/acme/widget", abs.ImageUpdate{AutoRebuild: &on, IfVersion: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(img.BuildService, img.AutoRebuild, img.AutoPublish, change.Version)
	for _, n := range change.Notes {
		fmt.Println(n)
	}
	_, _, err = o.UpdateImage(ctx, img.Name, abs.ImageUpdate{AutoPublish: &on, IfVersion: 1})
	fmt.Println(err)

	cred, err := o.SetToken(ctx, img.Name, secret.New("ghp_example-token"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cred.Kind, cred.Fingerprint == secret.TokenFingerprint(secret.New("ghp_example-token")))

	entries, total, _ := o.Audit(ctx, 1, 10)
	fmt.Println(total)
	for _, e := range entries {
		fmt.Println(e.Actor, e.Action, e.Target)
	}
	// Output:
	// true true true 2
	// image registry.example.com/acme/widget: auto-rebuild turns on the build service
	// image registry.example.com/acme/widget: auto-rebuild turns on auto-publish
	// abs: update image registry.example.com/acme/widget: abs: changed since it was read: image registry.example.com/acme/widget is at version 2, not 1
	// token true
	// 4
	// portal set-token registry.example.com/acme/widget
	// portal update-image registry.example.com/acme/widget
	// portal create-image registry.example.com/acme/widget
	// portal create-project p-1234
}
