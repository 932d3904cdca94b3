#!/usr/bin/env bash
# Side-by-side scan benchmark: openabs examples/scan, syft and trivy list the
# RPMs of the same four docker-archive tarballs (see bench/scanimages): a
# Berkeley DB rpmdb image, a sqlite UBI 9-like image, an ndb image and a
# large image with 1.2 GiB of application layers above the rpmdb. Each tool
# runs RUNS times per image, interleaved so that load hits all alike; the
# table shows medians of wall time and peak RSS (/usr/bin/time -v), the
# ratios to openabs, and the physical floor: the time `gzip -dc` takes to
# decompress the layers the scan must read (all of them here: the rpmdb is
# in the bottom layer), piped to `wc -c`.
#
#   bench/scan-side-by-side.sh            (from the repository root)
#
# Environment:
#   RUNS=5                 runs per tool and image
#   IMAGES="bdb sqlite ndb large"
#   SCAN=path              the openabs binary (default: built from ./examples/scan,
#                          with -tags isal when pkg-config finds libisal, so that
#                          gzip is inflated with ISA-L; apt-get install libisal-dev)
#   SCAN_GO=path           the openabs binary built without tags (klauspost/compress
#                          inflater), shown as openabs-go (default: built when SCAN
#                          is, and libisal is found)
#   SCAN_OLD=path          a second openabs binary, shown as openabs-old
#                          (for before/after comparisons of the scanner)
#   SCAN_FLAGS="..."       extra flags for both openabs binaries (each must
#                          accept them), e.g.
#                          "-layer-concurrency 1" (layers one by one; the
#                          default reads GOMAXPROCS layers at once)
#   SYFT=path TRIVY=path   the peers (default: PATH, then $(go env GOPATH)/bin)
#   KEEP=dir               write (and reuse) the images in dir instead of a
#                          temporary directory removed at the end
#
# A missing peer is skipped. Install them with
#   go install github.com/anchore/syft/cmd/syft@v1.57.1
#   GOEXPERIMENT=jsonv2 go install github.com/aquasecurity/trivy/cmd/trivy@v0.74.0
# Needs go, python3, gzip and /usr/bin/time (Debian package "time"). The
# images take about 1.5 GB of disk. Not run in CI: the numbers depend on
# the machine and its load, which the script prints.
set -euo pipefail

RUNS=${RUNS:-5}
IMAGES=${IMAGES:-"bdb sqlite ndb large"}

