#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_abuse_reload.sh -- reloads under abuse, with HSP on a private broker.
# 60 hotreloadctl reload-hsp at once: each ends with success or queue_full
# (exit 0 or 1), none hangs, the counts add up to 60 and the generation
# moves by the number of successes; again with the broker stopped (SIGSTOP)
# so that one reload runs, control.queue_depth wait and the rest are
# refused, exactly.  A client killed (SIGKILL) while its reload-hsp runs:
# the reload runs to its end (status: generation, last_reload), the client
# count goes back, the next command is served.  SIGTERM while a reload-hsp
# runs: queued commands and new state changes get shutting_down, the
# running reload finishes and its client gets its result (success once the
# broker answers, reload_failed at hsp.connect_timeout_s if it never does),
# the daemon exits 0 and removes its socket.  State changes that reach the
# daemon together with SIGTERM (it is stopped meanwhile) each get their one
# final reply, done or shutting_down, before it exits: never just end of
# file.
#
# A reload is made to take a while by stopping the broker (SIGSTOP): the
# new connector's TCP connection is accepted by the kernel, its CONNACK
# waits until the broker is continued (well within hsp.connect_timeout_s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

N=60
DEPTH=8
BROKER_STOPPED=0

# Stop or continue the broker's process.
broker_signal() {
	kill "-$1" "$(cat "$BROKER_DIR/mosquitto.pid")" ||
		fatal "cannot send SIG$1 to the broker"
	if [[ $1 == STOP ]]; then BROKER_STOPPED=1; else BROKER_STOPPED=0; fi
}

# A stopped broker would hold up the EXIT trap: continue it first.
abuse_exit() {
	local status=$?
	((BROKER_STOPPED)) && kill -CONT "$(cat "$BROKER_DIR/mosquitto.pid")"
	(exit "$status")
	hsp_cleanup
}
trap abuse_exit EXIT

# Print "RUNNING PENDING CONNECTED" of a fresh status.
queue_state() {
	local json
	json=$(ctl -t 5 -j status) || return 1
	json_fields "$json" queue.running.command queue.pending \
	    clients.connected | paste -sd' '
}

# Succeeds when queue_state prints $1.
queue_state_is() {
	[[ $(queue_state) == "$1" ]]
}

# Start N hotreloadctl COMMAND in the background, each writing
# $T/$PREFIX.I.{out,err,rc}.
start_clients() {
	local prefix=$1 n=$2 i
	shift 2
	CLIENT_PIDS=()
	for ((i = 0; i < n; i++)); do
		(
			ctl "$@" >"$T/$prefix.$i.out" 2>"$T/$prefix.$i.err"
			echo $? >"$T/$prefix.$i.rc"
		) &
		CLIENT_PIDS+=($!)
	done
}

# How many of the N clients PREFIX have ended.
clients_done() {
	local prefix=$1 n=$2 i done=0
	for ((i = 0; i < n; i++)); do
		[[ -s $T/$prefix.$i.rc ]] && done=$((done + 1))
	done
	echo "$done"
}

# Sum up how the N clients PREFIX ended: "ok=K queue_full=M" (other
# endings as "exit-S:first words of stderr").
client_outcomes() {
	local prefix=$1 n=$2 i rc
	for ((i = 0; i < n; i++)); do
		rc=$(cat "$T/$prefix.$i.rc" 2>/dev/null)
		if [[ $rc == 0 ]]; then
			echo ok
		elif [[ $rc == 1 && $(cat "$T/$prefix.$i.err") == "hotreloadctl: queue_full: "* ]]; then
			echo queue_full
		else
			echo "exit-${rc:-none}:$(head -c 60 "$T/$prefix.$i.err" | tr ' \n' '_')"
		fi
	done | sort | uniq -c | awk '{ print $2 "=" $1 }' | paste -sd' '
}

# Count of OUTCOME (ok, queue_full) in an outcome summary.
outcome_count() {
	local re="(^| )$2=([0-9]+)"
	if [[ $1 =~ $re ]]; then echo "${BASH_REMATCH[2]}"; else echo 0; fi
}

broker_start
hsp_config '"connect_timeout_s": 60' \
    "\"queue_depth\": $DEPTH, \"max_clients\": 128"
start_daemon
wait_hsp_connected
gen=$(status_field services.hsp.generation)

# --- 60 at once, as they come ------------------------------------------------

start_clients burst "$N" reload-hsp
wait "${CLIENT_PIDS[@]}"
outcomes=$(client_outcomes burst "$N")
note "60 at once: $outcomes"
ok=$(outcome_count "$outcomes" ok)
full=$(outcome_count "$outcomes" queue_full)
assert_eq "$N" $((ok + full)) \
    "60 reload-hsp at once: each ends with success or queue_full ($outcomes)"
CHECKS=$((CHECKS + 1))
if ((ok >= 1)); then pass "60 at once: at least one succeeded ($ok)"
else fail "60 at once: at least one succeeded" "$outcomes"; fi
assert_eventually "60 at once: the queue is empty again" 20 \
    queue_state_is "<missing> 0 1"
status_json
assert_fields "60 at once: status" "$OUT" \
    services.hsp.generation $((gen + ok)) \
    services.hsp.connected true \
    services.hsp.last_reload.ok true
run ctl metrics
assert_line "hotreload_queue_rejected_total $full" "$OUT" \
    "60 at once: metrics count $full queue_full"
