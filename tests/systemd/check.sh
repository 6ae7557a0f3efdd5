#!/bin/bash
#
# check.sh -- the checks of "make check-systemd", run by a oneshot unit
# inside a container that tests/systemd/run booted with systemd as PID 1:
# the installed units, under a real service manager.
#
# usage: check.sh boot1 | boot2
#
# boot1: "make install" with the default PREFIX (units under /usr/local;
# the notify-reload variant left out before systemd 253, with a note),
# systemd-sysusers and systemd-tmpfiles, the hardening score, start
# (READY=1, STATUS=, the user, the sandbox), a member of the group hotreload
# against another user, STATUS= with requests in flight and after them,
# "systemctl reload" that works and one that fails with the daemon kept,
# the HOTRELOAD_* journal fields, a watchdog restart after SIGSTOP, a clean
# stop, a bad configuration at start (exit 78, not restarted), switching to
# socket activation and back, a restart that keeps the socket, stopping the
# socket while the daemon runs, and the two service units conflicting; then
# it enables hotreloadd.socket and hotreloadd.service for boot2.
# boot2: both came up at boot, the daemon serves systemd's socket.
#
# Each fix of issue 16 has a check here that fails without it; they say
# "(issue 16: ...)".  The output is lib.sh's; the exit status is the unit's,
# which the container passes on to tests/systemd/run.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/llm.sh"

PHASE=${1-}
UNIT=hotreloadd.service
VARIANT=hotreloadd-notify-reload.service
SOCKET_UNIT=hotreloadd.socket
# The paths of the shipped configuration and of a default install.
SOCKET=/run/hotreloadd/control.sock
CONFIG=/etc/hotreloadd/hotreloadd.conf
UNITDIR=/usr/local/lib/systemd/system
HOTRELOADCTL=/usr/local/bin/hotreloadctl
DROPIN=/run/systemd/system/$UNIT.d
ADMIN_CONTROL='"mode": "0660", "admin_uids": [0], "admin_groups": ["hotreload"]'

# On a failed check, the end of the units' journal instead of a log file.
show_logs() {
	printf '    --- last 30 lines of the journal of the hotreloadd units ---\n'
	journalctl -q --no-pager -n 30 -u "$UNIT" -u "$SOCKET_UNIT" -u "$VARIANT" |
	    sed 's/^/    | /'
}

# Property PROP of unit UNIT (default hotreloadd.service).
prop() {
	systemctl show -P "$1" "${2-$UNIT}"
}

# Property PROP of UNIT is VALUE.
prop_is() {
	[[ $(prop "$2" "${3-$UNIT}") == "$1" ]]
}

