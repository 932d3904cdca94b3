// Command mkimage writes the benchmark image (see testutil.BenchSpec) as a
// docker-archive tarball: a UBI 9-like base layer with a 200-package sqlite
// rpmdb, then about 150 MB of application layers. It is deterministic.
//
//	go run ./bench/mkimage -o /tmp/bench.tar
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/openabs/abs/internal/testutil"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // builds the sqlite rpmdb
)

func main() {
	out := flag.String("o", "bench.tar", "output docker-archive tarball")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func write(out string) error {
	dir, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := testutil.RPMDB200(dir)
	if err != nil {
		return err
	}
	img, err := testutil.CertifiedImage(testutil.BenchSpec(db))
	if err != nil {
		return err
	}
	tag, err := name.NewTag("localhost/openabs/bench:latest")
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, tag, img)
}
