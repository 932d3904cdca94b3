package release_test

import (
	"fmt"

	"github.com/openabs/abs/internal/release"
)

func ExampleNextFree() {
	// The team's CI pushed an image labelled release=1, but an earlier
	// rebuild already holds the tag 1.0-2.
	fmt.Println(release.Next("1"), release.NextFree("1.0", "1", []string{"1.0-1", "1.0-2", "latest"}))
	fmt.Println(release.Next("1.el9.1"))
	// Output:
	// 2 3
	// 1.el9.2
}
