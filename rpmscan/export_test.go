package rpmscan

import (
	"database/sql"
	"encoding/binary"
	"path/filepath"
)

// SortPackages exposes the inventory order to the external tests.
var SortPackages = sortPackages

// MinimalHeader returns a well-formed rpm header blob naming one package
// (name, version 1.0, release 1.el9, arch x86_64).
func MinimalHeader(name string) []byte {
	const typeString = 6
	tags := []struct {
		tag uint32
		val string
	}{{1000, name}, {1001, "1.0"}, {1002, "1.el9"}, {1022, "x86_64"}}
	var data []byte
	for _, t := range tags {
		data = append(append(data, t.val...), 0)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(tags)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	off := 0
	for _, t := range tags {
		for _, v := range []uint32{t.tag, typeString, uint32(off), 1} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		off += len(t.val) + 1
	}
	return append(b, data...)
}

// ManyHeadersSQLite writes, under dir, a sqlite rpmdb laid out as rpm lays
// it out, holding n copies of MinimalHeader, and returns its path.
func ManyHeadersSQLite(dir string, n int) (string, error) {
	p := filepath.Join(dir, "rpmdb.sqlite")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)`); err != nil {
		return "", err
	}
	_, err = db.Exec(`WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < ?)
		INSERT INTO Packages(blob) SELECT ? FROM c`, n, MinimalHeader("pkg"))
	return p, err
}