# Check properties of a unit: "DESC" UNIT PROP VALUE [PROP VALUE...].
assert_props() {
	local desc=$1 unit=$2
	shift 2
	while (($# >= 2)); do
		assert_eq "$2" "$(prop "$1" "$unit")" "$desc: $unit $1=$2"
		shift 2
	done
}

# The Status: line of "systemctl status" (what STATUS= said last).
status_line() {
	systemctl status --no-pager "$UNIT" 2>/dev/null |
	    sed -n 's/^ *Status: "\(.*\)"$/\1/p'
}

# "systemctl status" shows the Status: line $1.
status_line_is() {
	[[ $(status_line) == "$1" ]]
}

# The journal since journal_mark, one JSON entry a line.  No matches: with
# matches, journalctl --after-cursor skips the first entry that matches
# when the cursor's own entry does not (systemd 252).
journal_since() {
	journalctl -q --no-pager -o "$1" --after-cursor="$(cat "$T/cursor")"
}

# The journal has a message with $1 since journal_mark.
journal_has() {
	journal_since cat | grep -qF -- "$1"
}

# Remember where the journal is now, for journal_since.
journal_mark() {
	journalctl -q -n 0 --show-cursor --no-pager |
	    sed -n 's/^-- cursor: //p' >"$T/cursor"
}

# A reload entry with HOTRELOAD_SERVICE=$1 and HOTRELOAD_RESULT=$2 came
# since journal_mark.
journal_reload_entry() {
	journal_since json | grep -E "\"HOTRELOAD_SERVICE\" *: *\"$1\"" |
	    grep -qE "\"HOTRELOAD_RESULT\" *: *\"$2\""
}

# hotreloadctl as user $1 (with the groups of that user).
ctl_as() {
	local user=$1
	shift
	timeout -k 2 "$CMD_TIMEOUT" setpriv --reuid="$user" --regid="$user" \
	    --init-groups "$HOTRELOADCTL" -s "$SOCKET" "$@"
}

# The daemon that answers status has pid $1.
answers_as() {
	[[ $(status_field pid) == "$1" ]]
}

# The control-only configuration (no broker, no back end).
write_plain_config() {
	write_config "$ADMIN_CONTROL" '"drain": {"timeout_s": 3}'
}

# systemctl ARGS... into RC/OUT/ERR.
sctl() {
	run timeout -k 2 60 systemctl "$@"
}

# --- boot1 ------------------------------------------------------------------

# make install, the snippets, daemon-reload (README's steps).
check_install() {
	local version install_err
	version=$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
	note "systemd $version"
	run make -s -C "$TOP" install
	assert_rc 0 "make install with the default PREFIX succeeds"
	[[ $RC == 0 ]] || fatal "make install failed" "$(run_details)"
	install_err=$ERR
	sctl daemon-reload
	assert_eq "$UNITDIR/$UNIT" "$(prop FragmentPath)" \
	    "the units are under PREFIX, where systemd finds them (issue 16: unit dir)"
	assert_eq "$UNITDIR/$SOCKET_UNIT" "$(prop FragmentPath "$SOCKET_UNIT")" \
	    "the socket unit too"
	if ((version < 253)); then
		assert_contains "not installing $VARIANT: systemd $version does not know Type=notify-reload" \
		    "$install_err" "make install says why it leaves out the variant (issue 16: variant)"
		assert_eq "not-found" "$(prop LoadState "$VARIANT")" \
		    "systemd $version: the variant is not installed (issue 16: variant)"
	else
		assert_eq "loaded" "$(prop LoadState "$VARIANT")" \
		    "systemd $version: the variant is installed"
	fi
	run systemd-sysusers
	assert_rc 0 "systemd-sysusers"
	assert_true "the user hotreload exists" eval 'getent passwd hotreload >/dev/null'
	run systemd-tmpfiles --create hotreloadd.conf
	assert_rc 0 "systemd-tmpfiles --create hotreloadd.conf"
	assert_eq "directory 750 hotreload hotreload" "$(stat -c '%F %a %U %G' /run/hotreloadd)" \
	    "/run/hotreloadd: 0750, hotreload"
	if ! useradd -M -G hotreload alice || ! useradd -M bob; then
		fatal "cannot add the users alice and bob"
	fi
}

# The hardening score, with the unit loaded.
check_security() {
	local overall
	run systemd-analyze security --no-pager "$UNIT"
	overall=$(printf '%s\n' "$OUT" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	note "systemd-analyze security $UNIT: $overall"
	run systemd-analyze security --no-pager --threshold=12 "$UNIT"
	assert_rc 0 "systemd-analyze security: exposure $overall, at most 1.2"
}

# Start with broker and back end: READY=1, STATUS=, the sandbox.
check_start() {
	local pid
	llm_setup
	llm_server_start A
	llm_config "\"backends\": [$(llm_backend A openai A)]" "" "$ADMIN_CONTROL"
	sctl start "$UNIT"
	assert_rc 0 "systemctl start $UNIT (returns after READY=1)"
	assert_props "started" "$UNIT" ActiveState active SubState running \
	    Type notify NRestarts 0
	assert_eventually "the HSP connection is up" 10 llm_hsp_up
	assert_eventually "systemctl status: the STATUS= line" 3 \
	    status_line_is "running: hsp gen 1, llm gen 1, 0 in flight"
	pid=$(prop MainPID)
	assert_eq hotreload "$(ps -o user= -p "$pid")" "the daemon runs as hotreload"
	assert_match 'NoNewPrivs:[[:space:]]+1' "$(cat "/proc/$pid/status")" \
	    "the daemon has no new privileges"
	assert_match 'Seccomp:[[:space:]]+2' "$(cat "/proc/$pid/status")" \
	    "the daemon runs under a system call filter"
	assert_eq "socket 660 hotreload hotreload" "$(stat -c '%F %a %U %G' "$SOCKET")" \
	    "the control socket: 0660, hotreload"
}

# A member of the group hotreload may change things; others cannot reach it.
check_users() {
	run ctl_as alice drain
	assert_rc 0 "alice (group hotreload) may drain"
	run ctl_as alice resume
	assert_rc 0 "alice (group hotreload) may resume"
	run ctl_as bob status
	assert_rc 77 "bob (not in the group) cannot open the socket (77)"
}

# STATUS= follows the requests in flight (issue 16: STATUS=).
check_status_in_flight() {
	local n pid
	llm_control A '{"delay_ms": 4000}'
	llm_load_bg "$T/held.json" peer-held 3 '{"text":"slow"}'
	pid=$HELPER_PID
	assert_eventually "the back end holds 3 dialogue requests" 10 \
	    llm_counter_at_least A delayed 3
	n=$(status_field in_flight)
	assert_ge 3 "$n" "status: in flight"
	assert_eventually "systemctl status shows $n in flight within 2 s (issue 16: STATUS=)" 2 \
	    status_line_is "running: hsp gen 1, llm gen 1, $n in flight"
	llm_load_wait "$pid" "$T/held.json"
	assert_json by_status '{"success":3,"failure":0,"rejected":0,"other":0}' \
	    "the 3 requests succeed through the hardened daemon"
	assert_eventually "then systemctl status shows 0 in flight (issue 16: STATUS=)" 3 \
	    status_line_is "running: hsp gen 1, llm gen 1, 0 in flight"
	llm_control A '{"delay_ms": 0}'
}

# systemctl reload: works, fails on a broken file with the daemon kept.
check_reload() {
	local pid
	pid=$(prop MainPID)
	journal_mark
	sctl reload "$UNIT"
	assert_rc 0 "systemctl reload"
	assert_eventually "the journal has HOTRELOAD_SERVICE=config HOTRELOAD_RESULT=ok" 5 \
	    journal_reload_entry config ok
	cp "$CONFIG" "$T/good.conf"
	printf '{ "control": { "sockte": 1 } }\n' >"$CONFIG"
	journal_mark
	sctl reload "$UNIT"
	assert_false "systemctl reload of a broken file fails" test "$RC" = 0
	assert_props "after the failed reload" "$UNIT" ActiveState active MainPID "$pid"
	assert_match '^reload failed: .*control\.sockte' "$(status_line)" \
	    "systemctl status: STATUS= says why the reload failed"
	assert_eventually "the journal has HOTRELOAD_SERVICE=config HOTRELOAD_RESULT=failed" 5 \
	    journal_reload_entry config failed
	cp "$T/good.conf" "$CONFIG"
	sctl reload "$UNIT"
	assert_rc 0 "systemctl reload of the fixed file"
}

# The watchdog kills a stopped daemon and systemd starts another.
check_watchdog() {
	local pid
	mkdir -p "$DROPIN"
	printf '[Service]\nWatchdogSec=1s\n' >"$DROPIN/50-check-watchdog.conf"
	sctl daemon-reload
	sctl restart "$UNIT"
	assert_rc 0 "restart with WatchdogSec=1s"
	pid=$(prop MainPID)
	journal_mark
	kill -STOP "$pid"
	assert_eventually "SIGSTOP: the watchdog restarts the daemon" 10 \
	    eval 'prop_is 1 NRestarts && prop_is active ActiveState && ! prop_is '"$pid"' MainPID'
	assert_eventually "the journal says the watchdog timed out" 5 journal_has "Watchdog timeout"
	rm -rf "$DROPIN"
	sctl daemon-reload
	sctl restart "$UNIT"
	assert_rc 0 "restart without the drop-in"
}

# A clean stop, then a bad configuration at start (issue 16: exit 78).
check_stop_and_bad_start() {
	sctl stop "$UNIT"
	assert_rc 0 "systemctl stop"
	assert_props "stopped" "$UNIT" ActiveState inactive Result success ExecMainStatus 0
	assert_absent "$SOCKET" "the daemon removed its socket"
	cp "$CONFIG" "$T/good.conf"
	printf '{ "control": { "sockte": 1 } }\n' >"$CONFIG"
	sctl start "$UNIT"
	assert_false "systemctl start with a broken file fails" test "$RC" = 0
	assert_props "a broken file at start (issue 16: exit 78)" "$UNIT" \
	    ExecMainStatus 78 ActiveState failed Result exit-code NRestarts 0
	assert_contains "status=78/CONFIG" "$(systemctl status --no-pager "$UNIT" 2>&1)" \
	    "systemctl status says status=78/CONFIG"
	cp "$T/good.conf" "$CONFIG"
	sctl reset-failed "$UNIT"
}

# Socket activation: the switch, a restart, stopping the socket, and back.
check_socket_activation() {
	local inode pid
	sctl start "$UNIT"
	journal_mark
	sctl start "$SOCKET_UNIT"
	assert_false "the socket does not start while the service runs on its own" \
	    test "$RC" = 0
	assert_eventually "systemd says why (README: stop the service first)" 5 \
	    journal_has "Socket service $UNIT already active, refusing"
	sctl reset-failed "$SOCKET_UNIT"
	sctl stop "$UNIT"
	sctl enable --now "$SOCKET_UNIT"
	assert_rc 0 "with the service stopped: systemctl enable --now $SOCKET_UNIT"
	assert_eq "socket 660 root hotreload" "$(stat -c '%F %a %U %G' "$SOCKET")" \
	    "systemd's socket: 0660, group hotreload"
	assert_eq inactive "$(prop ActiveState)" "the service waits for a client"
	journal_mark
	run ctl status
	assert_rc 0 "the first client starts the daemon and gets its answer"
	assert_eq active "$(prop ActiveState)" "the service is active"
	assert_eventually "the daemon serves systemd's socket" 5 \
	    journal_has "(socket from systemd)"
	inode=$(stat -c %i "$SOCKET")
	pid=$(prop MainPID)
	sctl restart "$UNIT"
	assert_rc 0 "restart of the socket-activated service"
	run ctl status
	assert_rc 0 "the restarted daemon answers"
	assert_eq "$inode" "$(stat -c %i "$SOCKET")" "the restart keeps the socket"
	assert_false "a new daemon" prop_is "$pid" MainPID
	sctl stop "$SOCKET_UNIT"
	assert_rc 0 "systemctl stop $SOCKET_UNIT while the daemon runs"
	assert_eq "$inode" "$(stat -c %i "$SOCKET" 2>&1)" \
	    "the socket file stays (issue 16: RemoveOnStop)"
	run ctl status
	assert_rc 0 "the daemon still answers on it (issue 16: RemoveOnStop)"
	sctl disable "$SOCKET_UNIT"
	journal_mark
	sctl restart "$UNIT"
	assert_rc 0 "back without socket activation: restart the service"
	run ctl status
	assert_rc 0 "the daemon answers on its own socket"
	assert_eventually "it bound the socket itself" 5 \
	    journal_has "listening on $SOCKET (mode 0660)"
}

# How many of hotreloadd.service and the variant are active.
services_running() {
	local n=0
	prop_is active ActiveState && n=$((n + 1))
	prop_is active ActiveState "$VARIANT" && n=$((n + 1))
	echo "$n"
}

# One of them at least is active.
some_service_runs() {
	(($(services_running) > 0))
}

# The two service units conflict (issue 16: Conflicts=).
check_conflicts() {
	local variant_pid
	# Before 253 make install leaves the variant out; install it as a
	# packager for a newer systemd would, to see the units conflict.
	run make -s -C "$TOP" install SYSTEMD_VERSION=253
	sctl daemon-reload
	assert_eq "loaded" "$(prop LoadState "$VARIANT")" "the variant is installed"
	sctl start "$VARIANT"
	assert_rc 0 "systemctl start $VARIANT while $UNIT runs"
	assert_eventually "starting the variant stops $UNIT (issue 16: Conflicts=)" 5 \
	    prop_is inactive ActiveState
	variant_pid=$(prop MainPID "$VARIANT")
	assert_eventually "the variant's daemon answers" 5 answers_as "$variant_pid"
	sctl start "$UNIT"
	assert_rc 0 "systemctl start $UNIT while the variant runs"
	assert_eq inactive "$(prop ActiveState "$VARIANT")" "starting $UNIT stops the variant"
	# Both wanted by one target and started in one transaction, as at a
	# boot with both enabled: one runs, and nothing restarts.  (Not
	# multi-user.target: it also waits for this check, which waits for it.)
	sctl stop "$UNIT"
	mkdir -p /run/systemd/system
	printf '[Unit]\nWants=%s %s\n' "$UNIT" "$VARIANT" \
	    >/run/systemd/system/hotreload-check-both.target
	sctl daemon-reload
	sctl start hotreload-check-both.target
	assert_rc 0 "both services wanted by one target: the target starts"
	assert_eventually "both enabled: one of the two runs" 5 some_service_runs
	# A loser that failed to bind would be restarted after RestartSec=2s.
	sleep 2.5
	assert_eq 1 "$(services_running)" "both enabled: exactly one runs (issue 16: Conflicts=)"
	assert_eq "0 0" "$(prop NRestarts) $(prop NRestarts "$VARIANT")" \
	    "both enabled: neither restarts (issue 16: Conflicts=)"
	run ctl status
	assert_rc 0 "and it answers"
	sctl stop hotreload-check-both.target "$UNIT" "$VARIANT"
	rm -f "$UNITDIR/$VARIANT" /run/systemd/system/hotreload-check-both.target
	sctl daemon-reload
}

boot1() {
	check_install
	check_security
	check_start
	check_users
	check_status_in_flight
	check_reload
	check_watchdog
	check_stop_and_bad_start
	check_socket_activation
	check_conflicts
	# For boot2: the socket and the service enabled, no broker needed.
	write_plain_config
	sctl enable "$UNIT" "$SOCKET_UNIT"
	assert_rc 0 "enable $UNIT and $SOCKET_UNIT for the next boot"
}

# --- boot2 ------------------------------------------------------------------

boot2() {
	assert_props "at boot" "$SOCKET_UNIT" ActiveState active
	assert_eventually "at boot: $UNIT is active" 10 prop_is active ActiveState
	assert_props "at boot" "$UNIT" NRestarts 0 UnitFileState enabled
	run ctl status
	assert_rc 0 "at boot: the daemon answers"
	journalctl -q --no-pager -o cat -b -u "$UNIT" >"$T/boot.log"
	assert_true "at boot: the daemon serves systemd's socket" \
	    grep -qF "(socket from systemd)" "$T/boot.log"
	assert_eventually "at boot: systemctl status shows the STATUS= line" 3 \
	    status_line_is "running: 0 in flight"
	sctl stop "$UNIT" "$SOCKET_UNIT"
	assert_props "at the end" "$UNIT" ActiveState inactive Result success
}

[[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] ||
	fatal "check.sh runs inside the container that tests/systemd/run boots"
case $PHASE in
boot1) boot1 ;;
boot2) boot2 ;;
*) fatal "usage: check.sh boot1 | boot2" ;;
esac
test_done
