#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_abuse_shutdown.sh -- SIGTERM in the middle of a reload, with HSP on a
# private broker.  While a reload-hsp runs (the broker is stopped, so its
# CONNACK waits): the queued reload-hsp and drain, and any new state change,
# get shutting_down; status is still answered; the running reload goes on
# to its end and its client gets the result (success once the broker
# answers; reload_failed at hsp.connect_timeout_s if it never does); the
# daemon exits 0 within a bound and removes its socket.  State changes that
# reach a daemon together with SIGTERM (it is stopped meanwhile) each get
# their one final reply, done or shutting_down, before it exits: never just
# end of file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"
trap hsp_cleanup_stopped_broker EXIT

broker_start
hsp_config '"connect_timeout_s": 60' '"max_clients": 128'
start_daemon
wait_hsp_connected
gen=$(status_field services.hsp.generation)

# assert_clean_exit LABEL SECONDS: the daemon (DAEMON_PID), sent SIGTERM
# at T0 (now_ms), exits 0 within SECONDS and removes its socket.
assert_clean_exit() {
	assert_daemon_exits "$1" "$2" &&
		note "$1: the daemon exited $(($(now_ms) - t0)) ms after SIGTERM"
	assert_absent "$SOCKET" "$1: the socket is removed"
}

# --- SIGTERM while a reload runs -------------------------------------------------

broker_signal STOP
( ctl -t 60 -j reload-hsp >"$T/running.out" 2>"$T/running.err"; echo $? >"$T/running.rc" ) &
running=$!
assert_eventually "SIGTERM: a reload-hsp runs" 10 queue_state_is "reload-hsp 0 2"
start_clients queued 1 reload-hsp
queued_reload=${CLIENT_PIDS[0]}
assert_eventually "SIGTERM: a second reload-hsp waits" 10 queue_state_is "reload-hsp 1 3"
start_clients queued_drain 1 drain
queued_drain=${CLIENT_PIDS[0]}
assert_eventually "SIGTERM: a drain waits too" 10 queue_state_is "reload-hsp 2 4"
t0=$(now_ms)
kill -TERM "$DAEMON_PID"
wait "$queued_reload" "$queued_drain"
assert_eq 1 "$(cat "$T/queued.0.rc")" "SIGTERM: the queued reload-hsp exits 1"
assert_match '^hotreloadctl: shutting_down: ' "$(cat "$T/queued.0.err")" \
    "SIGTERM: the queued reload-hsp is answered shutting_down"
assert_eq 1 "$(cat "$T/queued_drain.0.rc")" "SIGTERM: the queued drain exits 1"
assert_match '^hotreloadctl: shutting_down: ' "$(cat "$T/queued_drain.0.err")" \
    "SIGTERM: the queued drain is answered shutting_down"
run ctl -t 5 resume
assert_rc 1 "SIGTERM: a new state change exits 1"
assert_match '^hotreloadctl: shutting_down: ' "$ERR" "SIGTERM: a new state change gets shutting_down"
run ctl -t 5 -j status
assert_rc 0 "SIGTERM: status is still answered while the reload runs"
assert_fields "SIGTERM: status" "$OUT" \
    shutting_down true \
    queue.running.command reload-hsp
CHECKS=$((CHECKS + 1))
if process_running "$running"; then
	pass "SIGTERM: the running reload's client still waits for its result"
else
	fail "SIGTERM: the running reload's client still waits for its result" \
	    "it ended: $(cat "$T/running.out" "$T/running.err")"
fi
broker_signal CONT
wait "$running"
assert_eq 0 "$(cat "$T/running.rc")" "SIGTERM: the running reload-hsp ends with success (exit 0)"
assert_json generation $((gen + 1)) "SIGTERM: the running reload reports generation $((gen + 1))" \
    "$(cat "$T/running.out")"
assert_clean_exit SIGTERM 15
assert_log "shutdown complete" "SIGTERM: the log says the shutdown completed"

# The same when the running reload cannot finish (the broker stays
# stopped): it fails at hsp.connect_timeout_s and says so to its client,
# and the shutdown that follows is bounded by drain.timeout_s.
: >"$LOG"
write_config '"mode": "0660"' "\"ai_id\": \"$AI_ID\",
  \"drain\": {\"timeout_s\": 2},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $BROKER_PORT},
          \"connect_timeout_s\": 3}"
start_daemon
wait_hsp_connected
broker_signal STOP
( ctl -t 60 reload-hsp >"$T/doomed.out" 2>"$T/doomed.err"; echo $? >"$T/doomed.rc" ) &
doomed=$!
assert_eventually "SIGTERM, broker stopped for good: a reload-hsp runs" 10 \
    queue_state_is "reload-hsp 0 2"
t0=$(now_ms)
kill -TERM "$DAEMON_PID"
wait "$doomed"
assert_eq 1 "$(cat "$T/doomed.rc")" "SIGTERM, broker stopped for good: the reload-hsp exits 1"
assert_match '^hotreloadctl: reload_failed: .*hsp\.connect_timeout_s' "$(cat "$T/doomed.err")" \
    "SIGTERM, broker stopped for good: its client is told reload_failed at connect_timeout_s"
assert_clean_exit "SIGTERM, broker stopped for good" 20
broker_signal CONT

# --- state changes arriving together with SIGTERM ------------------------------

# A daemon without services stops on the turn that handles SIGTERM: what
# it answers on that turn must still reach the clients.  They connect
# first, then send while it is stopped, so that their requests and the
# signal are handled on the same turn.
write_config '"mode": "0660"'
for round in 1 2 3; do
	start_daemon
	pids=()
	for i in 0 1 2 3; do
		cmd=drain
		((i % 2)) && cmd=resume
		"$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" -t 10 sendraw '' \
		    print connected sleep 1 \
		    send "{\"v\":1,\"id\":$i,\"cmd\":\"$cmd\"}" print sent \
		    read 1 eof >"$T/together.$i" 2>&1 &
		pids+=($!)
	done
	wait_until 10 eval "[[ \$(cat $T/together.* | grep -c '^connected\$') == 4 ]]" ||
		fatal "round $round: the clients did not connect"
	wait_until 10 status_is clients.connected 5 ||
		fatal "round $round: the daemon did not accept the clients"
	kill -STOP "$DAEMON_PID"
	wait_until 10 eval "[[ \$(cat $T/together.* | grep -c '^sent\$') == 4 ]]" ||
		fatal "round $round: the clients did not send"
	kill -TERM "$DAEMON_PID"
	kill -CONT "$DAEMON_PID"
	wait "${pids[@]}"
	# Each client's third line is its reply, the fourth EOF.
	endings=$(for i in 0 1 2 3; do
		reply=$(sed -n 3p "$T/together.$i")
		if [[ $reply == "{\"v\":1,\"id\":$i,\"ok\":true,"* ]]; then
			printf 'done'
		elif [[ $reply == "{\"v\":1,\"id\":$i,\"ok\":false,"*'"code":"shutting_down"'* ]]; then
			printf 'shutting_down'
		else
			printf 'other'
		fi
		printf '+%s\n' "$(sed -n 4p "$T/together.$i")"
	done | sort | uniq -c | awk '{ print $2 "=" $1 }' | paste -sd' ')
	assert_match '^(done\+EOF=[1-4] ?)?(shutting_down\+EOF=[1-4])?$' "$endings" \
	    "round $round: 4 state changes with SIGTERM: each answered (done or shutting_down), then closed ($endings)"
	wait_exit "$DAEMON_PID" 10
	assert_eq 0 "$EXIT_STATUS" "round $round: the daemon exits 0"
done

test_done