[ -x /usr/bin/time ] || { echo "need /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "need python3" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=${KEEP:-$work/images}
mkdir -p "$images"

find_tool() { # NAME: PATH, then GOPATH/bin; prints nothing when missing
	command -v "$1" 2>/dev/null || { [ -x "$(go env GOPATH)/bin/$1" ] && echo "$(go env GOPATH)/bin/$1"; } || true
}
syft=${SYFT:-$(find_tool syft)}
trivy=${TRIVY:-$(find_tool trivy)}
[ -n "$syft" ] || echo "syft not found: skipped" >&2
[ -n "$trivy" ] || echo "trivy not found: skipped" >&2

if [ -z "${SCAN:-}" ]; then
	if pkg-config --exists libisal 2>/dev/null; then
		echo "building examples/scan with -tags isal, and without as openabs-go ..." >&2
		go build -tags isal -o "$work/scan" ./examples/scan
		go build -o "$work/scan-go" ./examples/scan
		SCAN_GO=${SCAN_GO:-$work/scan-go}
	else
		echo "building examples/scan (libisal not found: klauspost/compress inflater) ..." >&2
		go build -o "$work/scan" ./examples/scan
	fi
	SCAN=$work/scan
fi

go mod download github.com/knqyf263/go-rpmdb
rpmdbs="$(go list -m -f '{{.Dir}}' github.com/knqyf263/go-rpmdb)/pkg/testdata"
missing=""
for img in $IMAGES; do
	[ -f "$images/$img.tar" ] && [ -f "$images/$img.layers" ] || missing="$missing,$img"
done
if [ -n "$missing" ]; then
	echo "writing images${missing//,/ } ..." >&2
	go run ./bench/scanimages -o "$images" -rpmdbs "$rpmdbs" -only "${missing#,}"
fi

export SYFT_CHECK_FOR_APP_UPDATE=false
mkdir -p "$work/trivy-cache"

# run IMAGE TOOL CMD...: one timed run, appended to results.txt as
# "image tool wall_s rss_kb packages".
run() {
	local img=$1 tool=$2
	shift 2
	if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.json" 2>"$work/err.txt"; then
		echo "$tool on $img failed:" >&2
		tail -5 "$work/err.txt" >&2
		return 0
	fi
	python3 - "$img" "$tool" "$work/time.txt" "$work/out.json" >>"$work/results.txt" <<'PY'
import json, re, sys
img, tool, tpath, opath = sys.argv[1:]
text = open(tpath).read()
secs = 0.0
for part in re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1).split(":"):
    secs = secs * 60 + float(part)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
n = -1
try:
    if tool.startswith("openabs"):
        n = len(json.load(open(opath))["packages"])
    elif tool == "syft":
        # syft also lists imported gpg-pubkey entries; openabs leaves them out
        n = sum(1 for a in json.load(open(opath))["artifacts"] if a.get("type") == "rpm" and a.get("name") != "gpg-pubkey")
    elif tool == "floor":
        n = 0
    else:
        d = json.load(open(opath))
        n = sum(1 for r in d.get("Results", []) for p in r.get("Packages", []) if p.get("Name") != "gpg-pubkey")
except Exception:
    pass
print(img, tool, secs, rss, n)
PY
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for img in $IMAGES; do
	tarball=$images/$img.tar
	mapfile -t layers <"$images/$img.layers"
	echo "$img: $RUNS runs of each tool ..." >&2
	for ((i = 0; i < RUNS; i++)); do
		run "$img" floor sh -c 'for l; do gzip -dc "$l"; done | wc -c' sh "${layers[@]}"
		# shellcheck disable=SC2086 # SCAN_FLAGS is split into flags
		run "$img" openabs "$SCAN" ${SCAN_FLAGS:-} -format json "docker-archive:$tarball"
		# shellcheck disable=SC2086
		[ -z "${SCAN_GO:-}" ] || run "$img" openabs-go "$SCAN_GO" ${SCAN_FLAGS:-} -format json "docker-archive:$tarball"
		# shellcheck disable=SC2086
		[ -z "${SCAN_OLD:-}" ] || run "$img" openabs-old "$SCAN_OLD" ${SCAN_FLAGS:-} -format json "docker-archive:$tarball"
		[ -z "$syft" ] || run "$img" syft "$syft" "docker-archive:$tarball" -o json -q
		[ -z "$trivy" ] || run "$img" trivy "$trivy" image --input "$tarball" --cache-backend memory \
			--cache-dir "$work/trivy-cache" --list-all-pkgs --format json --scanners "" --offline-scan -q
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$work/results.txt" "$RUNS" "$load_before" "$load_after" "$(nproc)" \
	"$([ -n "$syft" ] && go version -m "$syft" 2>/dev/null | awk '$1 == "mod" {print $3}')" \
	"$([ -n "$trivy" ] && go version -m "$trivy" 2>/dev/null | awk '$1 == "mod" {print $3}')" \
	"$(for img in $IMAGES; do printf '%s=%s ' "$img" "$(du -m "$images/$img.tar" | cut -f1)"; done)" \
	"$(if ldd "$SCAN" 2>/dev/null | grep -q libisal; then echo "ISA-L inflater (-tags isal)"; else echo "klauspost/compress inflater"; fi)" <<'PY'
import statistics, sys
path, runs, before, after, ncpu, syftv, trivyv, sizes, inflater = sys.argv[1:]
rows = [l.split() for l in open(path)]
sizes = dict(s.split("=") for s in sizes.split())
order = ["floor", "openabs", "openabs-go", "openabs-old", "syft", "trivy"]
print(f"median of {runs} interleaved runs; {ncpu} CPUs; load average {before} before, {after} after")
print(f"syft {syftv or 'missing'}, trivy {trivyv or 'missing'}; floor = gzip -dc of the layers the scan reads, | wc -c")
print(f"openabs: {inflater}; openabs-go: built without tags (klauspost/compress)")
print()
print(f"{'image':7} {'MB':>5} {'tool':12} {'rpms':>5} {'wall s':>7} {'peak MiB':>9} {'tool/openabs':>12} {'openabs/tool':>12}")
med = {}
for img in dict.fromkeys(r[0] for r in rows):
    for tool in order:
        rs = [r for r in rows if r[0] == img and r[1] == tool]
        if not rs:
            continue
        w = statistics.median(float(r[2]) for r in rs)
        m = statistics.median(int(r[3]) for r in rs) / 1024
        n = rs[-1][4]
        med[img, tool] = (w, m)
    for tool in order:
        if (img, tool) not in med:
            continue
        w, m = med[img, tool]
        ow = med.get((img, "openabs"), (0, 0))[0]
        ratio = f"{w / ow:12.2f}" if ow else f"{'':12}"
        inv = f"{ow / w:12.2f}" if ow and w else f"{'':12}"
        n = [r for r in rows if r[0] == img and r[1] == tool][-1][4]
        print(f"{img:7} {sizes.get(img, ''):>5} {tool:12} {n if tool != 'floor' else '':>5} {w:7.2f} {m:9.1f} {ratio} {inv}")
print()
print("targets: openabs wall <= 0.2x syft and <= 0.5x trivy, peak <= 50 MiB, wall <= 1.5x floor")
for me in ["openabs", "openabs-go"]:
    for img in dict.fromkeys(r[0] for r in rows):
        if (img, me) not in med:
            continue
        w, m = med[img, me]
        checks = []
        if (img, "syft") in med:
            r = w / med[img, "syft"][0]
            checks.append(f"vs syft {r:.2f}x {'met' if r <= 0.2 else 'NOT met'}")
        if (img, "trivy") in med:
            r = w / med[img, "trivy"][0]
            checks.append(f"vs trivy {r:.2f}x {'met' if r <= 0.5 else 'NOT met'}")
        checks.append(f"peak {m:.1f} MiB {'met' if m <= 50 else 'NOT met'}")
        if (img, "floor") in med:
            r = w / med[img, "floor"][0]
            checks.append(f"vs floor {r:.2f}x {'met' if r <= 1.5 else 'NOT met'}")
        print(f"{me:10} {img:7} " + "; ".join(checks))
PY
