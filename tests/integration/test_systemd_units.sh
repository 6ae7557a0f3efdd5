#!/bin/bash
#
# test_systemd_units.sh -- the systemd files as the Makefile makes them:
# every @PATH@ is substituted; "systemd-analyze verify" accepts the service
# and the socket (with the paths pointing at the binaries of this tree, and
# the man pages of this tree for Documentation=), and rejects a unit whose
# binary is missing; the notify-reload variant is accepted by systemd >= 253
# (older versions only complain about Type=notify-reload and ReloadSignal=);
# the units say what DESIGN.md and issue 16 ask of them (exit 78 not
# retried, Conflicts= between the two services, no RemoveOnStop=, the
# hardening); the sysusers.d and tmpfiles.d snippets work with
# systemd-sysusers and systemd-tmpfiles on a scratch root.  How the units
# behave under a running systemd is make check-systemd's.
. "$(dirname "$0")/lib.sh"

UNITS="hotreloadd.service hotreloadd.socket hotreloadd-notify-reload.service"
FILES="$UNITS hotreloadd.sysusers hotreloadd.tmpfiles"

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles man; do
	command -v "$tool" >/dev/null ||
		fatal "$tool is missing (scripts/install-deps installs it)"
done

# Make the systemd files into $1/systemd with the Makefile, build dir $1,
# and the make variables that follow.
make_units() {
	local dir=$1 targets=() f
	shift
	for f in $FILES; do
		targets+=("$dir/systemd/$f")
	done
	make -s -C "$TOP" B="$dir" "$@" "${targets[@]}" >"$T/make.out" 2>&1 ||
		fatal "make of the systemd files failed:" "$(cat "$T/make.out")"
}

# systemd-analyze verify UNIT..., in $1; output into OUT, status into RC.
verify() {
	local dir=$1
	shift
	RUN_CMD="systemd-analyze verify $*"
	OUT=$(cd "$dir" && MANPATH=$T/man SYSTEMD_LOG_COLOR=0 \
	    systemd-analyze verify "$@" 2>&1)
	RC=$?
}

# The man pages of this tree, where man(1) finds them through MANPATH.
mkdir -p "$T/man/man1" "$T/man/man5" "$T/man/man8"
cp "$TOP/man/hotreloadctl.1" "$T/man/man1/"
cp "$TOP/man/hotreloadd.conf.5" "$T/man/man5/"
cp "$TOP/man/hotreloadd.8" "$T/man/man8/"

# The paths of an installation with PREFIX=/usr.
make_units "$T/dist" PREFIX=/usr SYSCONFDIR=/etc RUNSTATEDIR=/run
S=$T/dist/systemd
for f in $FILES; do
	CHECKS=$((CHECKS + 1))
	if grep -n '@[A-Z]*@' "$S/$f" >"$T/left"; then
		fail "$f: every @PATH@ is substituted" "$(cat "$T/left")"
	else
		pass "$f: every @PATH@ is substituted"
	fi
done
service=$(cat "$S/hotreloadd.service")
for line in 'Type=notify' \
    'ExecStart=/usr/sbin/hotreloadd -c /etc/hotreloadd/hotreloadd.conf' \
    'ExecReload=/usr/bin/hotreloadctl -t 125 reload' \
    'WatchdogSec=30s' 'RuntimeDirectory=hotreloadd' \
    'RuntimeDirectoryMode=0750' 'User=hotreload' 'Group=hotreload' \
    'Restart=on-failure' 'RestartPreventExitStatus=78' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
    'CapabilityBoundingSet=' 'MemoryDenyWriteExecute=yes' \
    'SystemCallArchitectures=native' 'SystemCallFilter=~@privileged @resources' \
    'ProtectProc=invisible' 'ProcSubset=pid' 'UMask=0077' \
    'Conflicts=hotreloadd-notify-reload.service' \
    'Before=hotreloadd-notify-reload.service'; do
	assert_line "$line" "$service" "hotreloadd.service: $line"
done
assert_line 'TimeoutStopSec=[0-9]+s' "$service" "hotreloadd.service: TimeoutStopSec="
variant=$(cat "$S/hotreloadd-notify-reload.service")
assert_line 'Type=notify-reload' "$variant" "notify-reload variant: Type=notify-reload"
assert_line 'ReloadSignal=SIGHUP' "$variant" "notify-reload variant: ReloadSignal=SIGHUP"
assert_not_contains 'ExecReload=' "$(grep -v '^#' "$S/hotreloadd-notify-reload.service")" \
    "notify-reload variant: no ExecReload="
