#!/bin/bash
#
# test_reload_faults.sh -- a configuration file that cannot be read at
# reload: unreadable (mode 000; the daemon runs as "nobody" with setpriv,
# since root reads anything) and a directory where the file was.  reload and
# SIGHUP fail with an error naming the file and the cause, nothing changes,
# the daemon keeps serving, and a readable file is taken again.  (A deleted
# file is in test_reload.)  Needs root, to act as nobody.
. "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || fatal "this test must run as root (it acts as nobody)"
command -v setpriv >/dev/null || fatal "setpriv (util-linux) is required"
nobody_uid=$(id -u nobody) || fatal "no user nobody"
nogroup=$(id -gn nobody) || fatal "no primary group for nobody"

# The daemon's socket lives in a directory of its own that nobody owns.
{ mkdir "$T/run" && chown "$nobody_uid" "$T/run"; } || fatal "cannot make $T/run"
SOCKET=$T/run/control.sock

# Prints queue.depth of a fresh status.
depth() {
	local json
	json=$(ctl -j status) || return 1
	jfield queue.depth "$json"
}

# The count of config reloads with result $1 in the metrics.
config_reloads() {
	ctl metrics | sed -n "s/^hotreload_reloads_total{service=\"config\",result=\"$1\"} //p"
}

write_config '"mode": "0660", "queue_depth": 4'
chmod 0644 "$CONFIG"
LOGS+=("$LOG")
setpriv --reuid="$nobody_uid" --regid="$nogroup" --clear-groups \
    "$HOTRELOADD" -v -c "$CONFIG" 2>>"$LOG" &
DAEMON_PID=$!
DAEMON_PIDS+=("$DAEMON_PID")
wait_ready "$DAEMON_PID" "$SOCKET" "$LOG"
assert_eq "$nobody_uid" "$(stat -c %u /proc/"$DAEMON_PID")" "the daemon runs as nobody"
assert_eq 4 "$(depth)" "start: queue depth 4"

# Unreadable: the new content (queue depth 8) is not seen.
write_config '"mode": "0660", "queue_depth": 8'
chmod 000 "$CONFIG"
run ctl reload
assert_rc 1 "reload of an unreadable file exits 1"
assert_match "^hotreloadctl: reload_failed: .*$CONFIG" "$ERR" \
    "reload of an unreadable file: reload_failed naming the file"
assert_contains "Permission denied" "$ERR" "reload of an unreadable file: the cause"
run ctl -j reload
assert_rc 1 "reload -j of an unreadable file exits 1"
assert_json code reload_failed "reload -j of an unreadable file: the error object"
assert_eq 4 "$(depth)" "after the failed reloads: queue depth still 4"
assert_eq 2 "$(config_reloads failed)" "metrics: two config reloads failed"
assert_eq 0 "$(config_reloads ok)" "metrics: no config reload ok"

kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with an unreadable file: the failure is counted" 10 \
    eval "[[ \$(config_reloads failed) == 3 ]]"
assert_log "Permission denied" "SIGHUP with an unreadable file: the log has the cause"
assert_eq 4 "$(depth)" "SIGHUP with an unreadable file: queue depth still 4"
run ctl drain
assert_rc 0 "the daemon still serves state changes (drain)"
run ctl resume
assert_rc 0 "the daemon still serves state changes (resume)"

# Readable again: taken.
chmod 0644 "$CONFIG"
run ctl reload
assert_rc 0 "reload once the file is readable again exits 0"
assert_eq 8 "$(depth)" "the readable file is applied: queue depth 8"

# A directory where the file was.
mv "$CONFIG" "$T/saved.conf"
mkdir "$CONFIG"
run ctl reload
assert_rc 1 "reload of a directory exits 1"
assert_match "^hotreloadctl: reload_failed: .*$CONFIG" "$ERR" \
    "reload of a directory: reload_failed naming the path"
assert_match "[Ii]s a directory|not a regular file" "$ERR" "reload of a directory: the cause"
assert_eq 8 "$(depth)" "after the reload of a directory: queue depth still 8"
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with a directory: the failure is counted" 10 \
    eval "[[ \$(config_reloads failed) == 5 ]]"
assert_eq 8 "$(depth)" "SIGHUP with a directory: queue depth still 8"
rmdir "$CONFIG"
mv "$T/saved.conf" "$CONFIG"
write_config '"mode": "0660", "queue_depth": 6'
run ctl reload
assert_rc 0 "reload of a file in place of the directory exits 0"
assert_eq 6 "$(depth)" "the file is applied: queue depth 6"

test_done
