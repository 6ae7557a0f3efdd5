#!/bin/bash
#
# test_hostile_control.sh -- hostile clients of the control socket (issue 11).
#
# 1. Operator lockout: "nobody" and a second non-admin uid try to take every
#    slot; the ones beyond control.max_clients_per_uid and beyond
#    max_clients - reserved_admin_clients get too_many_clients naming that
#    limit, status counts them, and root's status, drain, resume and reload
#    are served meanwhile.
# 2. The socket's mode on reload never follows a path a user replaced: the
#    socket moved aside and a symbolic link to a root-only file planted at its
#    path, a reload that changes control.mode fails naming the path and the
#    file keeps its mode; once the socket is back, the mode is applied.
# 3. A client that pipelines thousands of status requests and never reads
#    costs little memory (the daemon stops reading it), is disconnected at
#    control.idle_timeout_s, and others are served meanwhile.
# 4. A client that trickles half a request one byte at a time is closed at
#    control.idle_timeout_s all the same.
# Needs root (to act as nobody and as another uid).
. "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || fatal "this test must run as root (it acts as nobody)"
command -v setpriv >/dev/null || fatal "setpriv (util-linux) is required"
nobody_uid=$(id -u nobody) || fatal "no user nobody"
nogroup=$(id -gn nobody) || fatal "no primary group for nobody"
other_uid=54321
HOSTILE=$TOP/tests/support/hostile

MAX=12
RESERVED=4
PER_UID=6
LIMITS="\"max_clients\": $MAX, \"reserved_admin_clients\": $RESERVED, \"max_clients_per_uid\": $PER_UID"

# The hostile helper as UID (group nogroup, no other group).
hostile_as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$nogroup" --clear-groups \
	    "$PYTHON" -E -S "$HOSTILE" "$@"
}

# The same in the background, as a helper (HELPER_PID is the helper itself).
start_hostile_as() {
	local uid=$1
	shift
	start_helper setpriv --reuid="$uid" --regid="$nogroup" --clear-groups \
	    "$PYTHON" -E -S "$HOSTILE" "$@"
}

# Succeeds when status shows N clients (itself included).
connected_is() {
	local json
	json=$(ctl -t 5 -j status) || return 1
	[[ $(jfield clients.connected "$json") == "$1" ]]
}

# Peak resident memory of PID in kB.
peak_rss_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# --- 1. operator lockout ----------------------------------------------------

write_config "\"mode\": \"0666\", $LIMITS, \"idle_timeout_s\": 60"
start_daemon

# nobody asks for every slot; it gets max_clients_per_uid of them and holds
# them until it is killed.
start_hostile_as "$nobody_uid" conns "$SOCKET" "$MAX" 60 \
    </dev/null >"$T/nobody.out" 2>&1
nobody_conns=$HELPER_PID
wait_until 20 grep -q '^holding$' "$T/nobody.out" ||
	fatal "nobody's connections: $(cat "$T/nobody.out")"
OUT=$(cat "$T/nobody.out")
note "nobody: $(tr '\n' ' ' <"$T/nobody.out" | cut -c1-300)"
assert_line "accepted $PER_UID" "$OUT" \
    "nobody asking for $MAX connections gets max_clients_per_uid ($PER_UID)"
refusal=$(grep '^refused ' <<<"$OUT" | head -n 1)
assert_match "^refused $((MAX - PER_UID)) " "$refusal" \
    "the other $((MAX - PER_UID)) are refused"
