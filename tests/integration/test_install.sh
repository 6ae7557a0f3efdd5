#!/bin/bash
#
# test_install.sh -- "make install DESTDIR=... PREFIX=/usr SYSCONFDIR=/etc"
# installs exactly the expected files with the expected modes (the units in
# the unit directory pkg-config gives, with the installed paths in them;
# hotreloadd-notify-reload.service only for systemd 253 and later, and a
# note saying so otherwise); with the default PREFIX everything, the units
# too, goes under /usr/local;
# the installed daemon accepts the installed example configuration
# (hotreloadd -t); a second install keeps a modified configuration; the
# installed bash completion completes commands, options and files; "make
# uninstall" removes everything but the configuration.
. "$(dirname "$0")/lib.sh"

D=$T/dest
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
[[ -n $unitdir ]] || unitdir=/usr/lib/systemd/system
pkg-config --exists libsystemd ||
	fatal "libsystemd is missing (scripts/install-deps installs it)"

# make VARIABLES... TARGET in the tree, into DESTDIR D; fatal on failure.
make_dest() {
	run make -s -C "$TOP" DESTDIR="$D" PREFIX=/usr SYSCONFDIR=/etc "$@"
	[[ $RC == 0 ]] || fatal "make $* failed" "$(run_details)"
}

# Every file and link under D, as "mode path", sorted.
installed() {
	(cd "$D" && find . \( -type f -o -type l \) -printf '%m /%P\n' | sort -k2)
}

# The notify-reload variant, for the systemd pkg-config names (253 and
# later know Type=notify-reload).
version=$(pkg-config --modversion systemd 2>/dev/null)
variant="644 $unitdir/hotreloadd-notify-reload.service"
((${version%%[!0-9]*} >= 253)) || variant=

make_dest install
if [[ -z $variant ]]; then
	assert_contains "NOTE: not installing hotreloadd-notify-reload.service: systemd $version does not know Type=notify-reload" \
	    "$ERR" "install: it says why it leaves out the notify-reload variant"
fi
expected="${variant:+$variant
}755 /usr/bin/hotreloadctl
755 /usr/sbin/hotreloadd
644 /etc/hotreloadd/hotreloadd.conf
644 /usr/lib/sysusers.d/hotreloadd.conf
644 /usr/lib/tmpfiles.d/hotreloadd.conf
644 /usr/share/bash-completion/completions/hotreloadctl
644 /usr/share/man/man1/hotreloadctl.1
644 /usr/share/man/man5/hotreloadd.conf.5
644 /usr/share/man/man8/hotreloadd.8
644 $unitdir/hotreloadd.service
644 $unitdir/hotreloadd.socket"
assert_eq "$(printf '%s\n' "$expected" | sort -k2)" "$(installed)" \
    "install: exactly the expected files, with their modes"

assert_line 'ExecStart=/usr/sbin/hotreloadd -c /etc/hotreloadd/hotreloadd.conf' \
    "$(cat "$D$unitdir/hotreloadd.service")" \
    "install: the service runs /usr/sbin/hotreloadd with /etc/hotreloadd/hotreloadd.conf"
assert_line 'ExecReload=/usr/bin/hotreloadctl -t 125 reload' \
    "$(cat "$D$unitdir/hotreloadd.service")" \
    "install: the service reloads with /usr/bin/hotreloadctl"
assert_eq "$(cat "$TOP/conf/hotreloadd.conf")" "$(cat "$D/etc/hotreloadd/hotreloadd.conf")" \
    "install: the configuration is the example"

# The installed programs work, and take the installed example.
run "$D/usr/sbin/hotreloadd" -t -c "$D/etc/hotreloadd/hotreloadd.conf"
assert_rc 0 "the installed daemon accepts the installed example configuration"
assert_eq "$D/etc/hotreloadd/hotreloadd.conf: configuration OK" "$OUT" \
    "hotreloadd -t says the configuration is OK"
run "$D/usr/bin/hotreloadctl" -V
assert_rc 0 "the installed client runs"

# A second install keeps a configuration the operator changed.
printf '# changed by the operator\n' >>"$D/etc/hotreloadd/hotreloadd.conf"
changed=$(cat "$D/etc/hotreloadd/hotreloadd.conf")
make_dest install
assert_contains "keeping existing $D/etc/hotreloadd/hotreloadd.conf" "$OUT" \
    "second install: it says it keeps the configuration"
assert_eq "$changed" "$(cat "$D/etc/hotreloadd/hotreloadd.conf")" \
    "second install: the changed configuration is kept"
assert_eq "$(printf '%s\n' "$expected" | sort -k2)" "$(installed)" \
    "second install: the same files"

