#!/bin/bash
#
# test_abuse_clients.sh -- the control socket under a crowd: 400 idle
# connections and a client that sent half a line and stopped fill
# control.max_clients but one; hotreloadctl status still answers (within its
# own -t); with the last slot taken too, further connections get the
# too_many_clients line and are closed, and hotreloadctl says so; at
# control.idle_timeout_s every idle connection and the half-line one are told
# (error timeout) and closed, none before; then status shows no client but
# its own, the refusals are counted, and state changes are served again.
. "$(dirname "$0")/lib.sh"

IDLE=400
# The idle ones, the half-line one, and one more: the client asking.
MAX=$((IDLE + 2))
# Long enough for the checks below on a loaded machine: the idle
# connections must all still be open when the last slot is tested.
IDLE_S=25

# 400 sockets here and as many in the daemon (which raises its own soft
# limit to max_clients + 64 at start, within the hard one).
need=$((IDLE + 64))
if (($(ulimit -n) < need)); then
	ulimit -n "$need" 2>/dev/null ||
		fatal "ulimit -n is $(ulimit -n) and cannot be raised to $need" \
		    "(hard limit $(ulimit -Hn))"
fi
(($(ulimit -Hn) >= MAX + 64)) ||
	fatal "the hard file limit ($(ulimit -Hn)) is below max_clients + 64"

# Print clients.connected of a fresh status (fails if status fails).
connected() {
	local json
	json=$(ctl -t 5 -j status) || return 1
	jfield clients.connected "$json"
}

# Succeeds when status shows N clients (itself included).
connected_is() {
	[[ $(connected) == "$1" ]]
}

write_config "\"max_clients\": $MAX, \"idle_timeout_s\": $IDLE_S"
start_daemon
status_json
assert_json limits.max_clients "$MAX" "status: limits.max_clients $MAX"
assert_json limits.idle_timeout_s "$IDLE_S" "status: limits.idle_timeout_s $IDLE_S"

# The crowd: 400 connections, each served once (a version), then silent.
start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" -t 10 \
    idle "$IDLE" $((IDLE_S + 30)) >"$T/idle.out" 2>&1
crowd=$HELPER_PID
wait_until 30 grep -q "^holding $IDLE\$" "$T/idle.out" ||
	fatal "could not open $IDLE connections: $(cat "$T/idle.out")"
crowd_since=$(now_ms)

# Half a request, then silence.
start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" -t $((IDLE_S + 30)) \
    sendraw '{"v":1,"id":1,"cmd":"sta' eof >"$T/half.out" 2>&1
half=$HELPER_PID

# With 401 others connected, status answers (bounded by hotreloadctl -t).
assert_eventually "status answers with $IDLE idle clients and a half-line one connected" \
    10 connected_is $((IDLE + 2))
run ctl -t 5 status
assert_rc 0 "status (human form) answers too"

# The last slot: one more held connection; the daemon is now full.
start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" hold 1 $((IDLE_S + 30)) \
    >"$T/last.out" 2>&1
last=$HELPER_PID
wait_until 10 grep -q "^holding 1\$" "$T/last.out" ||
	fatal "the last slot could not be taken: $(cat "$T/last.out")"

# Beyond max_clients: one error line, then the daemon closes.
run raw read 1 eof
assert_rc 0 "connection $((MAX + 1)): an error line, then end of file"
first=$(line_of 1 "$OUT")
assert_json error.code too_many_clients "connection $((MAX + 1)): too_many_clients" "$first"
assert_contains "control.max_clients is $MAX" "$(jfield error.message "$first")" \
    "connection $((MAX + 1)): the message names control.max_clients and its value"
assert_eq EOF "$(line_of 2 "$OUT")" "connection $((MAX + 1)): closed by the daemon"
refused=1

# hotreloadctl beyond max_clients: exit 1 with too_many_clients, not a hang.
tries=5
for ((i = 1; i <= tries; i++)); do
	run ctl -t 5 status
	refused=$((refused + 1))
	assert_rc 1 "status over max_clients ($i of $tries): exit 1"
	assert_match '^hotreloadctl: too_many_clients: ' "$ERR" \
	    "status over max_clients ($i of $tries): too_many_clients on stderr"
done
run ctl -t 5 drain
refused=$((refused + 1))
assert_rc 1 "drain over max_clients: exit 1"
assert_match '^hotreloadctl: too_many_clients: ' "$ERR" \
    "drain over max_clients: too_many_clients on stderr"

# Free the last slot: served again, the refusals counted, no drain happened.
kill "$last"
wait "$last" 2>/dev/null
forget_pid "$last"
assert_eventually "status answers again once the last slot is free" 10 \
    connected_is $((IDLE + 2))
status_json
assert_json clients.refused "$refused" "status: clients.refused counts the $refused refusals"
assert_json draining false "status: the refused drain did not happen"

# The crowd is still connected: nothing was closed before idle_timeout_s.
CHECKS=$((CHECKS + 1))
if process_running "$crowd" && process_running "$half"; then
	pass "the idle and the half-line clients are still connected"
else
	fail "the idle and the half-line clients are still connected" \
	    "idle: $(cat "$T/idle.out")" "half: $(cat "$T/half.out")"
fi

# At idle_timeout_s each is told and closed.
wait_exit "$crowd" $((IDLE_S + 40)) || fatal "the idle clients' helper did not end"
elapsed=$(($(now_ms) - crowd_since))
OUT=$(cat "$T/idle.out")
assert_eq 0 "$EXIT_STATUS" "the idle clients' helper ran"
assert_line "closed $IDLE of $IDLE" "$OUT" "all $IDLE idle connections were closed by the daemon"
assert_eq 3 "$(printf '%s\n' "$OUT" | wc -l)" \
    "one kind of line came on the idle connections"
told=$(line_of 2 "$OUT")
assert_match "^$IDLE " "$told" "each of the $IDLE idle connections got one line"
told=${told#* }
assert_json error.code timeout "the idle connections were told: timeout" "$told"
assert_json id null "the idle connections were told: id null" "$told"
assert_contains "control.idle_timeout_s" "$(jfield error.message "$told")" \
    "the idle connections were told: the message names control.idle_timeout_s"
assert_ge $(((IDLE_S - 1) * 1000)) "$elapsed" \
    "the idle connections were not closed before idle_timeout_s" ms

wait_exit "$half" 30 || fatal "the half-line client's helper did not end"
assert_eq 0 "$EXIT_STATUS" "the half-line client is closed by the daemon"
OUT=$(cat "$T/half.out")
assert_json error.code timeout "the half-line client was told: timeout" "$(line_of 1 "$OUT")"
assert_eq EOF "$(line_of 2 "$OUT")" "the half-line client: then end of file"

# Afterwards: only the asking client, and state changes are served.
assert_eventually "status shows only its own client" 10 connected_is 1
status_json
assert_json clients.refused "$refused" "status: clients.refused unchanged since"
run ctl -t 5 drain
assert_rc 0 "drain is served afterwards"
run ctl -t 5 -j resume
assert_rc 0 "resume is served afterwards"
assert_json draining false "resume: not draining"
run ctl metrics
assert_line "hotreload_control_refused_total $refused" "$OUT" \
    "metrics: hotreload_control_refused_total $refused"
run ctl version
assert_rc 0 "version is served afterwards"

test_done
