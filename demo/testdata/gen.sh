#!/bin/sh
# Regenerates the demo's rpm databases from tiny packages with RHEL-like
# names and EVRs. THIS IS DEMO DATA: the packages are empty stand-ins.
#
#   base-old.rpmdb.sqlite.gz   the base image as the application was built on it
#   base-new.rpmdb.sqlite.gz   the updated base image: glibc, openssl and curl fixed
#
# Needs Debian's rpm (rpm, rpmbuild) and gzip. The outputs are committed;
# neither the demo nor the tests run this script.
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
		echo "Summary: openabs demo package $name"
		echo "License: MIT"
		echo "Vendor: openabs demo data"
		[ "$arch" = noarch ] && echo "BuildArch: noarch"
		echo '%description'
		echo "Demo stand-in for $name."
		if [ -n "$sub" ]; then
			echo "%package $sub"
			echo "Summary: openabs demo package $name-$sub"
			echo "%description $sub"
			echo "Demo stand-in."
			echo "%files $sub"
		fi
		echo '%files'
	} >"$work/$name.spec"
}

build() {
	top=$1 spec=$2
	rpmbuild -bb --quiet --define "_topdir $top" --define "_build_id_links none" \
		--target x86_64 "$work/$spec.spec" >/dev/null 2>&1
}

db() {
	out=$1 top=$2
	root="$work/root-$out"
	rpm --root "$root" --dbpath /var/lib/rpm -i --nodeps --justdb --noscripts \
		--ignorearch --ignoreos $(find "$top/RPMS" -name '*.rpm' | sort) 2>&1 |
		grep -v -e 'use Alien' -e 'know what you are doing' >&2 || true
	gzip -9 -n -c "$root/var/lib/rpm/rpmdb.sqlite" >"$here/$out.rpmdb.sqlite.gz"
}

# The old base.
spec bash - 5.1.8 6.el9_1 x86_64
spec tzdata - 2024a 1.el9 noarch
spec glibc - 2.34 83.el9_3.7 x86_64 common
spec openssl 1 3.0.7 24.el9 x86_64 libs
spec curl - 7.76.1 23.el9 x86_64
for s in bash tzdata glibc openssl curl; do build "$work/old" $s; done
db base-old "$work/old"

# The new base: the same, with glibc, openssl and curl updated.
for s in bash tzdata; do build "$work/new" $s; done
spec glibc - 2.34 100.el9_4.2 x86_64 common
spec openssl 1 3.0.7 27.el9 x86_64 libs
spec curl - 7.76.1 29.el9_4.1 x86_64
for s in glibc openssl curl; do build "$work/new" $s; done
db base-new "$work/new"