# The installed completion, driven as bash-completion would.
completions() {
	bash -c '. "$1"; shift
	    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
	    _hotreloadctl
	    if ((${#COMPREPLY[@]} > 0)); then printf "%s\n" "${COMPREPLY[@]}"; fi' \
	    sh "$D/usr/share/bash-completion/completions/hotreloadctl" "$@" |
	    LC_ALL=C sort | tr '\n' ' '
}
assert_eq "agents drain history metrics reload reload-hsp reload-llm resume rollback status undrain version watch " \
    "$(completions hotreloadctl '')" "completion: the commands"
assert_eq "reload reload-hsp reload-llm resume " "$(completions hotreloadctl -j re)" \
    "completion: commands after a global option"
assert_eq "--json " "$(completions hotreloadctl --j)" "completion: a global option"
assert_eq "--help --json --socket --timeout --version -V -h -j -s -t " \
    "$(completions hotreloadctl -)" "completion: all global options"
assert_eq "--timeout --wait " "$(completions hotreloadctl -s x drain --)" \
    "completion: the options of drain"
assert_eq "" "$(completions hotreloadctl status --)" \
    "completion: status takes no options"
assert_eq "--check --dry-run " "$(completions hotreloadctl reload-llm --)" \
    "completion: the options of a reload command"
assert_eq "" "$(completions hotreloadctl reload --check --)" \
    "completion: --check and --dry-run do not go together"
assert_eq "--check --dry-run hsp llm " "$(completions hotreloadctl rollback '')" \
    "completion: rollback's options and services"
assert_eq "hsp llm " "$(completions hotreloadctl rollback --dry-run '')" \
    "completion: rollback's service after its option"
assert_eq "" "$(completions hotreloadctl rollback llm '')" \
    "completion: nothing after rollback's service"
assert_eq "--limit " "$(completions hotreloadctl history --)" \
    "completion: the option of history"
assert_eq "--capability " "$(completions hotreloadctl agents --)" \
    "completion: the option of agents"
assert_eq "hsp " "$(completions hotreloadctl watch --service hs)" \
    "completion: watch --service completes a service"
mkdir -p "$T/sockets" && : >"$T/sockets/one.sock"
assert_eq "$T/sockets/one.sock " "$(completions hotreloadctl -s "$T/sockets/o")" \
    "completion: -s completes file names"

# Uninstall: everything but the configuration.
make_dest uninstall
assert_eq "644 /etc/hotreloadd/hotreloadd.conf" "$(installed)" \
    "uninstall: only the configuration is left"

# The variant for a newer systemd than this one, when asked.
make_dest install SYSTEMD_VERSION=253
assert_contains "644 $unitdir/hotreloadd-notify-reload.service" "$(installed)" \
    "install SYSTEMD_VERSION=253: the notify-reload variant is installed"
make_dest uninstall
if [[ -z $variant ]]; then
	# An install for this systemd removes a variant a former one left.
	make_dest install SYSTEMD_VERSION=253
	make_dest install
	assert_not_contains "hotreloadd-notify-reload.service" "$(installed)" \
	    "install for systemd $version: a variant installed before is removed"
	make_dest uninstall
fi

# The default PREFIX, /usr/local: the units, sysusers.d and tmpfiles.d
# under it too (systemd looks there), never in the distribution's
# directories.
rm -rf "$D"
run make -s -C "$TOP" DESTDIR="$D" SYSTEMD_VERSION=253 install
[[ $RC == 0 ]] || fatal "make install with the default PREFIX failed" "$(run_details)"
expected="644 /etc/hotreloadd/hotreloadd.conf
755 /usr/local/bin/hotreloadctl
644 /usr/local/lib/systemd/system/hotreloadd-notify-reload.service
644 /usr/local/lib/systemd/system/hotreloadd.service
644 /usr/local/lib/systemd/system/hotreloadd.socket
644 /usr/local/lib/sysusers.d/hotreloadd.conf
644 /usr/local/lib/tmpfiles.d/hotreloadd.conf
755 /usr/local/sbin/hotreloadd
644 /usr/local/share/bash-completion/completions/hotreloadctl
644 /usr/local/share/man/man1/hotreloadctl.1
644 /usr/local/share/man/man5/hotreloadd.conf.5
644 /usr/local/share/man/man8/hotreloadd.8"
assert_eq "$(printf '%s\n' "$expected" | sort -k2)" "$(installed)" \
    "install with the default PREFIX: everything under /usr/local (and /etc)"
assert_line 'ExecStart=/usr/local/sbin/hotreloadd -c /etc/hotreloadd/hotreloadd.conf' \
    "$(cat "$D/usr/local/lib/systemd/system/hotreloadd.service")" \
    "install with the default PREFIX: the service runs /usr/local/sbin/hotreloadd"

test_done
