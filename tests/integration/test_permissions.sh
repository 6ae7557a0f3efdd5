#!/bin/bash
#
# test_permissions.sh -- who may do what on the control socket: the socket's
# mode comes from control.mode; anyone who can connect may read, only root,
# control.admin_uids and control.admin_groups may change state; a group that
# does not exist is a warning.  Needs root (to act as "nobody").
. "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || fatal "this test must run as root (it acts as nobody)"
command -v setpriv >/dev/null || fatal "setpriv (util-linux) is required"
nobody_uid=$(id -u nobody) || fatal "no user nobody"
nogroup=$(id -gn nobody) || fatal "no primary group for nobody"
other_group=$(getent group users | cut -d: -f1)
[[ -n $other_group ]] || other_group=daemon
getent group "$other_group" >/dev/null || fatal "no group $other_group"

# hotreloadctl as nobody, primary group nogroup, no other groups.
as_nobody() {
	timeout -k 2 "$CMD_TIMEOUT" setpriv --reuid="$nobody_uid" \
	    --regid="$nogroup" --clear-groups \
	    "$HOTRELOADCTL" -s "$SOCKET" "$@"
}

# As nobody with primary group $other_group and nogroup as a supplementary one.
as_nobody_supplementary() {
	timeout -k 2 "$CMD_TIMEOUT" setpriv --reuid="$nobody_uid" \
	    --regid="$other_group" --groups="$nogroup" \
	    "$HOTRELOADCTL" -s "$SOCKET" "$@"
}

# As nobody with primary group $other_group and no other group.
as_nobody_other() {
	timeout -k 2 "$CMD_TIMEOUT" setpriv --reuid="$nobody_uid" \
	    --regid="$other_group" --clear-groups \
	    "$HOTRELOADCTL" -s "$SOCKET" "$@"
}

# Mode 0660: the socket has that mode, nobody cannot connect.
write_config '"mode": "0660"'
start_daemon
assert_eq 660 "$(stat -c %a "$SOCKET")" "mode 0660: the socket's mode is 660"
run as_nobody status
assert_rc 77 "mode 0660: nobody gets exit 77 (permission denied)"
assert_contains "$SOCKET" "$ERR" "mode 0660: the error names the socket"
kill -TERM "$DAEMON_PID"
wait_exit "$DAEMON_PID" 10 || fatal "daemon did not stop on SIGTERM"

# Mode 0666: nobody may read but not change state.
write_config '"mode": "0666"'
start_daemon
assert_eq 666 "$(stat -c %a "$SOCKET")" "mode 0666: the socket's mode is 666"

run as_nobody status
assert_rc 0 "nobody: status exits 0"
run as_nobody version
assert_rc 0 "nobody: version exits 0"
run as_nobody metrics
assert_rc 0 "nobody: metrics exits 0"

run as_nobody drain
assert_rc 77 "nobody: drain exits 77"
assert_contains forbidden "$ERR" "nobody: drain says forbidden"
assert_match "^hotreloadctl: forbidden: " "$ERR" "nobody: drain error format"
assert_contains "uid $nobody_uid" "$ERR" "nobody: the error names the uid"
run as_nobody -j drain
assert_rc 77 "nobody: drain -j exits 77"
assert_json code forbidden "nobody: drain -j prints the error object"
run as_nobody reload
assert_rc 77 "nobody: reload exits 77"
assert_contains forbidden "$ERR" "nobody: reload says forbidden"
run as_nobody resume
assert_rc 77 "nobody: resume exits 77"
run as_nobody reload-llm
assert_rc 77 "nobody: reload-llm exits 77 (forbidden before not_configured)"

status_json
assert_json draining false "after nobody's attempts: not draining"
run ctl metrics
assert_line 'hotreload_reloads_total\{service="config",result="(ok|failed)"\} 0' "$OUT" \
    "after nobody's attempts: no reload was counted"
assert_log "refused drain from uid $nobody_uid" "the log names the refused drain"

# admin_uids: nobody becomes an admin after a reload.
write_config "\"mode\": \"0666\", \"admin_uids\": [$nobody_uid]"
run ctl reload
assert_rc 0 "root: reload with admin_uids [nobody] exits 0"
run as_nobody drain
assert_rc 0 "admin_uids: nobody's drain exits 0"
status_json
assert_json draining true "admin_uids: nobody's drain took effect"
run as_nobody resume
assert_rc 0 "admin_uids: nobody's resume exits 0"
status_json
assert_json draining false "admin_uids: nobody's resume took effect"

# admin_groups by primary group.
write_config "\"mode\": \"0666\", \"admin_groups\": [\"$nogroup\"]"
run ctl reload
assert_rc 0 "root: reload with admin_groups [$nogroup] exits 0"
run as_nobody drain
assert_rc 0 "admin_groups: nobody (primary group $nogroup) may drain"
run as_nobody resume
assert_rc 0 "admin_groups: nobody (primary group $nogroup) may resume"

# admin_groups by supplementary group.
run as_nobody_supplementary drain
assert_rc 0 "admin_groups: nobody with supplementary group $nogroup may drain"
run as_nobody_supplementary resume
assert_rc 0 "admin_groups: nobody with supplementary group $nogroup may resume"

# Not in the group: refused.
run as_nobody_other drain
assert_rc 77 "admin_groups: nobody outside $nogroup may not drain"
status_json
assert_json draining false "admin_groups: the refused drain changed nothing"

# Rights are taken away by a reload too.
write_config '"mode": "0666", "admin_uids": [0], "admin_groups": []'
run ctl reload
assert_rc 0 "root: reload back to root alone exits 0"
run as_nobody drain
assert_rc 77 "after the reload: nobody may not drain any more"

# A group that does not exist is a warning, not an error.
kill -TERM "$DAEMON_PID"
wait_exit "$DAEMON_PID" 10 || fatal "daemon did not stop on SIGTERM"
write_config '"mode": "0666", "admin_groups": ["no-such-group-hrtest"]'
run timeout 10 "$HOTRELOADD" -t -c "$CONFIG"
assert_rc 0 "-t: a nonexistent admin group is not an error"
assert_contains 'no-such-group-hrtest' "$ERR" "-t: warns about the nonexistent group"
start_daemon
run ctl status
assert_rc 0 "a daemon with a nonexistent admin group starts and answers"
assert_log 'control.admin_groups[0]: no group named "no-such-group-hrtest"' \
    "the log warns about the nonexistent group"
run as_nobody drain
assert_rc 77 "a nonexistent admin group gives nobody no rights"

test_done
