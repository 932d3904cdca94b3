package demo

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/openabs/abs/internal/testutil"
)

// Image is a small image built from nothing but rpmdb, for the scanner's
// quick start: the certified-image layout (a base layer holding rpmdb as
// var/lib/rpm/rpmdb.sqlite and some filler, one application layer) with a
// few hundred kilobytes of payload. The same rpmdb always gives the same
// image.
func Image(rpmdb []byte) (v1.Image, error) { return testutil.DemoImage(rpmdb) }
