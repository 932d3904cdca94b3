#!/usr/bin/env bash
# Paired measurement of rpmscan's concurrent layer walk: BenchmarkScanLayers
# with 1 (sequential), 2, 3 and 4 layers read at once, run alternately ROUNDS
# times (default 5) so that a loaded machine weighs on all alike. Prints each
# run and the median ns/op of each.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
ns=${NS:-"n1 n2 n3 n4"}
bin=$(mktemp -d)/rpmscan.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./rpmscan/
out=$(dirname "$bin")/runs.txt
for r in $(seq "$rounds"); do
	for n in $ns; do
		(cd rpmscan && "$bin" -test.run '^$' -test.bench "ScanLayers/$n\$" -test.benchtime "${BENCHTIME:-5x}") |
			grep ns/op | tee -a "$out"
	done
done
echo
printf '%-6s %12s %s\n' layers median_ms "runs (ms)"
for n in $ns; do
	grep "ScanLayers/$n-" "$out" | awk '{print $3/1e6}' | sort -n |
		awk -v n="$n" '{v[NR]=$1; s=s sprintf(" %.0f", $1)} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%-6s %12.0f %s\n", n, m, s}'
done