gen=$((gen + ok))
loadpeer -n 50 --requires-ack
assert_all_answered 50 "after 60 at once: echo"

# --- 60 at once while a reload cannot finish --------------------------------

broker_signal STOP
start_clients stalled "$N" reload-hsp
assert_eventually "broker stopped: one reload-hsp runs, $DEPTH wait, $((N - 1 - DEPTH)) refused" \
    20 eval "[[ \$(clients_done stalled $N) == $((N - 1 - DEPTH)) ]] &&
        queue_state_is 'reload-hsp $DEPTH $((DEPTH + 2))'"
assert_eq "queue_full=$((N - 1 - DEPTH))" "$(client_outcomes stalled "$N" | tr ' ' '\n' | grep queue_full)" \
    "broker stopped: the refused ones got queue_full"
CHECKS=$((CHECKS + 1))
if grep -q 'control.queue_depth is 8' "$T"/stalled.*.err; then
	pass "broker stopped: queue_full names control.queue_depth"
else
	fail "broker stopped: queue_full names control.queue_depth" \
	    "$(cat "$T"/stalled.*.err | sort | uniq -c)"
fi
broker_signal CONT
wait "${CLIENT_PIDS[@]}"
assert_eq "ok=$((DEPTH + 1)) queue_full=$((N - 1 - DEPTH))" \
    "$(client_outcomes stalled "$N")" \
    "broker continued: $((DEPTH + 1)) succeeded, $((N - 1 - DEPTH)) got queue_full, none hung"
status_json
assert_fields "broker continued: status" "$OUT" \
    services.hsp.generation $((gen + DEPTH + 1)) \
    services.hsp.connected true \
    queue.running null \
    queue.pending 0
gen=$((gen + DEPTH + 1))
# Each success reported its own generation, one after the other.
gens=$(for ((i = 0; i < N; i++)); do
	[[ $(cat "$T/stalled.$i.rc") == 0 ]] &&
		sed -n 's/^hsp: generation [0-9]* -> \([0-9]*\) .*/\1/p' "$T/stalled.$i.out"
done | sort -n | paste -sd' ')
assert_eq "$(seq $((gen - DEPTH)) "$gen" | paste -sd' ')" "$gens" \
    "broker continued: the successes report generations $((gen - DEPTH)) to $gen, once each"
loadpeer -n 50 --requires-ack
assert_all_answered 50 "after the stalled burst: echo"

# --- a client killed while its reload runs -------------------------------------

broker_signal STOP
start_helper "$HOTRELOADCTL" -s "$SOCKET" reload-hsp
victim=$HELPER_PID
assert_eventually "broker stopped: the victim's reload-hsp runs" 10 \
    queue_state_is "reload-hsp 0 2"
kill -KILL "$victim"
wait "$victim" 2>/dev/null
forget_pid "$victim"
assert_eventually "the killed client is gone from the client count" 10 \
    queue_state_is "reload-hsp 0 1"
assert_log "client uid 0 pid $victim went away; reload-hsp goes on" \
    "the log says the client went away and its reload goes on"
broker_signal CONT
assert_eventually "the orphaned reload-hsp runs to its end" 20 \
    status_is services.hsp.generation $((gen + 1))
status_json
assert_fields "after the orphaned reload: status" "$OUT" \
    services.hsp.connected true \
    services.hsp.last_reload.ok true \
    queue.running null \
    clients.connected 1
assert_log "reload-hsp from uid 0 pid $victim: done in" \
    "the log has the outcome of the orphaned reload"
gen=$((gen + 1))
run ctl -j reload-hsp
assert_rc 0 "the next reload-hsp is served"
assert_json generation $((gen + 1)) "the next reload-hsp: generation $((gen + 1))"
gen=$((gen + 1))
loadpeer -n 50 --requires-ack
assert_all_answered 50 "after the killed client: echo"

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
stop_pid=$DAEMON_PID
CHECKS=$((CHECKS + 1))
if wait_exit "$stop_pid" 15; then
	pass "SIGTERM: the daemon exits within 15 s ($(($(now_ms) - t0)) ms)"
	assert_eq 0 "$EXIT_STATUS" "SIGTERM: exit status 0"
else
	fail "SIGTERM: the daemon exits within 15 s"
fi
CHECKS=$((CHECKS + 1))
if [[ -e $SOCKET ]]; then
	fail "SIGTERM: the socket is removed" "$(ls -l "$SOCKET")"
else
	pass "SIGTERM: the socket is removed"
fi
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
stop_pid=$DAEMON_PID
CHECKS=$((CHECKS + 1))
if wait_exit "$stop_pid" 20; then
	pass "SIGTERM, broker stopped for good: the daemon exits within 20 s ($(($(now_ms) - t0)) ms)"
	assert_eq 0 "$EXIT_STATUS" "SIGTERM, broker stopped for good: exit status 0"
else
	fail "SIGTERM, broker stopped for good: the daemon exits within 20 s"
fi
CHECKS=$((CHECKS + 1))
if [[ -e $SOCKET ]]; then
	fail "SIGTERM, broker stopped for good: the socket is removed" "$(ls -l "$SOCKET")"
else
	pass "SIGTERM, broker stopped for good: the socket is removed"
fi
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
	wait_until 10 eval "[[ \$(ctl -j status | $PYTHON -E -S $JGET clients.connected) == 5 ]]" ||
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
