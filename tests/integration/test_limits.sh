#!/bin/bash
#
# test_limits.sh -- the bounds of the control socket: control.max_clients
# (excess connections get too_many_clients), control.queue_depth (a burst of
# state changes beyond it gets queue_full), control.idle_timeout_s (silent
# clients are told and closed), hotreloadctl -t against a daemon that does
# not answer; a slow client does not block others, many concurrent clients
# are all served, and a state change whose client left at once is still
# carried out.
. "$(dirname "$0")/lib.sh"

# --- max_clients -------------------------------------------------------------

write_config '"mode": "0666", "max_clients": 4'
start_daemon

start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" hold 4 60 >"$T/hold.out" 2>&1
holder=$HELPER_PID
wait_until 10 grep -q "holding 4" "$T/hold.out" ||
	fatal "could not open 4 connections: $(cat "$T/hold.out")"

# A fifth raw connection reads one error line, then the daemon closes it.
run raw read 1 eof
assert_rc 0 "fifth connection: an error line, then end of file"
first=$(line_of 1 "$OUT")
assert_json error.code too_many_clients "fifth connection: too_many_clients" "$first"
assert_json id null "fifth connection: id null" "$first"
assert_contains "max_clients" "$(jfield error.message "$first")" \
    "fifth connection: the message names max_clients"
assert_eq EOF "$(line_of 2 "$OUT")" "fifth connection: closed by the daemon"

# hotreloadctl over the limit: exit 1 and too_many_clients, every time.
tries=20
bad=0
bad_detail=
for ((i = 0; i < tries; i++)); do
	run ctl status
	if [[ $RC != 1 || $ERR != "hotreloadctl: too_many_clients: "* ]]; then
		bad=$((bad + 1))
		bad_detail="exit status $RC, stderr: $ERR"
	fi
done
CHECKS=$((CHECKS + 1))
if ((bad == 0)); then
	pass "status over max_clients: exit 1 with too_many_clients ($tries of $tries)"
else
	fail "status over max_clients: exit 1 with too_many_clients ($tries of $tries)" \
	    "$bad of $tries runs differed; the last: $bad_detail"
fi

kill "$holder"
wait "$holder" 2>/dev/null
forget_pid "$holder"
assert_eventually "status answers again once the 4 connections are closed" 10 \
    ctl status
status_json
refused=$(jfield clients.refused)
assert_ge $((tries + 1)) "$refused" "status: clients.refused counts the refusals"
assert_json limits.max_clients 4 "status: limits.max_clients 4"
run ctl metrics
assert_line "hotreload_control_refused_total $refused" "$OUT" \
    "metrics: hotreload_control_refused_total matches status"

# --- a slow client, many clients, a client that leaves --------------------

write_config '"mode": "0666", "max_clients": 64'
run ctl reload
assert_rc 0 "reload to max_clients 64"

# Half a request, then silence: others are served meanwhile.
start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" \
    sendraw '{"v":1,"id":1,"cmd":"sta' sleep 60
half=$HELPER_PID
wait_until 10 status_is clients.connected 2 ||
	fail "the half-line client connected"
run ctl -t 5 status
assert_rc 0 "status is answered while a client sits on half a line"
run ctl -t 5 drain
assert_rc 0 "drain is answered while a client sits on half a line"
run ctl -t 5 resume
assert_rc 0 "resume is answered while a client sits on half a line"
assert_true "the half-line client was still connected meanwhile" \
    process_running "$half"
kill "$half"
wait "$half" 2>/dev/null
forget_pid "$half"

# 30 concurrent status and 10 concurrent drain/resume pairs.
pids=()
for i in $(seq 30); do
	( ctl status >/dev/null 2>"$T/status.$i.err"; echo $? >"$T/status.$i.rc" ) &
	pids+=($!)
done
for i in $(seq 10); do
	(
		ctl drain >/dev/null 2>"$T/pair.$i.err"
		a=$?
		ctl resume >/dev/null 2>>"$T/pair.$i.err"
		echo "$a $?" >"$T/pair.$i.rc"
	) &
	pids+=($!)
done
wait "${pids[@]}"
failed_runs=
for i in $(seq 30); do
	rc=$(cat "$T/status.$i.rc" 2>/dev/null)
	[[ $rc == 0 ]] || failed_runs+="status $i: exit ${rc:-?}: $(cat "$T/status.$i.err")"$'\n'
done
for i in $(seq 10); do
	rc=$(cat "$T/pair.$i.rc" 2>/dev/null)
	[[ $rc == "0 0" ]] || failed_runs+="pair $i: exits ${rc:-?}: $(cat "$T/pair.$i.err")"$'\n'
done
assert_eq "" "$failed_runs" "30 concurrent status and 10 drain/resume pairs all exit 0"
status_json
assert_json draining false "after the pairs: not draining (a resume came last)"
assert_json queue.pending 0 "after the pairs: nothing pending"
assert_json queue.running null "after the pairs: nothing running"
assert_eventually "after the concurrent clients: only one client connected" 10 \
    status_is clients.connected 1

