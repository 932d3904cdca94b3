package rpmver_test

import (
	"fmt"

	"github.com/openabs/abs/internal/rpmver"
)

func ExampleEVR_Compare() {
	installed := rpmver.MustParse("1.13.1-3.el9_3.2")
	fixed := rpmver.MustParse("0:1.13.1-3.el9_3.3")
	fmt.Println(installed.Compare(fixed), installed)
	fmt.Println(rpmver.Vercmp("1.0~rc1", "1.0"), rpmver.Vercmp("1.0^git1", "1.0"))
	// Output:
	// -1 0:1.13.1-3.el9_3.2
	// -1 1
}
