#!/bin/sh
# Regenerates the fixture rpmdbs in this directory from tiny packages with
# RHEL-like names and EVRs (an epoch, a -libs subpackage, a modular package).
#
# Needs Debian's rpm (rpm, rpmbuild) and python3-bsddb3 (run by /usr/bin/python3). The outputs are
# committed; tests never run this script. (Debian's rpm has no ndb backend;
# the ndb tests use the real database shipped with go-rpmdb.)
#
#   rpmdb/sqlite/rpmdb.sqlite   rpm 4.18 sqlite backend
#   rpmdb/bdb/Packages          Berkeley DB hash, converted from the sqlite rows
#   packages.txt                the expected inventory, one NEVRA per line
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# spec NAME EPOCH VERSION RELEASE ARCH [SUBPACKAGE]
spec() {
	name=$1 epoch=$2 version=$3 release=$4 arch=$5 sub=${6:-}
	{
		echo '%global debug_package %{nil}'
		echo "Name: $name"
		[ "$epoch" = - ] || echo "Epoch: $epoch"
		echo "Version: $version"
		echo "Release: $release"
		echo "Summary: openabs fixture package $name"
		echo "License: MIT"
		echo "Vendor: Red Hat, Inc."
		[ "$arch" = noarch ] && echo "BuildArch: noarch"
		echo '%description'
		echo "Fixture package $name for rpmscan tests."
		if [ -n "$sub" ]; then
			echo "%package $sub"
			echo "Summary: openabs fixture package $name-$sub"
			echo "%description $sub"
			echo "Fixture subpackage."
			echo "%files $sub"
		fi
		echo '%files'
	} >"$work/$name.spec"
}

build() {
	spec=$1
	shift
	rpmbuild -bb --quiet --define "_topdir $work/top" --define "_build_id_links none" \
		--target x86_64 "$@" "$work/$spec.spec" >/dev/null 2>&1
}

spec bash - 5.1.8 6.el9_1 x86_64
spec openssl 1 3.0.7 24.el9 x86_64 libs
spec tzdata - 2023c 1.el9 noarch
spec glibc - 2.34 60.el9 x86_64 common
spec nodejs 1 18.14.2 2.module+el9.1.0+18118+5b5a9a6b x86_64

build bash
build openssl
build tzdata
build glibc
build nodejs --define "modularitylabel nodejs:18:9010020230301:rhel9"

rpms=$(find "$work/top/RPMS" -name '*.rpm' | sort)

install_db() {
	root=$1
	shift
	rpm --root "$root" --dbpath /var/lib/rpm "$@" -i --nodeps --justdb --noscripts \
		--ignorearch --ignoreos $rpms 2>&1 | grep -v -e 'use Alien' -e 'know what you are doing' >&2 || true
}

rm -rf "$here/rpmdb"
mkdir -p "$here/rpmdb/sqlite" "$here/rpmdb/bdb"

install_db "$work/sqlite"
cp "$work/sqlite/var/lib/rpm/rpmdb.sqlite" "$here/rpmdb/sqlite/rpmdb.sqlite"

/usr/bin/python3 - "$here/rpmdb/sqlite/rpmdb.sqlite" "$here/rpmdb/bdb/Packages" <<'PY'
import sqlite3, struct, sys
from bsddb3 import db

rows = sqlite3.connect(sys.argv[1]).execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
d = db.DB()
d.set_pagesize(4096)
d.open(sys.argv[2], dbtype=db.DB_HASH, flags=db.DB_CREATE)
d.put(struct.pack("<I", 0), struct.pack("<I", max(h for h, _ in rows) + 1))
for hnum, blob in rows:
    d.put(struct.pack("<I", hnum), bytes(blob))
d.close()
PY

rpm --root "$work/sqlite" --dbpath /var/lib/rpm -qa \
	--qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH} %{SOURCERPM} %{MODULARITYLABEL}\n' |
	sed 's/ (none)$//' | sort >"$here/packages.txt"