# A drain whose client closes right after sending is still carried out.
# The daemon is paused meanwhile, so the request and the close reach it
# together (otherwise the reply may be written before the client leaves).
kill -STOP "$DAEMON_PID"
start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" \
    send '{"v":1,"id":1,"cmd":"drain"}' close
leaver=$HELPER_PID
wait "$leaver"
assert_eq 0 "$?" "the leaving client sent its drain"
kill -CONT "$DAEMON_PID"
forget_pid "$leaver"
assert_eventually "status shows the drain of the client that left" 10 \
    status_is draining true
assert_log "drain from uid 0 pid $leaver" "the log records the drain of the client that left"
assert_eventually "the log says the client of that drain went away" 3 \
    grep -E "pid $leaver\b.*(went away|client gone|disconnected)" "$LOG"
run ctl resume
assert_rc 0 "resume after the leaver's drain"

# --- queue_depth ---------------------------------------------------------------

# Send N drains on N connections while the daemon is stopped, so that all
# reach it at once when it continues.  CODES gets how the replies ended:
# "ok=1 queue_full=5" (a success counts as "ok").
drains_at_once() {
	local n=$1 i pids=()
	kill -STOP "$DAEMON_PID"
	for ((i = 0; i < n; i++)); do
		"$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" -t 10 \
		    send "{\"v\":1,\"id\":$i,\"cmd\":\"drain\"}" print sent read 1 \
		    >"$T/burst.$i" 2>&1 &
		pids+=($!)
	done
	for ((i = 0; i < n; i++)); do
		wait_until 10 grep -q '^sent$' "$T/burst.$i" ||
			fail "burst client $i sent its drain" "$(cat "$T/burst.$i")"
	done
	kill -CONT "$DAEMON_PID"
	wait "${pids[@]}"
	CODES=$(for ((i = 0; i < n; i++)); do
		jfield error.code "$(sed -n 2p "$T/burst.$i")" ok
	done | sort | uniq -c | awk '{ print $2 "=" $1 }' | paste -sd ' ')
}

# Six drains at once fit in a queue of 16.
drains_at_once 6
assert_eq "ok=6" "$CODES" "queue_depth 16: six drains at once all succeed"

# A queue of 1 takes one, the others are answered queue_full.
write_config '"mode": "0666", "queue_depth": 1'
run ctl reload
assert_rc 0 "reload to queue_depth 1"
drains_at_once 6
assert_eq "ok=1 queue_full=5" "$CODES" \
    "queue_depth 1: of six drains at once one runs, five get queue_full"
run ctl metrics
assert_line "hotreload_queue_rejected_total 5" "$OUT" \
    "metrics: hotreload_queue_rejected_total 5"
run ctl -t 5 resume
assert_rc 0 "resume after the bursts"

# A daemon that does not answer: hotreloadctl -t gives up with 75.
kill -STOP "$DAEMON_PID"
t0=$(now_ms)
run ctl -t 1 status
elapsed=$(($(now_ms) - t0))
kill -CONT "$DAEMON_PID"
assert_rc 75 "a stopped daemon: status -t 1 exits 75"
assert_contains "timed out" "$ERR" "a stopped daemon: hotreloadctl says it timed out"
assert_lt 5000 "$elapsed" \
    "a stopped daemon: hotreloadctl gives up after about 1 s" ms
run ctl status
assert_rc 0 "the continued daemon answers again"

# --- idle_timeout_s ------------------------------------------------------------

write_config '"mode": "0666", "idle_timeout_s": 1'
run ctl reload
assert_rc 0 "reload to idle_timeout_s 1"
status_json
assert_json limits.idle_timeout_s 1 "status: limits.idle_timeout_s 1"

t0=$(now_ms)
run raw -t 8 eof
elapsed=$(($(now_ms) - t0))
assert_rc 0 "an idle client is closed by the daemon"
first=$(line_of 1 "$OUT")
assert_json error.code timeout "idle client: error code timeout" "$first"
assert_contains idle_timeout_s "$(jfield error.message "$first")" \
    "idle client: the message names idle_timeout_s"
assert_eq EOF "$(line_of 2 "$OUT")" "idle client: then end of file"
assert_lt 5000 "$elapsed" "idle client closed within a few seconds" ms

# A client that stops half-way through a request is timed out too.
run raw -t 8 sendraw '{"v":1,' eof
assert_rc 0 "a client silent after half a request is closed"
assert_json error.code timeout "half a request then silence: timeout" "$(line_of 1 "$OUT")"

# The idle timer does not cut a client that keeps talking.
run raw send '{"v":1,"id":1,"cmd":"version"}' read 1 sleep 0.5 \
    send '{"v":1,"id":2,"cmd":"version"}' read 1 sleep 0.5 \
    send '{"v":1,"id":3,"cmd":"version"}' read 1 sleep 0.5 \
    send '{"v":1,"id":4,"cmd":"version"}' read 1
assert_rc 0 "a client that talks every 0.5 s is served for 1.5 s"
assert_json id 4 "the talking client's fourth reply" "$(line_of 4 "$OUT")"

run ctl status
assert_rc 0 "status after the idle tests"

test_done
