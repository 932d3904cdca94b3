#!/bin/sh
# What linking the supply-chain packages (sbom, provenance, sign) costs a
# program that embeds the orchestrator: binary size (plain and stripped)
# and the extra build time over a warm build cache. It builds three
# programs in a temporary module that uses this checkout:
#   base    - imports the root package only
#   supply  - also uses sbom, provenance and sign
#   only-X  - the root package plus one of them
#
#   bench/supply-size.sh            (from the repository root)
#
# The first build is cold (its own GOCACHE), the others reuse that cache,
# so their times are what the added packages cost.
set -eu

root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOCACHE="$work/cache" GOFLAGS=-mod=mod

prog() { # name, extra imports, uses
	mkdir -p "$work/$1"
	cat > "$work/$1/go.mod" <<MOD
module measure/$1

go 1.26.0

require github.com/openabs/abs v0.0.0

replace github.com/openabs/abs => $root
MOD
	cp "$root/go.sum" "$work/$1/"
	cat > "$work/$1/main.go" <<SRC
package main

import (
	"fmt"

	abs "github.com/openabs/abs"
$2
)

var _ = abs.New
$3

func main() { fmt.Println() }
SRC
}

prog base "" ""
prog only-sbom '"github.com/openabs/abs/sbom"' 'var _, _, _ = sbom.New, (*sbom.Document).WriteSPDX, (*sbom.Document).WriteCycloneDX'
prog only-provenance '"github.com/openabs/abs/provenance"' 'var _, _, _ = provenance.New, provenance.Marshal, provenance.Parse'
prog only-sign '"github.com/openabs/abs/sign"' 'var _, _, _, _ = sign.LoadKeyFile, sign.NewKey, (*sign.Signer).Sign, (*sign.Signer).Attest'
prog supply '"github.com/openabs/abs/sbom"
	"github.com/openabs/abs/provenance"
	"github.com/openabs/abs/sign"' 'var _, _, _, _ = sbom.New, provenance.New, (*sign.Signer).Sign, (*sign.Signer).Attest
var _, _ = (*sbom.Document).WriteSPDX, provenance.Marshal'

for p in base only-sbom only-provenance only-sign supply; do
	(cd "$work/$p" && go mod tidy >/dev/null 2>&1)
	start=$(date +%s.%N)
	(cd "$work/$p" && go build -o "$work/$p.bin" . && go build -ldflags='-s -w' -o "$work/$p.stripped" .)
	end=$(date +%s.%N)
	printf '%-16s %10d bytes  %10d stripped  build %6.1f s\n' "$p" \
		"$(stat -c %s "$work/$p.bin")" "$(stat -c %s "$work/$p.stripped")" "$(echo "$end - $start" | bc)"
done
