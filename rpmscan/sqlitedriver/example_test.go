package sqlitedriver_test

import (
	"database/sql"
	"fmt"
	"slices"

	_ "github.com/openabs/abs/rpmscan/sqlitedriver" // registers "sqlite" for rpmscan
)

// Importing the package for its side effect registers the pure-Go driver
// under the name go-rpmdb opens sqlite rpmdbs with.
func Example() {
	fmt.Println(slices.Contains(sql.Drivers(), "sqlite"))
	// Output: true
}
