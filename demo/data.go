package demo

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
)

//go:embed testdata/base-old.rpmdb.sqlite.gz
var baseOldRPMDB []byte

//go:embed testdata/base-new.rpmdb.sqlite.gz
var baseNewRPMDB []byte

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// OldRPMDB returns the sqlite rpmdb of the outdated base image: glibc
// 2.34-83.el9_3.7, openssl 1:3.0.7-24.el9, curl 7.76.1-23.el9, bash, tzdata.
func OldRPMDB() ([]byte, error) { return gunzip(baseOldRPMDB) }

// NewRPMDB returns the sqlite rpmdb of the updated base image: glibc
// 2.34-100.el9_4.2, openssl 1:3.0.7-27.el9, curl 7.76.1-29.el9_4.1.
func NewRPMDB() ([]byte, error) { return gunzip(baseNewRPMDB) }
