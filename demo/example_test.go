package demo_test

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/openabs/abs/demo"
)

// Seed a loopback registry with the demo fleet, then ship the base's fix:
// the base tag moves, the applications still point at the old base.
func Example() {
	ctx := context.Background()
	reg := demo.StartRegistry()
	defer reg.Close()
	fleet, err := demo.Seed(ctx, reg.Host)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := demo.UpdateBase(ctx, fleet); err != nil {
		fmt.Println(err)
		return
	}
	ref, err := name.ParseReference(fleet.BaseRef, name.Insecure)
	if err != nil {
		fmt.Println(err)
		return
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(fleet.Apps), "applications")
	fmt.Println("base moved:", desc.Digest.String() == fleet.NewBase && fleet.NewBase != fleet.OldBase)
	// Output:
	// 2 applications
	// base moved: true
}
