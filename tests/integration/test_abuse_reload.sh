#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_abuse_reload.sh -- reloads under abuse, with HSP on a private broker.
# 60 hotreloadctl reload-hsp at once: each ends with success or queue_full
# (exit 0 or 1), none hangs, the counts add up to 60 and the generation
# moves by the number of successes; again with the broker stopped so that
# one reload runs, control.queue_depth wait and the rest are refused,
# exactly, and each success reports its own generation.  A client killed
# (SIGKILL) while its reload-hsp runs: it leaves the client count at once,
# the reload runs to its end (status: generation, last_reload; the log has
# its outcome), the next command is served.  (SIGTERM in the middle of a
# reload is test_abuse_shutdown.)
#
# A reload is made to take a while by stopping the broker (SIGSTOP, with
# broker_signal): the new connector's TCP connection is accepted by the
# kernel, its CONNACK waits until the broker is continued (well within
# hsp.connect_timeout_s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"
trap hsp_cleanup_stopped_broker EXIT

N=60
DEPTH=8

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
outcomes=$(client_outcomes stalled "$N")
assert_match "(^| )queue_full=$((N - 1 - DEPTH))( |\$)" "$outcomes" \
    "broker stopped: the refused ones got queue_full"
CHECKS=$((CHECKS + 1))
if grep -q "control.queue_depth is $DEPTH" "$T"/stalled.*.err; then
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
	read -r rc <"$T/stalled.$i.rc"
	[[ $rc == 0 ]] || continue
	read -r line <"$T/stalled.$i.out"
	[[ $line =~ ^hsp:\ generation\ [0-9]+\ -\>\ ([0-9]+)\  ]] &&
		echo "${BASH_REMATCH[1]}"
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
{ kill -KILL "$victim"; wait "$victim"; } 2>/dev/null	# no "Killed" notice
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

test_done
