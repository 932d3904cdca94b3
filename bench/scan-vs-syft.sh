#!/bin/sh
# Side-by-side: openabs examples/scan against syft on the same image
# tarball (the BenchmarkScan image: 200-package sqlite rpmdb, ~150 MB of
# application layers). Reports wall time and peak RSS, median of RUNS runs,
# and the ratios syft/openabs.
#
#   bench/scan-vs-syft.sh            (from the repository root)
#
# Needs: go, /usr/bin/time (Debian package "time"), python3. Installs syft
# v1.57.1 with `go install` when it is not on PATH or in $(go env GOPATH)/bin
# (about three minutes).
set -eu

RUNS=${RUNS:-3}
SYFT_VERSION=${SYFT_VERSION:-v1.57.1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x /usr/bin/time ] || { echo "need /usr/bin/time (apt-get install time)" >&2; exit 1; }

syft=$(command -v syft || true)
if [ -z "$syft" ]; then
	syft="$(go env GOPATH)/bin/syft"
	if [ ! -x "$syft" ]; then
		echo "installing syft $SYFT_VERSION ..." >&2
		go install "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
	fi
fi

echo "building the image and the scanner ..." >&2
go run ./bench/mkimage -o "$work/image.tar"
go build -o "$work/scan" ./examples/scan

# measure NAME CMD... : runs CMD RUNS times, appends "name wall_s rss_kb" lines.
measure() {
	label=$1
	shift
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		/usr/bin/time -v -o "$work/time.txt" "$@" >"$work/$label.out" 2>"$work/$label.err" || {
			echo "$label failed:" >&2
			cat "$work/$label.err" >&2
			exit 1
		}
		python3 - "$label" "$work/time.txt" >>"$work/results.txt" <<'PY'
import re, sys
label, path = sys.argv[1], sys.argv[2]
text = open(path).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
print(label, secs, rss)
PY
		i=$((i + 1))
	done
}

echo "running $RUNS times each ..." >&2
measure openabs "$work/scan" -format json "docker-archive:$work/image.tar"
measure syft "$syft" "docker-archive:$work/image.tar" -o json -q

python3 - "$work/results.txt" "$work/openabs.out" "$work/syft.out" "$(go version -m "$syft" 2>/dev/null | awk '$1 == "mod" {print $3}')" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in ("openabs", "syft"):
    walls = [float(r[1]) for r in rows if r[0] == name]
    rsss = [int(r[2]) for r in rows if r[0] == name]
    med[name] = (statistics.median(walls), statistics.median(rsss) / 1024)
ours = len(json.load(open(sys.argv[2]))["packages"])
theirs = sum(1 for a in json.load(open(sys.argv[3]))["artifacts"] if a.get("type") == "rpm")
print(f"image: BenchmarkScan image (docker-archive), syft {sys.argv[4] or '?'}, median of {len(rows) // 2} runs")
print("(syft also lists the imported gpg-pubkey as an rpm; openabs leaves it out)")
print(f"{'tool':8} {'rpms':>5} {'wall (s)':>9} {'peak RSS (MiB)':>15}")
for name, n in (("openabs", ours), ("syft", theirs)):
    w, m = med[name]
    print(f"{name:8} {n:5d} {w:9.2f} {m:15.1f}")
tw, tm = med["syft"][0] / med["openabs"][0], med["syft"][1] / med["openabs"][1]
print(f"openabs is {tw:.1f}x faster and uses 1/{tm:.1f} of syft's peak memory "
      f"(target: >= 3x faster, <= 1/3 memory): {'met' if tw >= 3 and tm >= 3 else 'NOT met'}")
PY