refusal=${refusal#refused * }
assert_json error.code too_many_clients "the refusal is too_many_clients" "$refusal"
assert_contains "control.max_clients_per_uid is $PER_UID" \
    "$(jfield error.message "$refusal")" "the refusal names control.max_clients_per_uid"

# A second non-admin uid takes what is left below the reserve.
start_hostile_as "$other_uid" conns "$SOCKET" "$MAX" 60 \
    </dev/null >"$T/other.out" 2>&1
other_conns=$HELPER_PID
wait_until 20 grep -q '^holding$' "$T/other.out" ||
	fatal "uid $other_uid's connections: $(cat "$T/other.out")"
OUT=$(cat "$T/other.out")
note "uid $other_uid: $(tr '\n' ' ' <"$T/other.out" | cut -c1-300)"
open_slots=$((MAX - RESERVED))
assert_line "accepted $((open_slots - PER_UID))" "$OUT" \
    "uid $other_uid gets the $((open_slots - PER_UID)) slots left below the reserve"
refusal=$(grep '^refused ' <<<"$OUT" | head -n 1)
assert_match "^refused $((MAX - open_slots + PER_UID)) " "$refusal" \
    "the others of uid $other_uid are refused"
refusal=${refusal#refused * }
assert_json error.code too_many_clients "the refusal is too_many_clients" "$refusal"
assert_contains "control.reserved_admin_clients" "$(jfield error.message "$refusal")" \
    "the refusal names control.reserved_admin_clients"

# Every slot but the reserved ones is taken by non-admins: root is served.
run ctl -t 5 -j status
assert_rc 0 "root: status is served with every non-reserved slot taken"
assert_json clients.connected $((open_slots + 1)) "status: $open_slots non-admin clients and root connected"
refused=$((MAX - PER_UID + MAX - open_slots + PER_UID))
assert_json clients.refused "$refused" "status: clients.refused counts the $refused refusals"
assert_json clients.refused_by.max_clients_per_uid $((MAX - PER_UID)) \
    "status: refused_by.max_clients_per_uid"
assert_json clients.refused_by.reserved_admin_clients $((MAX - open_slots + PER_UID)) \
    "status: refused_by.reserved_admin_clients"
run ctl -t 5 drain
assert_rc 0 "root: drain is served"
run ctl -t 5 -j resume
assert_rc 0 "root: resume is served"
assert_json draining false "root: resume took effect"
run ctl -t 5 reload
assert_rc 0 "root: reload is served"
run hostile_as "$nobody_uid" conns "$SOCKET" 1 0
assert_line "refused 1 .*control.reserved_admin_clients.*" "$OUT" \
    "nobody cannot take a reserved slot"
kill "$nobody_conns" "$other_conns"

# --- 2. the socket's mode never follows a planted link --------------------

assert_eventually "the held connections are gone" 10 connected_is 1
write_config "\"mode\": \"0660\", $LIMITS, \"idle_timeout_s\": 60"
run ctl reload
assert_rc 0 "reload to mode 0660 exits 0"
assert_eq 660 "$(stat -c %a "$SOCKET")" "the socket's mode is now 660"

printf 'root only\n' >"$T/secret"
chmod 0600 "$T/secret"
mv "$SOCKET" "$T/moved.sock"
ln -s "$T/secret" "$SOCKET"
write_config "\"mode\": \"0666\", $LIMITS, \"idle_timeout_s\": 60"
run timeout -k 2 "$CMD_TIMEOUT" "$HOTRELOADCTL" -s "$T/moved.sock" reload
note "reload with a link at the socket's path: exit $RC: $ERR"
assert_eq 600 "$(stat -c %a "$T/secret")" \
    "the file the planted link points to keeps mode 0600"
assert_rc 1 "the reload fails"
assert_contains "$SOCKET" "$ERR" "the error names the socket's path"
assert_eq 660 "$(stat -c %a "$T/moved.sock")" "the socket keeps mode 660"

rm "$SOCKET"
mv "$T/moved.sock" "$SOCKET"
run ctl reload
assert_rc 0 "with the socket back, the same reload exits 0"
assert_eq 666 "$(stat -c %a "$SOCKET")" "the socket's mode is now 666"

# --- 3. a client that never reads its replies --------------------------------

IDLE_S=3
write_config "\"mode\": \"0666\", $LIMITS, \"idle_timeout_s\": $IDLE_S"
run ctl reload
assert_rc 0 "reload to idle_timeout_s $IDLE_S exits 0"
REQUESTS=120000
before=$(peak_rss_kb "$DAEMON_PID")
start_helper "$PYTHON" -E -S "$HOSTILE" pipeline "$SOCKET" "$REQUESTS" \
    $((8 * SLOWDOWN)) $((IDLE_S * 4 * SLOWDOWN)) >"$T/pipeline.out" 2>&1
pipeline=$HELPER_PID
wait_until $((10 * SLOWDOWN)) grep -q '^sent ' "$T/pipeline.out" ||
	fatal "the pipelining client did not send: $(cat "$T/pipeline.out")"
note "pipelining client: $(head -n 1 "$T/pipeline.out") bytes of $REQUESTS status requests"
run ctl -t 10 -j status
assert_rc 0 "another client's status is served while one does not read"
wait_exit "$pipeline" $((IDLE_S * 4 * SLOWDOWN + 10)) ||
	fatal "the pipelining client did not end"
after=$(peak_rss_kb "$DAEMON_PID")
growth=$(((after - before) / 1024))
note "peak RSS growth: $growth MB (VmHWM $before kB -> $after kB)"
assert_eq yes "$( ((growth < 64)) && echo yes || echo "no: $growth MB")" \
    "the daemon's peak memory grows by less than 64 MB"
OUT=$(cat "$T/pipeline.out")
note "pipelining client: $(line_of 2 "$OUT")"
assert_match "^disconnected " "$(line_of 2 "$OUT")" \
    "the client that never reads is disconnected (control.idle_timeout_s)"
assert_log "bytes of replies unread" "the log says why it was disconnected"
status_json
assert_json clients.connected 1 "status: only the asking client is connected"
assert_json clients.disconnected_unread 1 "status: clients.disconnected_unread 1"

# --- 4. half a request, trickled --------------------------------------------

run "$PYTHON" -E -S "$HOSTILE" trickle "$SOCKET" 0.5 $((IDLE_S * 4 * SLOWDOWN))
note "trickling client: $OUT"
assert_match "^closed after " "$OUT" \
    "a client trickling half a request is closed at control.idle_timeout_s"
assert_contains '"code":"timeout"' "$OUT" "it is told: timeout"
run ctl -t 5 version
assert_rc 0 "version is served afterwards"

test_done