assert_line 'Conflicts=hotreloadd.service' "$variant" "notify-reload variant: Conflicts=hotreloadd.service"
assert_line 'After=hotreloadd.service' "$variant" "notify-reload variant: After=hotreloadd.service"
# Everything but the reload the same: the variant is the service with
# another Type=, ReloadSignal= and no ExecReload= (and comments).
assert_eq "" "$(diff <(grep -v '^#' "$S/hotreloadd.service" |
    grep -vE '^(Type|ExecReload|Conflicts|Before)=') \
    <(grep -v '^#' "$S/hotreloadd-notify-reload.service" |
    grep -vE '^(Type|ReloadSignal|Conflicts|After=hotreloadd)'))" \
    "notify-reload variant: the service's other settings, unchanged"
socket=$(cat "$S/hotreloadd.socket")
for line in 'ListenStream=/run/hotreloadd/control.sock' 'SocketMode=0660' \
    'SocketGroup=hotreload' 'Service=hotreloadd.service'; do
	assert_line "$line" "$socket" "hotreloadd.socket: $line"
done
# Stopping the socket unit must not delete the socket a daemon still serves.
assert_not_contains 'RemoveOnStop=' "$(grep -v '^#' "$S/hotreloadd.socket")" \
    "hotreloadd.socket: no RemoveOnStop="


# systemd-analyze verify, with the binaries of this tree.  Before systemd
# 253 the variant is not installed (make install), and verify would load it
# through Conflicts=: the service and the socket are verified without it.
version=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
make_units "$T/tree" SBINDIR="$TOP" BINDIR="$TOP" SYSCONFDIR="$T/etc" \
    RUNSTATEDIR="$T/run"
mkdir -p "$T/pair"
cp "$T/tree/systemd/hotreloadd.service" "$T/tree/systemd/hotreloadd.socket" "$T/pair/"
if ((version >= 253)); then
	cp "$T/tree/systemd/hotreloadd-notify-reload.service" "$T/pair/"
fi
verify "$T/pair" hotreloadd.service hotreloadd.socket
assert_rc 0 "systemd-analyze verify: the service and the socket pass"
assert_eq "" "$OUT" "systemd-analyze verify: nothing to say about them"

verify "$T/tree/systemd" hotreloadd-notify-reload.service
assert_rc 0 "systemd-analyze verify: the notify-reload variant passes"
if ((version >= 253)); then
	assert_eq "" "$OUT" "systemd $version: nothing to say about the notify-reload variant"
else
	note "systemd $version predates Type=notify-reload"
	assert_eq "2" "$(printf '%s\n' "$OUT" | grep -c .)" \
	    "systemd $version: two complaints about the notify-reload variant"
	assert_contains "Failed to parse service type, ignoring: notify-reload" "$OUT" \
	    "systemd $version: it does not know Type=notify-reload"
	assert_match "Unknown key( name)? 'ReloadSignal'" "$OUT" \
	    "systemd $version: it does not know ReloadSignal="
fi

# The check is real: a missing binary fails it.
make_units "$T/bad" SBINDIR="$T/nowhere" BINDIR="$TOP" SYSCONFDIR="$T/etc" \
    RUNSTATEDIR="$T/run"
verify "$T/bad/systemd" hotreloadd.service
assert_rc 1 "systemd-analyze verify: a service whose binary is missing fails"
assert_contains "$T/nowhere/hotreloadd" "$OUT" "systemd-analyze verify names the missing binary"

# sysusers.d and tmpfiles.d, applied to a scratch root.
mkdir -p "$T/root/etc"
run systemd-sysusers --root="$T/root" "$S/hotreloadd.sysusers"
assert_rc 0 "systemd-sysusers accepts hotreloadd.sysusers"
assert_match '^hotreload:x:[0-9]+:[0-9]+:hotreload daemon:/:/' \
    "$(grep '^hotreload:' "$T/root/etc/passwd")" "sysusers: the user hotreload"
assert_match '^hotreload:x:[0-9]+:' "$(grep '^hotreload:' "$T/root/etc/group")" \
    "sysusers: the group hotreload"
uid=$(grep '^hotreload:' "$T/root/etc/passwd" | cut -d: -f3)
gid=$(grep '^hotreload:' "$T/root/etc/group" | cut -d: -f3)
run systemd-tmpfiles --create --root="$T/root" "$S/hotreloadd.tmpfiles"
assert_rc 0 "systemd-tmpfiles accepts hotreloadd.tmpfiles"
assert_eq "directory 750 $uid $gid" \
    "$(stat -c '%F %a %u %g' "$T/root/run/hotreloadd" 2>&1)" \
    "tmpfiles: /run/hotreloadd, mode 0750, user and group hotreload"

test_done
