#!/bin/bash
#
# test_dist.sh -- "make dist" writes hotreload-VERSION.tar.gz with the
# source tree under hotreload-VERSION/ and nothing generated; unpacked in a
# temp dir, it builds (make check-build: the programs, the units, the unit
# tests and the test peers) and passes the unit tests; outside a git
# checkout "make dist" says why it cannot work; the ./configure route of
# the tarball, with --without-systemd, builds a daemon without libsystemd
# and installs no units.  (The full "make check" of the tarball takes as
# long as the whole suite; run it by hand.)
#
# Run from a tree that is not a git checkout (an unpacked tarball), the
# tarball is made from a scratch git repository holding a copy of the tree
# (files .gitignore ignores left out, as in a checkout).
. "$(dirname "$0")/lib.sh"

command -v git >/dev/null || fatal "git is missing (scripts/install-deps installs it)"
version=$(cat "$TOP/VERSION")
tarball=hotreload-$version.tar.gz
jobs=$(nproc 2>/dev/null || echo 2)

repo=$TOP
if [[ $(git -C "$TOP" rev-parse --show-toplevel 2>/dev/null) != "$TOP" ]]; then
	note "$TOP is not a git checkout: making the tarball from a copy in a scratch repository"
	repo=$T/repo
	cp -a "$TOP" "$repo" || fatal "cannot copy $TOP"
	if ! git -C "$repo" init -q || ! git -C "$repo" add -A; then
		fatal "cannot make a git repository of the copy"
	fi
fi
run make -s -C "$repo" dist
assert_rc 0 "make dist exits 0"
assert_contains "wrote $tarball" "$OUT" "make dist names the tarball"
[[ -f $repo/$tarball ]] || fatal "make dist did not write $repo/$tarball"
cp "$repo/$tarball" "$T/"

list=$(tar -tzf "$T/$tarball") || fatal "$tarball is not a gzip'd tar"
CHECKS=$((CHECKS + 1))
if printf '%s\n' "$list" | grep -qv "^hotreload-$version/"; then
	fail "every member is under hotreload-$version/" \
	    "$(printf '%s\n' "$list" | grep -v "^hotreload-$version/" | head)"
else
	pass "every member is under hotreload-$version/"
fi
for f in Makefile configure.ac config.mk.in README.md conf/hotreloadd.conf \
    src/main.c src/notify.c ctl/hotreloadctl.c include/hotreload/protocol.h \
    man/hotreloadd.8 systemd/hotreloadd.service systemd/hotreloadd.socket \
    systemd/hotreloadd.sysusers completion/hotreloadctl \
    tests/integration/run scripts/install-deps; do
	assert_line "hotreload-$version/$f" "$list" "the tarball has $f"
done
# Nothing generated: no build directory, binaries, objects, config.mk,
# ./configure or tarball.
generated=$(printf '%s\n' "$list" | sed "s|^hotreload-$version/||" |
    grep -E '^(build/|hotreloadd$|hotreloadctl$|config\.mk$|configure$|config\.status$|aclocal\.m4$|autom4te\.cache/)|\.o$|\.d$|\.tar\.gz$|^tests/unit/test_[a-z]+$|^tests/support/(loadpeer|llmserver)$')
assert_eq "" "$generated" "the tarball has nothing generated"

# Unpacked, it builds and passes the unit tests.
tar -xzf "$T/$tarball" -C "$T" || fatal "cannot unpack $tarball"
src=$T/hotreload-$version
run make -C "$src" -j"$jobs" check-build
assert_rc 0 "the tarball: make check-build exits 0"
[[ $RC == 0 ]] || note "$(printf '%s\n' "$ERR" | tail -n 20)"
run make -C "$src" check-unit
assert_rc 0 "the tarball: make check-unit exits 0"
assert_not_contains "Failures: 1" "$OUT" "the tarball: no unit test fails"
run "$src/hotreloadd" -t -c "$src/conf/hotreloadd.conf"
assert_rc 0 "the tarball's daemon accepts its example configuration"

# Not a git checkout: make dist refuses clearly.
run make -C "$src" dist
assert_rc 2 "make dist outside git exits 2 (make's failure)"
assert_contains "make dist needs a git checkout" "$ERR" "make dist says it needs git"

# The ./configure route, without systemd.
run make -C "$src" configure
assert_rc 0 "the tarball: make configure exits 0"
run sh -c 'cd "$1" && ./configure --prefix=/usr --sysconfdir=/etc --without-systemd' \
    sh "$src"
assert_rc 0 "./configure --without-systemd exits 0"
assert_line "WITH_SYSTEMD	= no" "$(cat "$src/config.mk")" \
    "config.mk: WITH_SYSTEMD = no"
run make -C "$src" -j"$jobs" all
assert_rc 0 "make after ./configure --without-systemd exits 0"
CHECKS=$((CHECKS + 1))
if readelf -d "$src/hotreloadd" | grep -q 'libsystemd'; then
	fail "the daemon built without systemd does not link libsystemd" \
	    "$(readelf -d "$src/hotreloadd" | grep NEEDED)"
else
	pass "the daemon built without systemd does not link libsystemd"
fi
run make -C "$src" install DESTDIR="$T/dest"
assert_rc 0 "make install after ./configure --without-systemd exits 0"
assert_eq "" "$(cd "$T/dest" && find . -name 'hotreloadd*.service' -o -name 'sysusers.d')" \
    "without systemd: no units, no sysusers.d snippet"
run "$T/dest/usr/sbin/hotreloadd" -t -c "$T/dest/etc/hotreloadd/hotreloadd.conf"
assert_rc 0 "without systemd: the installed daemon accepts the installed configuration"

test_done
