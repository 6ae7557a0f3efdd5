#!/bin/bash
#
# test_lifecycle.sh -- start and stop: SIGTERM and SIGINT shut down cleanly
# (exit 0, socket removed); a stale socket left by a killed daemon is
# replaced; a second daemon on a live socket refuses to start and leaves the
# first alone; a file that is not a socket is never removed.
. "$(dirname "$0")/lib.sh"

write_config '"mode": "0660"' '"drain": { "timeout_s": 5 }'

# SIGTERM and SIGINT: exit 0 within a few seconds, socket gone.
for sig in TERM INT; do
	start_daemon
	kill "-$sig" "$DAEMON_PID"
	assert_daemon_exits "SIG$sig" 10
	assert_absent "$SOCKET" "SIG$sig: the socket file is removed"
	assert_log "SIG$sig: shutting down" "SIG$sig: the log says why it stops"
	run ctl status
	assert_rc 69 "SIG$sig: status afterwards exits 69"
done

# SIGTERM while draining still exits 0.
start_daemon
run ctl drain
assert_rc 0 "drain before SIGTERM"
kill -TERM "$DAEMON_PID"
wait_exit "$DAEMON_PID" 10
assert_eq 0 "$EXIT_STATUS" "SIGTERM while draining: exit status 0"

# A daemon killed with SIGKILL leaves its socket; the next one replaces it.
start_daemon
kill -KILL "$DAEMON_PID"
wait_exit "$DAEMON_PID" 10 || fatal "SIGKILL did not stop the daemon"
assert_true "SIGKILL leaves the socket file behind" test -S "$SOCKET"
: >"$LOG"
start_daemon
assert_log "removed stale socket $SOCKET" "the new daemon logs that it removed the stale socket"
run ctl -j status
assert_rc 0 "the new daemon answers on the old path"
assert_json pid "$DAEMON_PID" "the answer comes from the new daemon"
first=$DAEMON_PID

# A second daemon on the same socket: exit 1 at once, the first unharmed.
t0=$(now_ms)
run timeout 10 "$HOTRELOADD" -c "$CONFIG"
elapsed=$(($(now_ms) - t0))
assert_rc 1 "a second daemon on a live socket exits 1"
assert_contains "already listening" "$ERR" "the second daemon says another one is already listening"
assert_contains "$SOCKET" "$ERR" "the second daemon names the socket"
assert_lt 5000 "$elapsed" "the second daemon gives up quickly" ms
run ctl -j status
assert_rc 0 "the first daemon still answers"
assert_json pid "$first" "the first daemon still owns the socket"
kill -TERM "$first"
wait_exit "$first" 10
assert_eq 0 "$EXIT_STATUS" "the first daemon exits 0 on SIGTERM"

# A regular file where the socket should be: refused, file untouched.
printf 'precious\n' >"$SOCKET"
before=$(stat -c '%i %s %Y' "$SOCKET")
run timeout 10 "$HOTRELOADD" -c "$CONFIG"
assert_rc 1 "a regular file at the socket path: the daemon exits 1"
assert_contains "not a socket" "$ERR" "the daemon says the path is not a socket"
assert_eq "precious" "$(cat "$SOCKET")" "the regular file keeps its content"
assert_eq "$before" "$(stat -c '%i %s %Y' "$SOCKET")" "the regular file is the same file"
rm -f "$SOCKET"

# A socket path in a directory that does not exist: a clear error, exit 1.
write_config '"mode": "0660"' '' "$CONFIG" "$T/no/such/dir/control.sock"
run timeout 10 "$HOTRELOADD" -c "$CONFIG"
assert_rc 1 "a socket in a missing directory: the daemon exits 1"
assert_contains "$T/no/such/dir/control.sock" "$ERR" "the error names the socket path"

test_done
